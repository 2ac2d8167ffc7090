"""Consistent copies of the local database while servers run, and putting one back.

SQLite's online backup API copies the database as one snapshot (a read transaction in WAL mode), so a
backup taken while Claude Desktop's server and an HTTP server write is whole and consistent; a file copy
could catch a page half-written or miss the -wal file. Restoring goes through the same API into the live
file, so running servers see the restored data (their in-memory vector index reloads: the vector log
went backwards) and nothing is half-replaced.
"""

from __future__ import annotations

import os
import re
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
    target = _copy_into(source, folder)
    _prune(folder, keep)
    return target


def restore(settings: Settings, backup_file: Path) -> Path | None:
    """Put `backup_file` back as the database; returns the safety copy of what was there (if anything).
    Nothing is pruned here: the backup being restored, and every other, stays."""
    _ours(backup_file, "the backup")
    live = settings.database_path
    current = identify(live, sqlite_driver.pick_driver())
    if current.kind == "foreign":  # never written over: it is another program's
        raise MemoryServerError(refusal(current))
    safety = _copy_into(live, default_folder(settings)) if current.kind == "ours" else None
    _copy(backup_file, live, read_only_source=True)
    return safety


def _copy_into(source: Path, folder: Path) -> Path:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target, n = folder / f"{PREFIX}{stamp}.db", 1
    while target.exists():
        n += 1
        target = folder / f"{PREFIX}{stamp}-{n}.db"
    partial = target.with_suffix(".db.partial")
    _copy(source, partial)
    os.replace(partial, target)
    return target


_OURS = re.compile(re.escape(PREFIX) + r"\d{8}-\d{6}(-\d+)?\.db")


def _prune(folder: Path, keep: int) -> None:
    """Only backups named by us are candidates: a folder may hold other files, even other memories-*.db."""
    ours = sorted((p for p in folder.iterdir() if _OURS.fullmatch(p.name)), key=lambda p: p.stat().st_mtime)
    for old in ours[:-keep]:
        old.unlink()


def _ours(path: Path, what: str) -> Path:
    identity = identify(path, sqlite_driver.pick_driver())
    if identity.kind == "missing":
        raise MemoryServerError(f"{what} {path} does not exist")
    if identity.kind != "ours":
        raise MemoryServerError(f"{what} {path} is {identity.description}, not an mcp-memory database")
    return path


def _copy(source: Path, target: Path, read_only_source: bool = False) -> None:
    driver = sqlite_driver.pick_driver()
    # A backup is only read: opened read-only, a missing file is an error rather than a new empty database.
    src = driver.connect(f"file:{source}?mode=ro", uri=True) if read_only_source else driver.connect(str(source))
    try:
        sqlite_driver.create_privately(target)  # private from its first byte, like the database itself
        dst = driver.connect(str(target))
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
