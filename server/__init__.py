"""mcp-memory: a long-term semantic memory server for AI clients, over MCP."""

__version__ = "0.1.0"
