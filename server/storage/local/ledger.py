"""The local store's sync ledger: the outbox, the sync state and the views the sync engine compares.

Owned by the local store (`SqliteVecStorage.ledger`) and run on its connection, inside its transactions:
nothing outside the store runs SQL on its database. The sync engine and worker (server/sync) see the
local side only through these methods (the LocalReplica Protocol there).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server.storage.local import graph_table as graph
from server.storage.local import outbox, sync_state
from server.storage.local.outbox import Parked, Pending
from server.storage.rows import rows_in
from server.record import PROBE_TAG

Transaction = Callable[[], AbstractContextManager[Any]]


@dataclass(frozen=True)
class ReconcileView:
    """The local side of a comparison: hash -> (created_at, updated_at), tombstones, rows still to send."""

    memories: dict[str, tuple[float, float]]
    tombstones: dict[str, float]
    pending: set[str]
    was_empty: bool


@dataclass(frozen=True)
class OutboxStatus:
    waiting: int
    parked: int
    parked_rows: list[Parked]
    state: dict[str, Any]


class SyncLedger:
    def __init__(self, read: Transaction, write: Transaction) -> None:
        self._read, self._write = read, write

    # -- state ------------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        with self._read() as conn:
            return sync_state.read_all(conn)

    def record(self, **values: Any) -> None:
        with self._write() as conn:
            sync_state.write(conn, **values)

    def add_usage(self, spent: dict[str, int], day: str) -> None:
        """Add to today's cloud usage (read and written in one transaction: several processes may count)."""
        with self._write() as conn:
            usage = sync_state.read_all(conn).get("cloud_usage_today") or {}
            if usage.get("day") != day:
                usage = {"day": day}
            for key, value in spent.items():
                usage[key] = int(usage.get(key, 0)) + value
            sync_state.write(conn, cloud_usage_today=usage)

    # -- the outbox -------------------------------------------------------------------------------

    def due(self, limit: int, now: float) -> list[Pending]:
        with self._read() as conn:
            return outbox.due(conn, limit, now)

    def done(self, items: Sequence[Pending], **state: Any) -> None:
        with self._write() as conn:
            outbox.done(conn, items)
            sync_state.write(conn, **state)

    def retry_later(self, items: Sequence[Pending], delay: float, error: str, now: float) -> None:
        with self._write() as conn:
            outbox.retry_later(conn, items, delay, error, now)

    def park(self, item: Pending, reason: str, now: float) -> None:
        with self._write() as conn:
            outbox.park(conn, item, reason, now)

    def make_due(self, unpark: bool = False) -> int:
        """Cancel every backoff (the cloud is back, or a sync was asked for); with `unpark`, also try parked
        rows again (their cause may be fixed). Returns how many parked rows were revived."""
        with self._write() as conn:
            outbox.make_due(conn)
            return outbox.unpark_all(conn) if unpark else 0

    def enqueue(self, upserts: Sequence[str], deletes: Sequence[str]) -> None:
        with self._write() as conn:
            outbox.enqueue(conn, upserts, "upsert")
            outbox.enqueue(conn, deletes, "delete")

    def pending(self, hashes: Sequence[str]) -> set[str]:
        with self._read() as conn:
            return {r[0] for r in rows_in(conn, "SELECT content_hash FROM sync_outbox WHERE content_hash", hashes)}

    def tombstones(self, hashes: Sequence[str]) -> dict[str, float]:
        with self._read() as conn:
            return {r[0]: r[1] for r in rows_in(conn, "SELECT content_hash, deleted_at FROM tombstones WHERE content_hash",
                                                hashes)}

    def status(self) -> OutboxStatus:
        with self._read() as conn:
            return _status(conn)

    # -- reconcile --------------------------------------------------------------------------------

    def reconcile_view(self, since: float | None) -> ReconcileView:
        """Everything (since=None), or only memories updated and tombstones made since then."""
        recent, dead, params = ("", "", ()) if since is None else (
            "AND updated_at >= ?", "WHERE deleted_at >= ?", (since,))
        # Health probes are never synced: one alive during a comparison must not be sent as missing there.
        never = "id NOT IN (SELECT memory_id FROM memory_tags WHERE tag = ?)"
        with self._read() as conn:
            return ReconcileView(
                memories={r[0]: (r[1], r[2]) for r in conn.execute(
                    f"SELECT content_hash, created_at, updated_at FROM memories WHERE {never} {recent}",
                    (PROBE_TAG, *params))},
                tombstones=dict(conn.execute(f"SELECT content_hash, deleted_at FROM tombstones {dead}", params).fetchall()),
                pending={r[0] for r in conn.execute("SELECT content_hash FROM sync_outbox")},
                was_empty=conn.execute("SELECT count(*) FROM memories").fetchone()[0] == 0)

    def reconciled(self, position: int, at: float, full: bool, rebuild_graph: bool) -> int | None:
        """Record a finished comparison (the cursor never moves back); rebuild the graph table when a new
        device just got its memories. Returns the number of graph edges when rebuilt."""
        with self._write() as conn:
            cursor = int(sync_state.read_all(conn).get("cloud_cursor", 0))
            done = {"last_reconcile_at": at, **({"last_full_reconcile_at": at} if full else {})}
            sync_state.write(conn, cloud_cursor=max(cursor, position), **done)
            return graph.rebuild(conn) if rebuild_graph else None


def status_of(path: Path) -> OutboxStatus:
    """The outbox of a database on disk, read without writing (for `install.py doctor`)."""
    from server.storage.local.identify import read_only

    with read_only(path) as conn:
        return _status(conn)


def _status(conn: Any) -> OutboxStatus:
    waiting, parked = outbox.depth(conn)
    return OutboxStatus(waiting, parked, outbox.parked(conn), sync_state.read_all(conn))
