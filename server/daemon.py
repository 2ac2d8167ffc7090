"""The memory daemon: one process per user and settings that every client's shim (server/shim.py) talks to,
over a Unix socket in the user's private runtime folder (0700; the socket itself 0600). It opens the store
and loads the model once, for every client: each connection is one MCP session, all sharing one lifespan.

A connection starts with the shim's version; a shim of another version, or one that asks, makes the daemon
stop: it stops accepting, lets the sessions in flight finish, and removes its socket. With no session for
MCP_MEMORY_DAEMON_IDLE seconds (default 600) it stops too, closing the store the way a server does (for
hybrid, the outbox stays in the file and the next process sends it).
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream

from server import __version__
from server.settings import Settings

logger = logging.getLogger(__name__)

DEFAULT_IDLE = 600.0
FLUSH_SECONDS = 30.0  # at most this long sending the outbox before a hybrid daemon stops
LINE_LIMIT = 64 * 1024 * 1024


def idle_seconds(environ: Any = os.environ) -> float:
    try:
        return max(1.0, float(environ.get("MCP_MEMORY_DAEMON_IDLE", DEFAULT_IDLE)))
    except ValueError:
        return DEFAULT_IDLE


def serve_daemon(settings: Settings, path: Path, idle: float) -> int:
    anyio.run(_serve, settings, path, idle)
    return 0


async def _serve(settings: Settings, path: Path, idle: float) -> None:
    from mcp.server.runner import serve_dual_era_loop

    from server.app import build_server
    from server.stdio import serve_lines

    server, state = build_server(settings)
    lowlevel = server._lowlevel_server  # noqa: SLF001 - the lifespan entered once for every session
    sessions = Sessions()
    async with lowlevel.lifespan(lowlevel) as lifespan_state:
        path.unlink(missing_ok=True)  # the shim that started us holds the lock: a file here is stale
        listener = await anyio.create_unix_listener(path)
        os.chmod(path, 0o600)
        logger.info("Memory daemon %s serving at %s (idle stop after %.0f s)", __version__, path, idle)

        async def session(stream: SocketStream) -> None:
            reader = BufferedByteReceiveStream(stream)
            try:
                hello = json.loads(await reader.receive_until(b"\n", 65536))
            except Exception:  # noqa: BLE001 - not a shim: nothing to talk about
                await stream.aclose()
                return
            await stream.send(json.dumps({"mcp-memory-daemon": __version__}).encode() + b"\n")
            if hello.get("probe"):  # `install.py doctor` asking who is there
                await stream.aclose()
                return
            if hello.get("stop"):  # a newer shim replacing this daemon, or `install.py --uninstall`
                logger.info("A shim of version %s asked this daemon (%s) to stop", hello.get("mcp-memory-shim"),
                            __version__)
                await stream.aclose()
                stopping.set()
                return
            if hello.get("mcp-memory-shim") != __version__:  # an older shim: it serves its client itself
                await stream.aclose()
                return
            with sessions:
                async def write(data: bytes) -> None:
                    await stream.send(data)

                try:
                    await serve_lines(lowlevel, _lines(reader), write,
                                      run=lambda read, out, options: serve_dual_era_loop(
                                          lowlevel, read, out, lifespan_state=lifespan_state, init_options=options))
                except (anyio.BrokenResourceError, anyio.ClosedResourceError, ConnectionError):
                    pass  # the client went away mid-answer
                finally:
                    await stream.aclose()

        stopping = anyio.Event()
        async with anyio.create_task_group() as tasks:
            accepting = anyio.CancelScope()

            async def accept() -> None:
                with accepting:
                    async with listener:
                        await listener.serve(session, task_group=tasks)

            tasks.start_soon(accept)
            while not stopping.is_set():
                with anyio.move_on_after(1.0):
                    await stopping.wait()
                if sessions.idle_for() >= idle:
                    logger.info("No client for %.0f s: the daemon stops", idle)
                    break
            accepting.cancel()  # no new sessions; those in flight finish
            path.unlink(missing_ok=True)
        await _flush(state.storage)
        logger.info("Memory daemon stopped")


async def _flush(storage: Any) -> None:
    """Before a hybrid daemon stops: send what waits for the cloud (bounded; what is left stays queued in the
    file and the next process sends it)."""
    from server.storage.base import Syncing

    if not isinstance(storage, Syncing):
        return
    with anyio.move_on_after(FLUSH_SECONDS):
        try:
            report = await anyio.to_thread.run_sync(storage.force_sync, abandon_on_cancel=True)
            logger.info("Sent to the cloud before stopping: %s", report.counts())
        except Exception as exc:  # noqa: BLE001 - the outbox keeps it: said, not raised
            logger.warning("Could not send the outbox before stopping (%s); the next process sends it", exc)


class Sessions:
    """How many sessions are open, and since when none is."""

    def __init__(self) -> None:
        self.open, self.since = 0, time.monotonic()

    def __enter__(self) -> None:
        self.open += 1

    def __exit__(self, *_: object) -> None:
        self.open -= 1
        self.since = time.monotonic()

    def idle_for(self) -> float:
        return 0.0 if self.open else time.monotonic() - self.since


async def _lines(reader: BufferedByteReceiveStream) -> Any:
    while True:
        try:
            line = await reader.receive_until(b"\n", LINE_LIMIT)
        except (anyio.IncompleteRead, anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            return
        except anyio.DelimiterNotFound:
            yield ValueError(f"line longer than {LINE_LIMIT} bytes")
            return
        if line.strip():
            yield line + b"\n"
