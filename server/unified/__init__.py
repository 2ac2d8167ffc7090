"""The unified tool profile (MCP_MEMORY_TOOL_PROFILE=unified): mcp-memory-service 12.4.0's tool names,
parameters and answer shapes over the same MemoryService as the classic tools. memory_tools: memory_*;
mistake_tools and mistakes: mistake_note_*; schemas: their structured answers."""
