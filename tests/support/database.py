"""Looking inside a database file the way another process would: its own connection, through the product's SQLite
driver (so sqlite-vec and FTS5 behave as in the server). The store hands out no transactions of its own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from server.settings import settings_from_values
from server.storage.local import sqlite_driver

PRAGMAS = settings_from_values({}).sqlite_pragmas


@contextmanager
def reading(path: Path) -> Iterator[Any]:
    """A consistent snapshot of the file."""
    with sqlite_driver.snapshot(Path(path), PRAGMAS, sqlite_driver.pick_driver()) as conn:
        yield conn


@contextmanager
def writing(path: Path) -> Iterator[Any]:
    """One write transaction on the file, committed at the end of the block (rolled back on an error)."""
    conn = sqlite_driver.connect(Path(path), PRAGMAS, sqlite_driver.pick_driver())
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    finally:
        conn.close()
