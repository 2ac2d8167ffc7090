"""The stdio transport, with an answer for every line: a line the SDK cannot read (truncated, not JSON,
nested beyond its limits, a lone surrogate) gets a JSON-RPC parse error (-32700, id null) instead of
silence, so a client does not wait out its timeout. Everything else is the SDK's own stdio transport.
"""

from __future__ import annotations

from typing import Any

import anyio
import mcp_types as types
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage


async def serve_stdio(server: Any) -> None:
    lowlevel = server._lowlevel_server  # noqa: SLF001 - mcp 2.x: MCPServer.run_stdio_async does the same
    async with stdio_server() as (read_stream, write_stream):
        readable, readable_out = anyio.create_memory_object_stream[Any](16)

        async def pump() -> None:
            async with readable:
                async for item in read_stream:
                    if isinstance(item, Exception):
                        await write_stream.send(parse_error(item))
                    else:
                        await readable.send(item)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(pump)
            await lowlevel.run(readable_out, write_stream, lowlevel.create_initialization_options())
            tasks.cancel_scope.cancel()


def parse_error(exc: Exception) -> SessionMessage:
    errors = exc.errors() if callable(getattr(exc, "errors", None)) else []  # pydantic: say what, not where
    first = errors[0].get("msg") if errors and isinstance(errors[0], dict) else None
    reason = (first or str(exc).splitlines()[0] if str(exc) else type(exc).__name__)[:200]
    error = types.JSONRPCError(jsonrpc="2.0", id=None,
                               error=types.ErrorData(code=types.PARSE_ERROR, message=f"Parse error: {reason}"))
    return SessionMessage(error)
