"""Opening SQLite connections that can load sqlite-vec, with our pragmas on every connection.

Many Pythons (pyenv builds, macOS system Python) ship a `sqlite3` without `enable_load_extension`, so
sqlite-vec cannot load there. We try the standard module first, then sqlean.py, a drop-in driver with
its own SQLite that wheels exist for on Linux, macOS and Windows.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import sqlite_vec

from server.errors import DriverUnavailableError, StorageError

logger = logging.getLogger(__name__)

DRIVER_CANDIDATES = ("sqlite3", "sqlean")
# How long a write waits for another process's lock, unless MCP_MEMORY_SQLITE_PRAGMAS says otherwise: long
# enough for a busy import or a sync batch in another server process to finish.
DEFAULT_BUSY_TIMEOUT_MS = 15_000


def pick_driver(candidates: tuple[str, ...] = DRIVER_CANDIDATES) -> ModuleType:
    """The first importable DB-API module whose connections can load sqlite-vec."""
    reasons = []
    for name in candidates:
        try:
            module = importlib.import_module(name)
        except ImportError:
            reasons.append(f"{name}: not installed")
            continue
        problem = _extension_problem(module)
        if problem is None:
            return module
        reasons.append(f"{name}: {problem}")
    raise DriverUnavailableError(
        "No SQLite driver here can load the sqlite-vec extension ("
        + "; ".join(reasons)
        + "). Install one with: pip install sqlean.py"
    )


def _extension_problem(module: ModuleType) -> str | None:
    if not hasattr(module.Connection, "enable_load_extension"):
        return "built without extension loading"
    try:
        conn = module.connect(":memory:")
        try:
            _load_vec(conn)
            conn.execute("SELECT vec_version()").fetchone()
        finally:
            conn.close()
    except Exception as exc:  # any failure means "this driver will not do"
        return f"cannot load sqlite-vec ({exc})"
    return None


def _load_vec(conn: Any) -> None:
    conn.enable_load_extension(True)
    try:
        sqlite_vec.load(conn)
    finally:
        conn.enable_load_extension(False)


def busy_timeout_ms(pragmas: tuple[tuple[str, str], ...]) -> int:
    """How long a connection with these pragmas waits for another process's lock."""
    return int(dict(pragmas).get("busy_timeout", DEFAULT_BUSY_TIMEOUT_MS))


def connect(path: Path, pragmas: tuple[tuple[str, str], ...], driver: ModuleType, read_only: bool = False) -> Any:
    """Open `path` in autocommit mode (we issue BEGIN ourselves), load sqlite-vec, apply pragmas.

    `busy_timeout` is also the connect timeout: the pragma only takes effect after connecting, and
    the connect itself can meet a locked database. `read_only`: the file must exist (it is never created,
    so a file deleted under a running server is not replaced by an empty one) and is not written.
    """
    busy_ms = busy_timeout_ms(pragmas)
    try:
        if read_only:
            target, uri = f"{path.resolve().as_uri()}?mode=ro", True
        else:
            create_privately(path)
            target, uri = str(path), False
        conn = driver.connect(target, timeout=busy_ms / 1000, isolation_level=None, check_same_thread=False, uri=uri)
        _load_vec(conn)
        for name, value in pragmas:
            # Names and values were validated against an allow-list in settings.parse_pragmas.
            conn.execute(f"PRAGMA {name}={value}").fetchall()
    except (OSError, driver.Error) as exc:
        raise StorageError(f"Cannot open the database {path}: {exc}. Check the path and its permissions.") from exc
    logger.info("Opened %s with %s; pragmas %s", path, driver.__name__, ", ".join(f"{k}={v}" for k, v in pragmas))
    return conn


@contextlib.contextmanager
def snapshot(path: Path, pragmas: tuple[tuple[str, str], ...], driver: ModuleType,
             read_only: bool = False) -> Iterator[Any]:
    """A connection of its own in one read transaction: a consistent view of the file, closed at the end."""
    conn = connect(path, pragmas, driver, read_only=read_only)
    try:
        conn.execute("BEGIN")
        yield conn
        conn.execute("COMMIT")
    finally:
        conn.close()


def create_privately(path: Path) -> None:
    """A new database and the folders made for it are private (0600 / 0700): memories are at least as
    sensitive as the settings. SQLite gives -wal and -shm files the database file's mode. An existing file
    or folder keeps the mode its owner gave it."""
    missing = []
    folder = path.parent
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for new in reversed(missing):
        new.mkdir(mode=0o700, exist_ok=True)
    if not path.exists():
        with contextlib.suppress(FileExistsError):  # another process created it first: theirs is as good
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def effective_pragmas(conn: Any, names: list[str]) -> dict[str, Any]:
    """Read each pragma back from the connection: what SQLite really uses, not what we asked for."""
    values = {}
    for name in names:
        row = conn.execute(f"PRAGMA {name}").fetchone()
        values[name] = row[0] if row else None
    return values


# SQLite reads some pragmas back as numbers or in lower case; these map our keywords to what it returns.
_PRAGMA_KEYWORDS = {
    "synchronous": {"OFF": "0", "NORMAL": "1", "FULL": "2", "EXTRA": "3"},
    "temp_store": {"DEFAULT": "0", "FILE": "1", "MEMORY": "2"},
}


def pragma_in_effect(name: str, wanted: str, effective: Any) -> bool:
    """Whether a pragma read back from a connection has the value we configured."""
    expected = _PRAGMA_KEYWORDS.get(name, {}).get(wanted.upper(), wanted)
    return str(effective).upper() == str(expected).upper()
