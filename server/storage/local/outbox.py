"""The durable sync outbox: one row per memory whose cloud copy is behind (SQL on the local database).

Rows are written by the storage inside the transaction of the change itself. They carry no payload: the
sync sends the memory's state at send time, so replaying a row is harmless and repeated changes to one
memory coalesce into one row. `version` grows with every change; the sync removes a row only at the
version it sent, so a change made while a batch was in flight is sent again, never lost.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Pending:
    content_hash: str
    op: str  # "upsert" or "delete": what the memory's last change was
    version: int
    attempts: int


@dataclass(frozen=True)
class Parked:
    content_hash: str
    op: str
    reason: str
    parked_at: float


def enqueue(conn: Any, hashes: Sequence[str], op: str, now: float | None = None) -> None:
    """Queue these memories (inside the caller's write transaction). A parked row is revived: the memory
    changed, so the next try may succeed."""
    now = time.time() if now is None else now
    conn.executemany(
        "INSERT INTO sync_outbox (content_hash, op, queued_at) VALUES (?, ?, ?) "
        "ON CONFLICT (content_hash) DO UPDATE SET op = excluded.op, version = version + 1, attempts = 0, "
        "next_attempt_at = 0, last_error = NULL, parked_at = NULL",
        [(h, op, now) for h in hashes],
    )


def due(conn: Any, limit: int, now: float) -> list[Pending]:
    """The oldest rows that may be tried now."""
    rows = conn.execute(
        "SELECT content_hash, op, version, attempts FROM sync_outbox WHERE parked_at IS NULL AND next_attempt_at <= ? "
        "ORDER BY queued_at, content_hash LIMIT ?", (now, limit)).fetchall()
    return [Pending(*row) for row in rows]


def done(conn: Any, sent: Sequence[Pending]) -> int:
    """Remove rows that were sent, unless they changed meanwhile; returns how many were removed."""
    before = conn.total_changes
    conn.executemany("DELETE FROM sync_outbox WHERE content_hash = ? AND version = ?",
                     [(p.content_hash, p.version) for p in sent])
    return conn.total_changes - before


def retry_later(conn: Any, items: Sequence[Pending], delay: float, error: str, now: float) -> None:
    conn.executemany(
        "UPDATE sync_outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? "
        "WHERE content_hash = ? AND version = ?", [(now + delay, error, p.content_hash, p.version) for p in items])


def park(conn: Any, item: Pending, reason: str, now: float) -> None:
    """Set aside an operation that cannot succeed as it is; it stays visible in the sync status."""
    conn.execute("UPDATE sync_outbox SET parked_at = ?, last_error = ?, attempts = attempts + 1 "
                 "WHERE content_hash = ? AND version = ?", (now, reason, item.content_hash, item.version))


def make_due(conn: Any) -> None:
    """Cancel the backoff of every waiting row (the cloud is back, or the user asked to sync now)."""
    conn.execute("UPDATE sync_outbox SET next_attempt_at = 0 WHERE parked_at IS NULL AND next_attempt_at > 0")


def unpark_all(conn: Any) -> int:
    before = conn.total_changes
    conn.execute("UPDATE sync_outbox SET parked_at = NULL, attempts = 0, next_attempt_at = 0 WHERE parked_at IS NOT NULL")
    return conn.total_changes - before


def depth(conn: Any) -> tuple[int, int]:
    """(rows waiting, rows parked)."""
    row = conn.execute("SELECT count(*) - count(parked_at), count(parked_at) FROM sync_outbox").fetchone()
    return int(row[0]), int(row[1])


def parked(conn: Any, limit: int = 20) -> list[Parked]:
    rows = conn.execute("SELECT content_hash, op, last_error, parked_at FROM sync_outbox WHERE parked_at IS NOT NULL "
                        "ORDER BY parked_at LIMIT ?", (limit,)).fetchall()
    return [Parked(r[0], r[1], r[2] or "", r[3]) for r in rows]
