"""Sync bookkeeping in the local database's `sync_state` table, shared by every process on that file:
a server that does not own the sync still reports the owner's progress truthfully."""

from __future__ import annotations

import json
from typing import Any


def read_all(conn: Any) -> dict[str, Any]:
    return {key: json.loads(value) for key, value in conn.execute("SELECT key, value FROM sync_state")}


def write(conn: Any, **values: Any) -> None:
    """Set keys inside the caller's write transaction."""
    conn.executemany(
        "INSERT INTO sync_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [(key, json.dumps(value)) for key, value in values.items()],
    )
