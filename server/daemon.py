"""The memory daemon: one process per user and settings that every client's shim (server/shim.py) talks to,
over a Unix socket in the user's private runtime folder (0700; the socket itself 0600). It opens the store
and loads the model once, for every client: each connection is one MCP session, all sharing one lifespan.

A connection starts with the shim's version; a shim of another version, or one that asks, makes the daemon
stop: it stops accepting, lets the sessions in flight finish, and removes its socket. With no session for
MCP_MEMORY_DAEMON_IDLE seconds (default 600) it stops too, closing the store the way a server does (for
hybrid, the outbox stays in the file and the next process sends it).

With MCP_HTTP_ENABLED=true it also serves HTTP at MCP_HTTP_HOST:MCP_HTTP_PORT (the dashboard, /mcp for URL
clients, /health) from the same lifespan: one store, one model, one sync worker for every client. A port
that is taken, or a bind the HTTP rules refuse, is said in the log and the daemon serves its socket alone.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import logging
import os
import secrets
import time
from pathlib import Path
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from typing import Any

import anyio
import anyio.abc
from anyio.abc import SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream

from server import __version__
from server.settings import Settings

logger = logging.getLogger(__name__)

DEFAULT_IDLE = 600.0
HANDSHAKE_SECONDS = 10.0  # a connection must say who it is within this
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
    web = Web.build(server, state, sessions) if settings.http_enabled else None
    async with _one_lifespan(server, web) as lifespan_state:
        path.unlink(missing_ok=True)  # the shim that started us holds the lock: a file here is stale
        listener, secret = await _listen(path)
        logger.info("Memory daemon %s serving at %s (idle stop after %.0f s)", __version__, path, idle)

        async def session(stream: SocketStream) -> None:
            reader = BufferedByteReceiveStream(stream)
            try:
                with anyio.fail_after(HANDSHAKE_SECONDS):  # a connection that says nothing is not kept open
                    if secret is not None and not _knows(json.loads(await reader.receive_until(b"\n", 4096)), secret):
                        raise PermissionError("a loopback connection without this user's secret")
                    hello = json.loads(await reader.receive_until(b"\n", 65536))
                    if not isinstance(hello, dict):
                        raise ValueError("a handshake that is not a JSON object")
                    await stream.send(json.dumps({"mcp-memory-daemon": __version__, "http": web and web.url}).encode()
                                      + b"\n")
            except Exception:  # noqa: BLE001 - not a shim of this user, or one gone already: nothing to talk about
                await stream.aclose()
                return
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
            if hello.get("hook"):  # a client's hook: one request, one answer
                with sessions:
                    await _hook(reader, stream, state)
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
            if web is not None:
                tasks.start_soon(web.serve)
            while not stopping.is_set():
                with anyio.move_on_after(1.0):
                    await stopping.wait()
                if sessions.idle_for() >= idle:
                    logger.info("No client for %.0f s: the daemon stops", idle)
                    break
            accepting.cancel()  # no new sessions; those in flight finish
            path.unlink(missing_ok=True)
            if web is not None:
                web.stop()
        await _flush(state.storage)
    logger.info("Memory daemon stopped")


async def _listen(path: Path) -> tuple[Any, str | None]:
    """The listener at `path`: a Unix socket (0600, in the 0700 folder), or for a `.tcp` path a loopback port
    written with a new secret to that file (0600, replaced atomically); the secret, or None."""
    if path.suffix != ".tcp":
        unix = await anyio.create_unix_listener(path)
        os.chmod(path, 0o600)
        return unix, None
    tcp = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = tcp.listeners[0].extra(anyio.abc.SocketAttribute.local_port)
    secret = secrets.token_hex(32)
    partial = path.with_suffix(".tcp-new")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump({"port": port, "secret": secret, "pid": os.getpid()}, out)
    os.replace(partial, path)
    return tcp, secret


def _knows(said: Any, secret: str) -> bool:
    return isinstance(said, dict) and hmac.compare_digest(str(said.get("secret", "")).encode(), secret.encode())


async def _hook(reader: BufferedByteReceiveStream, stream: SocketStream, state: Any) -> None:
    """Answer one hook request (server/hooks/events.py) with the daemon's open service; a failure is answered
    with its reason, which the hook logs."""
    from server.hooks.events import handle

    try:
        with anyio.fail_after(HANDSHAKE_SECONDS):
            request = json.loads(await reader.receive_until(b"\n", LINE_LIMIT))
        # A session starting while the model still loads (the hook started this daemon) is not kept waiting
        # for it: its digest comes from the session records and the project's memories alone.
        model = request.get("event") != "start" or _model_ready(state.storage)
        answer = await anyio.to_thread.run_sync(handle, state.service(), state.settings, request, model)
    except Exception as exc:  # noqa: BLE001 - the hook says it and exits 0: the client is never disturbed
        logger.warning("A hook request failed: %s", exc)
        answer = {"error": f"{type(exc).__name__}: {exc}"}
    try:
        await stream.send(json.dumps(answer).encode() + b"\n")
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, ConnectionError):
        pass  # the hook gave up waiting
    finally:
        await stream.aclose()


def _model_ready(storage: Any) -> bool:
    """Whether the local embedding model is loaded (a cloud backend's model is always there)."""
    embedder = getattr(storage, "embedder", None) or getattr(getattr(storage, "local", None), "embedder", None)
    return bool(getattr(embedder, "ready", True))


@asynccontextmanager
async def _one_lifespan(server: Any, web: Web | None) -> AsyncIterator[Any]:
    """The server's lifespan, entered once. With HTTP, the SDK's session manager enters it (as it does in the
    HTTP server) and the socket's sessions share what it holds."""
    lowlevel = server._lowlevel_server  # noqa: SLF001
    if web is None:
        async with lowlevel.lifespan(lowlevel) as lifespan_state:
            yield lifespan_state
        return
    manager = server.session_manager
    async with manager.run():
        yield manager._lifespan_state  # noqa: SLF001 - the state its lifespan returned, for our sessions too


class Web:
    """The daemon's HTTP server: uvicorn on a port held before the daemon says it is up."""

    def __init__(self, app: Any, sock: Any, settings: Settings) -> None:
        import uvicorn

        from server.http_server import base_url, uvicorn_config

        class Quiet(uvicorn.Server):
            def capture_signals(self) -> Any:  # the daemon's signals are its own, not uvicorn's
                return nullcontext()

        self.sock = sock
        self.url = base_url(settings.http_host, sock.getsockname()[1])
        self.server = Quiet(uvicorn_config(app, settings, lifespan="off", graceful=5))

    @classmethod
    def build(cls, server: Any, state: Any, sessions: Sessions) -> Web | None:
        from server.errors import MemoryServerError
        from server.http import build_http_app, check_exposure
        from server.http_server import bind_port

        settings = state.settings
        try:
            check_exposure(settings.http_host, settings.api_key)
            sock = bind_port(settings.http_host, settings.http_port)
        except MemoryServerError as exc:
            logger.warning("No HTTP server in the daemon: %s", exc)
            return None
        # The port bound (MCP_HTTP_PORT=0 takes a free one, said in the handshake): the Host checks need it.
        settings = state.settings = dataclasses.replace(settings, http_port=sock.getsockname()[1])
        web = cls(_counted(build_http_app(server, state), sessions), sock, settings)
        logger.info("Serving the dashboard at %s/ and MCP at %s/mcp", web.url, web.url)
        return web

    async def serve(self) -> None:
        await self.server.serve(sockets=[self.sock])

    def stop(self) -> None:
        self.server.should_exit = True


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


def _counted(app: Any, sessions: Sessions) -> Any:
    """Each HTTP request is a session while it runs: the dashboard in use keeps the daemon up."""

    async def counted(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        with sessions:
            await app(scope, receive, send)

    return counted


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
