"""One migration runner for both stores: named migrations, applied once each and recorded in the store's own
`schema_migrations` table. The local file and the D1 database differ only in how a step is held together, which
their `MigrationTarget` says: SQLite applies a migration and its record in one write transaction; D1's REST API
has no open transaction, so its statements are idempotent (IF NOT EXISTS) and a crash part-way is safe to re-run.
Migrations are append-only: never edit one that has shipped; add a new one.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

logger = logging.getLogger(__name__)

RECORD_TABLE = "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)"


@dataclass(frozen=True)
class Migration:
    name: str
    statements: tuple[str, ...]


class MigrationTarget(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    def applied(self) -> set[str]: ...

    def step(self) -> AbstractContextManager[None]:
        """Holds one migration and its record together (as far as the store can)."""
        ...


def migrate(target: MigrationTarget, migrations: Sequence[Migration]) -> list[str]:
    """Apply every migration not yet recorded, in order; returns the names applied now."""
    target.execute(RECORD_TABLE)
    done = target.applied()
    applied_now = []
    for migration in [m for m in migrations if m.name not in done]:
        with target.step():
            # Checked inside the step: another process may have applied it meanwhile.
            if migration.name in target.applied():
                continue
            for statement in migration.statements:
                target.execute(statement)
            target.execute("INSERT OR IGNORE INTO schema_migrations (name, applied_at) VALUES (?, ?)",
                           (migration.name, time.time()))
            applied_now.append(migration.name)
    if applied_now:
        logger.info("Applied migrations: %s", ", ".join(applied_now))
    return applied_now


def script(sql: str) -> tuple[str, ...]:
    """A commented SQL script -> its statements. A part is one statement once SQLite says it is complete: a
    trigger's body holds semicolons of its own."""
    lines = [line.split("--", 1)[0] for line in sql.splitlines()]
    statements, pending = [], ""
    for part in "\n".join(lines).split(";"):
        pending += part + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                statements.append(pending.strip().rstrip(";").strip())
            pending = ""
    return tuple(statements)
