"""Serving over HTTP: the port held before the server says so, uvicorn with our protocol bounds, and Ctrl-C as a
person expects it: the first stops once open requests finish, a second stops without waiting for them, and
either way the storage is closed and the process ends with `Server stopped.` and exit 0 (docs/operations.md).

uvicorn's own handling forces the exit on the second Ctrl-C by skipping the application's shutdown, then raises
the captured signal again after serving; under asyncio that became a KeyboardInterrupt inside the event loop and
a 36-line traceback of the cancelled lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any, Literal

import uvicorn

from server.errors import PortInUseError
from server.settings import Settings

logger = logging.getLogger("server")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
DROP_WAIT_TICKS = 40  # 2 s for dropped requests to end


class EarlyStop:
    """Ctrl-C before uvicorn is serving (while the app is built and the storage opens): remembered, and the
    server stops cleanly as soon as it is up; a second one ends the process at once, exit 130 (nothing is served
    yet, and SQLite rolls back whatever the opening had begun; a KeyboardInterrupt at a random point of start-up
    printed tracebacks and never-awaited warnings instead)."""

    def __init__(self) -> None:
        self.requested = False
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._handle)

    def _handle(self, sig: int, frame: FrameType | None) -> None:
        if self.requested:
            _say("Stopped before the server started.")
            os._exit(130)
        self.requested = True
        _say("Stopping as soon as the server has started (Ctrl-C again stops at once).")

    def done(self) -> None:
        """The server has stopped: a late Ctrl-C while the process exits changes nothing."""
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)


class StoppableServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, early: EarlyStop) -> None:
        super().__init__(config)
        self.early = early

    async def on_tick(self, counter: int) -> bool:
        if self.early.requested:  # asked for before the server was up: the first tick stops it
            self.should_exit = True
        return await super().on_tick(counter)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.should_exit:
            self.should_exit = True
            if self.server_state.connections:
                _say("Stopping once open requests finish (Ctrl-C again stops without waiting).")
        elif not self.force_exit:
            self.force_exit = True
            _say("Stopping without waiting for open requests.")

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The handlers are put back afterwards, and the signal is not raised again: the stop was handled.
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    async def shutdown(self, sockets: list[Any] | None = None) -> None:
        await super().shutdown(sockets)
        if self.force_exit:
            await self._drop_open_requests()
            await self.lifespan.shutdown()  # uvicorn skips it when forced; the storage must still close

    async def _drop_open_requests(self) -> None:
        """Close the connections still open, so their requests end as a client disconnect (not a cancelled
        task, which uvicorn logs as a 500 with a traceback), and give them a moment to finish."""
        for connection in list(self.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()
        for _ in range(DROP_WAIT_TICKS):
            if not self.server_state.tasks:
                return
            await asyncio.sleep(0.05)


def _say(line: str) -> None:
    os.write(2, f"{line}\n".encode())  # in a signal handler: no lock that the interrupted code may hold


def serve_http(settings: Settings) -> int:
    """Serve MCP at /mcp, the dashboard at / and /health, until Ctrl-C or SIGTERM (exit 0)."""
    early = EarlyStop()  # from here on, Ctrl-C stops cleanly

    from server.app import build_server
    from server.http import build_http_app, check_exposure

    check_exposure(settings.http_host, settings.api_key)
    sock = bind_port(settings.http_host, settings.http_port)  # before "Serving": a busy port is one line
    server, state = build_server(settings)
    app = build_http_app(server, state)
    logger.info("Serving MCP at %s/mcp (health: /health); Ctrl-C stops", base_url(settings.http_host,
                                                                                sock.getsockname()[1]))
    StoppableServer(uvicorn_config(app, settings, lifespan="on"), early).run(sockets=[sock])
    early.done()
    print("Server stopped.", file=sys.stderr, flush=True)  # a requested stop: exit 0
    return 0


def uvicorn_config(app: Any, settings: Settings, lifespan: Literal["on", "off"], graceful: int | None = None) -> uvicorn.Config:
    """uvicorn with our protocol bounds and logging (the standalone server's, and the shared daemon's)."""
    from server.http import RedactQuery
    from server.slow_clients import LIMIT_CONCURRENCY, GuardedH11Protocol, OncePerMinute, raise_open_file_limit

    logging.getLogger("uvicorn.access").addFilter(RedactQuery())
    for name in ("asyncio", "uvicorn.error"):  # a flood of refused connections must not fill the log
        logging.getLogger(name).addFilter(OncePerMinute())
    GuardedH11Protocol.max_connections = raise_open_file_limit()
    GuardedH11Protocol.header_timeout = settings.http_header_timeout
    # log_config=None: uvicorn's own configuration sends its access log to stdout; ours sends every log to stderr.
    return uvicorn.Config(app, host=settings.http_host, port=settings.http_port, http=GuardedH11Protocol,
                          limit_concurrency=LIMIT_CONCURRENCY, timeout_keep_alive=5, log_config=None,
                          log_level=settings.log_level.lower(), lifespan=lifespan, timeout_graceful_shutdown=graceful)


def base_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def bind_port(host: str, port: int) -> socket.socket:
    """The listening socket, held before the server announces itself."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, not 0: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say TCP, and with
    # Nagle on, every request after the first on a kept-alive connection waited 40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    if os.name != "nt":  # lets a restart reuse a port in TIME_WAIT; Windows' flag means something riskier
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(f"port {port} on {host} is already in use (another program, or another "
                                 "mcp-memory server); choose another with --port or MCP_HTTP_PORT") from exc
        raise PortInUseError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock
