"""Tell whose SQLite file a path holds before anything writes to it, and open other programs' files
without changing a byte.

Setting WAL mode, a pragma or a migration table is already a write, so every path the server or the
installer is about to use is identified first, read-only: missing, empty (ours to create), ours (our
migration record), or foreign (another program's, described in words for the one-line refusal).

Standard library only: the installer and `doctor` use this too, and a foreign file needs no extension.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from server.errors import ForeignDatabaseError

DEFAULT_FILE_NAME = "memories.db"
# Our file name before 0.2: also the leading project's, so a database of ours there keeps being used,
# and anybody else's there is left alone.
LEGACY_FILE_NAME = "sqlite_vec.db"
OUR_FIRST_MIGRATION = "0001_memories"
MCP_MEMORY_SERVICE = "mcp-memory-service"
SQLITE_MAGIC = b"SQLite format 3\x00"

Kind = Literal["missing", "empty", "ours", "foreign"]


@dataclass(frozen=True)
class Identity:
    path: Path
    kind: Kind
    description: str  # for foreign files: what it looks like, e.g. "an mcp-memory-service database with 11 memories"
    program: str | None = None  # a foreign file we know how to import from: "mcp-memory-service"


def identify(path: Path, driver: ModuleType = sqlite3) -> Identity:
    """What `path` holds, found without writing to it or beside it.

    `driver` must be the SQLite module of any connection this process already has open on `path`: two
    SQLite libraries in one process do not see each other's POSIX locks, and closing one's file releases
    the other's locks (and can unmap its shared memory under it)."""
    if not path.exists():
        return Identity(path, "missing", "no file yet")
    if path.is_dir():
        return Identity(path, "foreign", "a folder, not a database file")
    try:
        with path.open("rb") as f:
            header = f.read(len(SQLITE_MAGIC))
    except OSError as exc:
        return Identity(path, "foreign", f"a file that cannot be read ({exc.strerror or exc})")
    if header == b"" and path.stat().st_size == 0:
        return Identity(path, "empty", "an empty file")
    if header != SQLITE_MAGIC:
        return Identity(path, "foreign", "a file that is not a SQLite database")
    try:
        with read_only(path, driver) as conn:
            return _classify(path, conn)
    except driver.DatabaseError as exc:
        return Identity(path, "foreign", f"a SQLite file that cannot be read ({exc})")


def require_ours(path: Path, driver: ModuleType = sqlite3) -> Identity:
    """Identify `path` and refuse, in one line that says what to do, when it is another program's."""
    found = identify(path, driver)
    if found.kind == "foreign":
        raise ForeignDatabaseError(refusal(found))
    return found


def refusal(found: Identity) -> str:
    what_to_do = "point MCP_MEMORY_SQLITE_PATH at a new file"
    if found.program == MCP_MEMORY_SERVICE:
        what_to_do = (f"import its memories with `python install.py import {found.path}`, or {what_to_do}")
    return f"{found.path} is {found.description}, not ours; it was left untouched: {what_to_do}."


def default_database_path(base_dir: Path) -> Path:
    """Our database in `base_dir`: `memories.db`, or the older `sqlite_vec.db` when that one is ours."""
    current = base_dir / DEFAULT_FILE_NAME
    legacy = base_dir / LEGACY_FILE_NAME
    if not current.exists() and identify(legacy).kind == "ours":
        return legacy
    return current


@contextlib.contextmanager
def read_only(path: Path, driver: ModuleType = sqlite3) -> Iterator[Any]:
    """A connection that cannot change `path` and creates nothing beside it.

    With a `-wal` file present another process may be writing, so SQLite's read-only mode reads its WAL
    consistently (through the existing `-shm`). Without one, nobody has the file open in WAL mode, and
    `immutable=1` reads it without the `-wal`/`-shm` files that even a read-only open would create.
    """
    live = Path(f"{path}-wal").exists() and Path(f"{path}-shm").exists()
    mode = "mode=ro" if live else "immutable=1"
    conn = driver.connect(f"{path.resolve().as_uri()}?{mode}", uri=True, check_same_thread=False)
    try:
        yield conn
    finally:
        conn.close()


def _classify(path: Path, conn: Any) -> Identity:
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
    if not tables or (tables <= {"schema_migrations"} and not _our_migrations(conn)):
        return Identity(path, "empty", "a database with no tables")
    if "schema_migrations" in tables and OUR_FIRST_MIGRATION in _our_migrations(conn):
        return Identity(path, "ours", "an mcp-memory database")
    if "memories" in tables and ({"migration_registry", "memory_embeddings"} & tables or _has_column(conn, "memories", "deleted_at")):
        return Identity(path, "foreign", describe_mcp_memory_service(conn), program=MCP_MEMORY_SERVICE)
    shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
    return Identity(path, "foreign", f"a SQLite database of another program (tables: {shown})")


def _our_migrations(conn: Any) -> set[str]:
    try:
        return {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
    except Exception:  # the driver's DatabaseError: no such table, or unreadable
        return set()


def _has_column(conn: Any, table: str, column: str) -> bool:
    return any(row[1] == column for row in conn.execute(f"PRAGMA table_info({table})"))


def describe_mcp_memory_service(conn: Any) -> str:
    """e.g. "an mcp-memory-service database (schema 19) with 11 memories"."""
    live = "WHERE deleted_at IS NULL" if _has_column(conn, "memories", "deleted_at") else ""
    count = conn.execute(f"SELECT count(*) FROM memories {live}").fetchone()[0]
    version = mcp_memory_service_schema(conn)
    schema = f" (schema {version})" if version else ""
    return (f"an mcp-memory-service {mcp_memory_service_release(conn)} database{schema} with {count} "
            f"{'memory' if count == 1 else 'memories'}")


def mcp_memory_service_release(conn: Any) -> str:
    """Which releases make a database of this shape: the markers each added (tables, columns)."""
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    markers = (("sync_events" in tables, "12.x"), (_has_column(conn, "memories", "store"), "11.x"),
               ("migration_registry" in tables, "10.72+"), (_has_column(conn, "memories", "superseded_by"), "10.30+"),
               (_has_column(conn, "memories", "deleted_at"), "8.64+"), ("metadata" in tables, "8.7+"))
    return next((release for present, release in markers if present), "8.x")


def mcp_memory_service_schema(conn: Any) -> str | None:
    """The leading project's own schema version, when its database records one."""
    with contextlib.suppress(Exception):
        row = conn.execute("SELECT value FROM metadata WHERE key = 'schema_version'").fetchone()
        if row:
            return str(row[0])
    with contextlib.suppress(Exception):
        row = conn.execute("SELECT max(version) FROM migration_registry").fetchone()
        if row and row[0] is not None:
            return str(row[0])
    return None
