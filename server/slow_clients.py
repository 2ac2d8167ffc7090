"""Bounds on what one HTTP client can hold.

- A connection that has not sent a whole request head within HEADER_TIMEOUT seconds (from connect, or from the
  previous response), or then its whole body within the same time, is closed (slowloris, slow bodies).
- Connections are capped below the open-file limit. At the cap a new connection does not wait for a free place
  and is not refused: the connection that has waited longest for its own request is closed instead, so a
  client that sends its request at once (a /health probe, a real client) is served through a flood of slow ones.
- The process may open as many files as its hard limit allows, and the same log line does not repeat more than
  once a minute (a flood of refused connections once filled the log at over 100 MB a minute).

uvicorn has a keep-alive timeout but none for the first request's head or a body: a client sending a byte at a
time held a connection forever, and 1,500 of them exhausted the open-file limit before any authentication could
refuse them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT = 10.0  # seconds for a whole request head, and then for its body
LIMIT_CONCURRENCY = 4096  # requests at once before new requests get 503 (uvicorn's rule)
FILES_IN_RESERVE = 64  # open files kept free for the database, the model and the log when connections are capped


class GuardedH11Protocol(H11Protocol):
    header_timeout = HEADER_TIMEOUT
    max_connections = LIMIT_CONCURRENCY
    # Connections still waiting for their request's head or body, oldest first: the ones closed at the cap.
    _waiting: OrderedDict[GuardedH11Protocol, None] = OrderedDict()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline: asyncio.TimerHandle | None = None
        self._head_of: Any = object()  # the request cycle whose successor's head we wait for (none yet)
        self._body_pending = False
        if len(self.connections) > self.max_connections:
            self._make_room()
        self._arm()

    def _make_room(self) -> None:
        oldest = next((c for c in self._waiting if c is not self), None)
        (oldest or self).transport.close()

    def _arm(self) -> None:
        """Wait for the next request's head (within the bound), from now."""
        self._disarm()
        self._head_of, self._body_pending = self.cycle, False
        self._deadline = self.loop.call_later(self.header_timeout, self._too_slow)
        self._waiting[self] = None

    def _disarm(self) -> None:
        if getattr(self, "_deadline", None) is not None:
            self._deadline.cancel()  # type: ignore[union-attr]
            self._deadline = None
        self._waiting.pop(self, None)

    def handle_events(self) -> None:
        super().handle_events()
        if self._deadline is None or self.cycle is self._head_of:
            return  # not waiting for anything, or still no whole head
        if self.cycle is not None and self.cycle.more_body:
            if not self._body_pending:  # the head came: the same bound again, for the body
                self._body_pending = True
                self._deadline.cancel()
                self._deadline = self.loop.call_later(self.header_timeout, self._too_slow)
            return
        self._disarm()  # head and body are in: the request is the application's now

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request on this connection gets the same bounds

    def _too_slow(self) -> None:
        self._deadline = None
        self._waiting.pop(self, None)
        if not self.transport.is_closing():
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def raise_open_file_limit() -> int:
    """Use the hard limit on open files (often 1024 soft, far higher hard): more room before refusal. Returns the
    number of connections to allow: the limit less a reserve for everything else the process opens."""
    limit = 4096
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or hard > soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536) if hard != resource.RLIM_INFINITY
                                                        else 65536, hard))
        limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return max(16, min(LIMIT_CONCURRENCY, limit - FILES_IN_RESERVE))


class OncePerMinute(logging.Filter):
    """Lets each distinct log message through at most once a minute, saying how many were held back."""

    def __init__(self, every: float = 60.0) -> None:
        super().__init__()
        self.every = every
        self._last: dict[str, tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = f"{record.name}:{record.msg}"
        now = time.monotonic()
        last, held = self._last.get(key, (-self.every, 0))
        if now - last < self.every:
            self._last[key] = (last, held + 1)
            return False
        if len(self._last) > 1000:
            self._last.clear()
        self._last[key] = (now, 0)
        if held:
            record.msg = f"{record.msg} ({held} more like this in the last minute were not logged)"
        return True
