"""Bounds on what one HTTP client can hold: a connection that has not sent a whole request head within
HEADER_TIMEOUT seconds is closed (slowloris), the number of connections and requests in flight is capped,
and the process may open as many files as its hard limit allows.

uvicorn has a keep-alive timeout but none for the first request's headers: a client sending a header a
byte at a time held a connection forever, and 1,500 of them exhausted the open-file limit before any
authentication could refuse them.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT = 10.0  # seconds for a whole request head, from connect or from the previous response
LIMIT_CONCURRENCY = 4096  # connections or requests at once before new requests get 503 (uvicorn's rule)


class GuardedH11Protocol(H11Protocol):
    header_timeout = HEADER_TIMEOUT

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer: asyncio.TimerHandle | None = None
        self._waiting_for: Any = object()  # the request cycle whose head we wait for (none yet)
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._waiting_for = self.cycle
        self._head_timer = self.loop.call_later(self.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if getattr(self, "_head_timer", None) is not None:
            self._head_timer.cancel()  # type: ignore[union-attr]
            self._head_timer = None

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not self._waiting_for:  # a whole request head arrived
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request on this connection gets the same bound

    def _too_slow(self) -> None:
        self._head_timer = None
        if self.cycle is self._waiting_for and not self.transport.is_closing():
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def raise_open_file_limit() -> None:
    """Use the hard limit on open files (often 1024 soft, far higher hard): more room before refusal."""
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or hard > soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536) if hard != resource.RLIM_INFINITY
                                                        else 65536, hard))
