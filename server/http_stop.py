"""Ctrl-C on the HTTP server as a person expects it: the first stops once open requests finish, a second stops
without waiting for them, and either way the storage is closed and the process ends with `Server stopped.` and
exit 0 (README, "HTTP server").

uvicorn's own handling forces the exit on the second Ctrl-C by skipping the application's shutdown, then raises
the captured signal again after serving; under asyncio that became a KeyboardInterrupt inside the event loop and
a 36-line traceback of the cancelled lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

import uvicorn

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
