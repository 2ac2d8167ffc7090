"""Consistent copies of the local database while servers run, and putting one back.

SQLite's online backup API copies the database as one snapshot (a read transaction in WAL mode), so a
backup taken while Claude Desktop's server and an HTTP server write is whole and consistent; a file copy
could catch a page half-written or miss the -wal file. Restoring goes through the same API into the live
file, so running servers see the restored data (their in-memory vector index reloads: the vector log
went backwards) and nothing is half-replaced.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from server.errors import MemoryServerError
from server.settings import Settings
from server.storage import sqlite_driver
from server.storage.identify import identify, refusal

KEEP = 7  # backups kept in a folder: the oldest beyond these are removed
PREFIX = "memories-"


def default_folder(settings: Settings) -> Path:
    return settings.database_path.parent / "backups"


def backup(settings: Settings, folder: Path | None = None, keep: int = KEEP) -> Path:
    source = _ours(settings.database_path, "the database")
    folder = folder or default_folder(settings)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = folder / f"{PREFIX}{time.strftime('%Y%m%d-%H%M%S')}.db"
    n = 1
    while target.exists():
        n += 1
        target = folder / f"{PREFIX}{time.strftime('%Y%m%d-%H%M%S')}-{n}.db"
    partial = target.with_suffix(".db.partial")
    _copy(source, partial)
    os.replace(partial, target)
    for old in sorted(folder.glob(f"{PREFIX}*.db"), key=lambda p: p.stat().st_mtime)[:-keep]:
        old.unlink()
    return target


def restore(settings: Settings, backup_file: Path) -> Path | None:
    """Put `backup_file` back as the database; returns the safety backup of what was there (if anything)."""
    _ours(backup_file, "the backup")
    live = settings.database_path
    current = identify(live, sqlite_driver.pick_driver())
    if current.kind == "foreign":  # never written over: it is another program's
        raise MemoryServerError(refusal(current))
    safety = backup(settings, default_folder(settings), keep=KEEP + 1) if current.kind == "ours" else None
    _copy(backup_file, live)
    return safety


def _ours(path: Path, what: str) -> Path:
    identity = identify(path, sqlite_driver.pick_driver())
    if identity.kind == "missing":
        raise MemoryServerError(f"{what} {path} does not exist")
    if identity.kind != "ours":
        raise MemoryServerError(f"{what} {path} is {identity.description}, not an mcp-memory database")
    return path


def _copy(source: Path, target: Path) -> None:
    driver = sqlite_driver.pick_driver()
    src = driver.connect(str(source))
    try:
        sqlite_driver.create_privately(target)  # private from its first byte, like the database itself
        dst = driver.connect(str(target))
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
