"""The stdio transport, with an answer for every line: a line the SDK cannot read (truncated, not JSON,
nested beyond its limits, a lone surrogate, longer than LINE_LIMIT) gets a JSON-RPC parse error (-32700,
id null) instead of silence, so a client does not wait out its timeout.

When stdin and stdout are pipes or sockets (as every MCP client spawns us), the lines are read and written
on the event loop itself. The SDK's own transport, used otherwise (a terminal, a file), reads and writes
each line in a worker thread: three thread hops per request, which cost 1-3 ms of a 10 ms search on a busy
2-core machine. Either way fd 0 and fd 1 are diverted while serving (to /dev/null and to stderr), so
stray reads and prints by libraries or children never touch the wire.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import mcp_types as types
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage

logger = logging.getLogger(__name__)

LINE_LIMIT = 64 * 1024 * 1024  # a longer line is refused with a parse error (the content limit is 200k chars)

Lines = AsyncIterator[bytes | Exception]
Write = Callable[[bytes], Awaitable[None]]


async def serve_stdio(server: Any) -> None:
    lowlevel = server._lowlevel_server  # noqa: SLF001 - mcp 2.x: MCPServer.run_stdio_async does the same
    if not _both_pipes():
        await _serve_with_sdk_transport(lowlevel)
        return
    async with _pipe_wire() as (lines, write):
        await serve_lines(lowlevel, lines, write)


async def serve_lines(lowlevel: Any, lines: Lines, write: Write, run: Any = None) -> None:
    """One MCP session over a line-delimited JSON-RPC wire (stdin/stdout, or a daemon's socket connection).
    `run(read, write, options)` serves it (default: the server's own run, which enters its lifespan)."""
    run = run or lowlevel.run
    incoming, incoming_out = anyio.create_memory_object_stream[Any](16)
    outgoing, outgoing_out = anyio.create_memory_object_stream[SessionMessage](16)
    errors_out = outgoing.clone()  # the reader's own handle, for parse errors

    async def read() -> None:
        async with incoming, errors_out:
            async for line in lines:
                try:
                    if isinstance(line, Exception):
                        raise line
                    text = line.decode("utf-8", errors="replace")  # as the SDK reads it
                    message = types.jsonrpc_message_adapter.validate_json(text, by_name=False)
                except Exception as exc:  # noqa: BLE001 - any unreadable line gets its parse error
                    await errors_out.send(parse_error(exc, line if isinstance(line, bytes) else None))
                    continue
                await incoming.send(SessionMessage(message))

    async def send() -> None:  # ends once every handle on `outgoing` is closed and all is written
        async with outgoing_out:
            try:
                async for message in outgoing_out:
                    data = message.message.model_dump_json(by_alias=True, exclude_unset=True).encode()
                    await write(data + b"\n")
            except ConnectionError:  # the client closed its end: nobody is left to answer
                logger.info("The client closed the pipe it reads answers from; stopping")
                tasks.cancel_scope.cancel()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(send)
        async with anyio.create_task_group() as reading:
            reading.start_soon(read)
            async with outgoing:
                await run(incoming_out, outgoing, lowlevel.create_initialization_options())
            reading.cancel_scope.cancel()


def _both_pipes() -> bool:
    """Pipes and sockets only: a terminal shares its non-blocking flag with the shell that started us."""
    if sys.platform == "win32":
        return False
    try:
        return all(stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) for mode in (os.fstat(0).st_mode, os.fstat(1).st_mode))
    except OSError:
        return False


@asynccontextmanager
async def _pipe_wire() -> AsyncIterator[tuple[Lines, Write]]:
    """The wire's lines and a writer for it, on private copies of fd 0 and fd 1."""
    loop = asyncio.get_running_loop()
    saved = {fd: os.dup(fd) for fd in (0, 1)}  # put back on the way out
    wire_in, wire_out = os.dup(0), os.dup(1)  # owned, and closed, by the transports
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(2, 1)
    os.close(null)
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    read_side, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                                open(wire_in, "rb", buffering=0))
    write_side, protocol = await loop.connect_write_pipe(lambda: asyncio.StreamReaderProtocol(
        asyncio.StreamReader()), open(wire_out, "wb", buffering=0))
    write_side.set_write_buffer_limits(high=0)  # drain() returns once all is in the pipe, as a flush does
    writer = asyncio.StreamWriter(write_side, protocol, None, loop)

    async def write(data: bytes) -> None:
        writer.write(data)
        await writer.drain()

    try:
        yield _lines(reader), write
    finally:
        read_side.close()
        write_side.close()  # nothing is left unwritten: every write waited for its drain
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)


async def _lines(reader: asyncio.StreamReader) -> Lines:
    while True:
        try:
            line = await reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as end:  # the client closed the pipe
            if end.partial.strip():
                yield end.partial
            return
        except asyncio.LimitOverrunError:
            await _skip_line(reader)
            yield ValueError(f"line longer than {LINE_LIMIT} bytes")
            continue
        if line.strip():
            yield line


async def _skip_line(reader: asyncio.StreamReader) -> None:
    while True:
        try:
            await reader.readuntil(b"\n")
            return
        except asyncio.LimitOverrunError as over:
            await reader.readexactly(over.consumed)
        except asyncio.IncompleteReadError:
            return


async def _serve_with_sdk_transport(lowlevel: Any) -> None:
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


def parse_error(exc: Exception, line: bytes | None = None) -> SessionMessage:
    """The answer to a line that is no message: -32700 when it is not JSON, -32600 when it is JSON but not a
    JSON-RPC request (with the request's id when it has a usable one), as JSON-RPC 2.0 says."""
    listed = getattr(exc, "errors", None)
    errors = listed() if callable(listed) else []  # pydantic: say what, not where
    first = errors[0].get("msg") if errors and isinstance(errors[0], dict) else None
    reason = (first or str(exc).splitlines()[0] if str(exc) else type(exc).__name__)[:200]
    valid_json = bool(errors) and all(isinstance(e, dict) and e.get("type") != "json_invalid" for e in errors)
    if not valid_json:
        error = types.ErrorData(code=types.PARSE_ERROR, message=f"Parse error: {reason}")
        return SessionMessage(types.JSONRPCError(jsonrpc="2.0", id=None, error=error))
    error = types.ErrorData(code=types.INVALID_REQUEST, message=f"Invalid request: {reason}")
    return SessionMessage(types.JSONRPCError(jsonrpc="2.0", id=_request_id(line), error=error))


def _request_id(line: bytes | None) -> str | int | None:
    if line is None:
        return None
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        return None
    found = value.get("id") if isinstance(value, dict) else None
    return found if isinstance(found, str) or (isinstance(found, int) and not isinstance(found, bool)) else None
