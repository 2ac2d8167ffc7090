"""Consistent copies of the local database while servers run, and putting one back.

SQLite's online backup API copies the database as one snapshot (a read transaction in WAL mode), so a
backup taken while Claude Desktop's server and an HTTP server write is whole and consistent; a file copy
could catch a page half-written or miss the -wal file. Restoring goes through the same API into the live
file, so running servers see the restored data (their in-memory vector index reloads: the vector log
went backwards) and nothing is half-replaced.

Every copy is checked (SQLite's quick_check, which reads every page) before it counts: a backup that is not whole is not kept, and
a damaged backup is never restored. Each backup gets a stamp of its own (server/storage/local/wal_guard.py), so a
backup copied over the live file by hand is told apart from it; a restore keeps the live file's stamp, so
running servers carry on. Pruning removes only backups this program wrote into that folder, as its list there
(`.mcp-memory-backups`) says: a file of the same name pattern put there by a person is never deleted.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from pathlib import Path
from collections.abc import Iterator
from typing import Any

from server.errors import MemoryServerError, UsageError
from server.settings import Settings
from server.storage.local import sqlite_driver, wal_guard
from server.storage.local.identify import identify, refusal

KEEP = 7  # backups kept in a folder: the oldest beyond these are removed
PREFIX = "memories-"
MANIFEST = ".mcp-memory-backups"  # the backups this program wrote into a folder, one name a line


def default_folder(settings: Settings) -> Path:
    return settings.database_path.parent / "backups"


def backup(settings: Settings, folder: Path | None = None, keep: int = KEEP) -> Path:
    source = _ours(settings.database_path, "the database")
    folder = folder or default_folder(settings)
    with _said("back up into", folder):
        target = _copy_into(source, folder)
        _prune(folder, keep)
    return target


def restore(settings: Settings, backup_file: Path) -> Path | None:
    """Put `backup_file` back as the database; returns the safety copy of what was there (if anything).
    Nothing is pruned here: the backup being restored, and every other, stays."""
    _ours(backup_file, "the backup")
    problem = _damage(backup_file)
    if problem is not None:
        raise MemoryServerError(f"the backup {backup_file} is damaged ({problem}); nothing was restored. Choose "
                                "another backup")
    live = settings.database_path
    current = identify(live, sqlite_driver.pick_driver())
    if current.kind == "foreign":  # never written over: it is another program's
        raise UsageError(refusal(current))
    with _said("restore into", live.parent):
        safety = _copy_into(live, default_folder(settings)) if current.kind == "ours" else None
        stamp = _stamp(live) if current.kind == "ours" else None
        staged = live.with_name(f".{live.name}.restoring")
        try:
            _copy(backup_file, staged, read_only_source=True)
            if stamp:  # the live file's own stamp: running servers keep it open as the same database
                _set_stamp(staged, stamp)
            _copy(staged, live, read_only_source=True)
        finally:
            for leftover in (staged, Path(f"{staged}-wal"), Path(f"{staged}-shm")):
                leftover.unlink(missing_ok=True)
    return safety


def _copy_into(source: Path, folder: Path) -> Path:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target, n = folder / f"{PREFIX}{stamp}.db", 1
    while target.exists():
        n += 1
        target = folder / f"{PREFIX}{stamp}-{n}.db"
    partial = target.with_suffix(".db.partial")
    try:
        _copy(source, partial)
        _set_stamp(partial, wal_guard.new_stamp())  # a copy is a database of its own from now on
        problem = _damage(partial)
        if problem is not None:
            raise MemoryServerError(f"the copy of {source} is not whole ({problem}): the database itself may be "
                                    "damaged; `install.py doctor` checks it. No backup was kept")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    with (folder / MANIFEST).open("a", encoding="utf-8") as manifest:
        manifest.write(target.name + "\n")
    return target


def _prune(folder: Path, keep: int) -> None:
    """Only backups this program wrote here are candidates, oldest first; the list keeps the ones still there."""
    listed = folder / MANIFEST
    names = list(dict.fromkeys(listed.read_text(encoding="utf-8").split())) if listed.exists() else []
    ours = [folder / name for name in names if (folder / name).is_file() and "/" not in name]
    for old in ours[:-keep]:
        old.unlink()
    kept = [p.name for p in ours[-keep:]]
    partial = listed.with_name(listed.name + ".partial")
    partial.write_text("".join(f"{name}\n" for name in kept), encoding="utf-8")
    os.replace(partial, listed)


def _ours(path: Path, what: str) -> Path:
    identity = identify(path, sqlite_driver.pick_driver())
    if identity.kind == "missing":
        raise UsageError(f"{what} {path} does not exist")
    if identity.kind != "ours":
        raise UsageError(f"{what} {path} is {identity.description}, not an mcp-memory database")
    return path


def _connect(path: Path, read_only: bool = False) -> Any:
    driver = sqlite_driver.pick_driver()
    # A backup is only read: opened read-only, a missing file is an error rather than a new empty database.
    return driver.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) if read_only else driver.connect(str(path))


def _copy(source: Path, target: Path, read_only_source: bool = False) -> None:
    src = _connect(source, read_only=read_only_source)
    try:
        sqlite_driver.create_privately(target)  # private from its first byte, like the database itself
        dst = _connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def _damage(path: Path) -> str | None:
    """What SQLite's integrity check finds wrong with a file, or None when it is whole."""
    try:
        conn = _connect(path, read_only=True)
        try:
            verdict = [str(r[0]) for r in conn.execute("PRAGMA quick_check(3)").fetchall()]
        finally:
            conn.close()
    except Exception as exc:  # noqa: BLE001 - either driver's errors: not even readable as a database
        return str(exc).splitlines()[0]
    return None if verdict == ["ok"] else " ".join("; ".join(verdict).split())


def _stamp(path: Path) -> int:
    conn = _connect(path, read_only=True)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def _set_stamp(path: Path, stamp: int) -> None:
    conn = _connect(path)
    try:
        conn.execute(f"PRAGMA user_version = {int(stamp)}")
        conn.commit()
    finally:
        conn.close()


@contextlib.contextmanager
def _said(what: str, where: Path) -> Iterator[None]:
    """A full disk or a folder we may not write to, in one line that says what to do."""
    try:
        yield
    except MemoryServerError:
        raise
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise MemoryServerError(f"cannot {what} {where}: the disk is full. Free some space or choose another "
                                    "folder; nothing was changed") from exc
        raise MemoryServerError(f"cannot {what} {where}: {exc.strerror or exc}. Choose a folder you can write to; "
                                "nothing was changed") from exc
    except Exception as exc:
        text = str(exc).lower()
        if "full" in text or "readonly" in text or "unable to open" in text or "disk i/o" in text:
            raise MemoryServerError(f"cannot {what} {where}: {exc}. Free some space, or choose a folder you can "
                                    "write to; nothing was changed") from exc
        raise
