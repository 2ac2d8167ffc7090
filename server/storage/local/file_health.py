"""The truth about the database file: is it still the file we opened, undamaged, writable, with room to grow.

A file deleted, replaced (`mv`) or copied over (`cp`) under a running server leaves our connection on the old
data: writes would be acknowledged and then lost at the next start, and searches would answer from a file
nobody sees. So every write and search first checks that the path still holds the file we opened (a `stat`,
microseconds), and health reports what it found instead of saying "healthy" by default.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from types import ModuleType
from typing import Any

from server.errors import StorageError
from server.storage.local.wal_guard import sidecar_identities, stamp_on_disk

LOW_SPACE_BYTES = 100 * 1024 * 1024  # below this, health says degraded: a write may soon fail
INTEGRITY_EVERY = 600.0  # seconds a quick_check verdict is reused


class IntegrityCheck:
    """SQLite's quick_check reads every page (0.3 s at 100k memories), too much for each health request
    from a dashboard: its verdict is reused for INTEGRITY_EVERY seconds, and health says when it was made.

    It runs on a connection of its own (read-only, never creating the file), outside the store's lock: the
    pages it reads do not stay in the store connection's cache (80 MB at 100k memories), and searches go on.
    """

    def __init__(self, connect: Callable[[], AbstractContextManager[Any]], every: float = INTEGRITY_EVERY) -> None:
        self.every = every
        self.verdict: list[str] = []
        self.unreadable: list[tuple[str, str]] = []  # (content hash, why) of stored records no reader can show
        self.checked_at: float | None = None  # epoch seconds
        self._connect = connect
        self._checked: float | None = None  # monotonic

    def problems(self) -> list[str]:
        if self._stale():
            try:
                with self._connect() as conn:
                    verdict = [str(r[0]) for r in conn.execute("PRAGMA quick_check(3)").fetchall()]
                    self.unreadable = unreadable_records(conn) if verdict == ["ok"] else []
            except Exception as exc:  # noqa: BLE001 - either driver's errors: not even readable as a database
                reason = str(exc.__cause__ or exc).splitlines()[0]
                return [f"the database cannot be read ({reason}): restore a backup"]  # not kept: may pass
            self.verdict, self._checked, self.checked_at = verdict, time.monotonic(), time.time()
        if self.verdict == ["ok"]:
            return []
        return [f"the database is damaged ({'; '.join(self.verdict)}): restore a backup"]

    def _stale(self) -> bool:
        return self._checked is None or time.monotonic() - self._checked > self.every


def unreadable_records(conn: Any) -> list[tuple[str, str]]:
    """Every stored record that breaks the record's read bounds, with why: what listings and searches skip.
    A normal content is read as one character (its length is checked in SQL): the scan stays light."""
    from server.record import NAMES, UnreadableRecord, from_row
    from server.storage.rows import named

    shown = ["CASE WHEN typeof(content) = 'text' AND length(content) BETWEEN 1 AND 1000000 THEN 'x' ELSE content END "
             "AS content", *(n for n in NAMES if n != "content")]
    found = []
    for row in named(conn.execute(f"SELECT {', '.join(shown)} FROM memories")):
        try:
            from_row(row)
        except UnreadableRecord as exc:
            found.append((exc.content_hash, exc.reason))
    return found


def _stat(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:  # gone (or unreadable): no file to speak of
        return None


def file_identity(path: Path) -> tuple[int, int] | None:
    info = _stat(path)
    return None if info is None else (info.st_dev, info.st_ino)


class FileWatch:
    """Remembers which file the connection opened; says when the path no longer names it.

    Moved or deleted: the inode at the path is another, or none. Copied over (`cp` keeps the inode): the
    file's stamp (server/storage/local/wal_guard.py) is another; it is read again only when the file's size or
    time changed, so the usual check is one `stat`."""

    def __init__(self, path: Path, driver: ModuleType | None = None, stamp: int | None = None) -> None:
        self.path = path
        self.opened = file_identity(path)
        self._driver, self.stamp = driver, stamp
        self._seen = _size_and_time(path)
        self._stamp_reached_disk = bool(stamp and driver and stamp_on_disk(path, driver) == stamp)
        self.sidecars = sidecar_identities(path)  # our log and its index, as this connection opened them
        self._overwritten = False

    def problem(self) -> str | None:
        now = file_identity(self.path)
        if now is None:
            return f"the database file {self.path} was deleted while this server was running"
        if self.opened is not None and now != self.opened:
            return f"the database file {self.path} was replaced while this server was running"
        if self._overwritten or self._copied_over():
            self._overwritten = True
            return f"the database file {self.path} was overwritten (copied over) while this server was running"
        return None

    def _copied_over(self) -> bool:
        seen = _size_and_time(self.path)
        if seen == self._seen or not (self.stamp and self._driver):
            return False
        self._seen = seen
        on_disk = stamp_on_disk(self.path, self._driver)
        if on_disk == self.stamp:
            self._stamp_reached_disk = True
            return False
        if on_disk is None:  # not readable as a database now: damage, which the integrity check reports
            return False
        # Before our stamp reached the file (a checkpoint still to come), an unstamped file is ours.
        return bool(on_disk) or self._stamp_reached_disk

    @property
    def same_inode(self) -> bool:
        return file_identity(self.path) == self.opened

    def check(self) -> None:
        problem = self.problem()
        if problem is not None:
            raise StorageError(f"Nothing was done: {problem}. Restart the server (restart your AI client) so it "
                               "opens the file that is there now.")


def _size_and_time(path: Path) -> tuple[int, int] | None:
    info = _stat(path)
    return None if info is None else (info.st_size, info.st_mtime_ns)


def health_problems(conn: Any, path: Path, moved: str | None, damaged: list[str],
                    unreadable: list[tuple[str, str]] = ()) -> tuple[str, list[str]]:  # type: ignore[assignment]
    """("healthy" | "degraded" | "failing", reasons), from checks that really look at the file: `moved`
    from FileWatch.problem(), `damaged` and `unreadable` from IntegrityCheck (asked only when not moved)."""
    failing, degraded = [], []
    if moved:
        failing.append(moved)
    else:
        failing += damaged
        if unreadable:
            named = "; ".join(f"{h[:16]}: {why}" for h, why in unreadable[:5])
            more = f"; and {len(unreadable) - 5} more" if len(unreadable) > 5 else ""
            degraded.append(f"{len(unreadable)} stored {'memory' if len(unreadable) == 1 else 'memories'} cannot be "
                            f"read and {'is' if len(unreadable) == 1 else 'are'} skipped by listings and searches "
                            f"({named}{more}): delete {'it' if len(unreadable) == 1 else 'them'} with delete_memory "
                            "or restore a backup")
        if conn.execute("PRAGMA query_only").fetchone()[0] or not os.access(path, os.W_OK):
            failing.append(f"{path} cannot be written (read-only)")
    try:
        free = shutil.disk_usage(path.parent).free
        if free < LOW_SPACE_BYTES:
            degraded.append(f"only {free // (1024 * 1024)} MB free on the disk holding {path}")
    except OSError as exc:
        degraded.append(f"free space unknown ({exc.strerror})")
    status = "failing" if failing else "degraded" if degraded else "healthy"
    return status, failing + degraded


def explain_write_failure(path: Path, exc: Exception) -> str:
    """A failed write in words: the cause and what to do. Nothing of the change was kept (rolled back)."""
    text = str(exc).lower()
    if "full" in text:
        cause = f"the disk holding {path} is full (or the database reached its size limit): free some space"
    elif "readonly" in text or "read-only" in text:
        cause = f"{path} cannot be written (a read-only file, folder or disk): check its permissions"
    elif "malformed" in text or "not a database" in text or "corrupt" in text:
        cause = (f"{path} is damaged ({exc}): restore a backup, or move it aside and let the server start a "
                 "new one")
    elif "i/o" in text or "disk i/o" in text:
        cause = f"the disk holding {path} reported an I/O error: check the disk"
    else:
        cause = f"SQLite refused the write to {path} ({exc})"
    return f"Nothing was stored: {cause}, then try again."


def database_size(path: Path) -> int:
    """Bytes of the database with its WAL and shared-memory files."""
    total = 0
    for suffix in ("", "-wal", "-shm"):
        try:
            total += os.path.getsize(f"{path}{suffix}")
        except OSError:
            pass
    return total
