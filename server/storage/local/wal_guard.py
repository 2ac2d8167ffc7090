"""Never pair a database file with another file's write-ahead log.

SQLite keeps recent commits in `<db>-wal` beside the database and applies them to whatever file has the
database's name when a connection opens it. When the file is replaced under a running server (`mv` or `cp`
of another database over it), the old log sits beside the new file: the next start writes the old commits
into it (the moved-in memories are gone), and a running connection on a copied-over file writes them in at
its close. SQLite cannot tell: nothing in a log names its database.

So each of our databases carries a stamp, a random number in its header (`PRAGMA user_version`, which no
migration of ours uses), and these checks use it:
- at open, before SQLite reads the log: the log's last committed copy of page 1 carries the stamp of the
  database it was written for; when that differs from the file's own, the log (and its index, `-shm`) are
  set aside under another name, never deleted, and never applied;
- while running (server/storage/local/file_health.py, FileWatch): the file's stamp is read again whenever the
  file changed on disk, which tells a copy over the file from our own checkpoints.
The stamp is read through SQLite with `immutable=1` (the file as it is on disk, no locks, no log): opening
and closing the file ourselves would drop the POSIX locks SQLite holds on it in this process.
"""

from __future__ import annotations

import logging
import os
import secrets
import struct
import time
from pathlib import Path
from types import ModuleType
from typing import Any

logger = logging.getLogger(__name__)

WAL_MAGIC = (0x377F0682, 0x377F0683)
WAL_HEADER = 32
FRAME_HEADER = 24
STAMP_OFFSET = 60  # user_version in the 100-byte database header
SIDECARS = ("-wal", "-shm")


def new_stamp() -> int:
    return secrets.randbelow(2**31 - 1) + 1  # user_version is a signed 32-bit integer; 0 means "none"


def stamp_on_disk(path: Path, driver: ModuleType) -> int | None:
    """The stamp in the database file as it is on disk (not counting its log); None if it cannot be read."""
    try:
        conn = driver.connect(f"{path.resolve().as_uri()}?immutable=1", uri=True)
        try:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])
        finally:
            conn.close()
    except Exception:  # noqa: BLE001 - either driver's errors, or a file that is no database now
        return None


def log_stamp(wal: Path) -> int | None:
    """The stamp in the last committed copy of page 1 in a write-ahead log, or None (no such frame, no log).
    Frames count only with the log header's salts (older generations of the log have others) and up to the
    last commit frame."""
    try:
        with wal.open("rb") as f:  # the log carries no POSIX locks of SQLite's: safe to open and close
            header = f.read(WAL_HEADER)
            if len(header) < WAL_HEADER:
                return None
            magic, _, page_size, _, salt1, salt2 = struct.unpack(">6I", header[:24])
            if magic not in WAL_MAGIC or not 512 <= page_size <= 65536:
                return None
            offset, pending, committed = WAL_HEADER, None, None
            while True:
                f.seek(offset)
                frame = f.read(FRAME_HEADER)
                if len(frame) < FRAME_HEADER:
                    break
                page, commit, s1, s2 = struct.unpack(">4I", frame[:16])
                if (s1, s2) != (salt1, salt2):
                    break
                if page == 1:
                    f.seek(offset + FRAME_HEADER + STAMP_OFFSET)
                    pending = struct.unpack(">i", f.read(4))[0]
                if commit and pending is not None:
                    committed = pending
                offset += FRAME_HEADER + page_size
            return committed
    except (OSError, struct.error):
        return None


def foreign_log(path: Path, driver: ModuleType) -> str | None:
    """Why the log beside `path` belongs to another database, or None (no log, ours, or cannot tell).
    Only a file with a stamp of its own is judged: a database not stamped yet gets the benefit of the doubt."""
    wal = Path(f"{path}-wal")
    if not wal.exists():
        return None
    ours = stamp_on_disk(path, driver)
    theirs = log_stamp(wal)
    if not ours or theirs is None or theirs == ours:
        return None
    return f"its write-ahead log {wal.name} was written for another database (stamp {theirs}, the file's {ours})"


def set_aside(path: Path, only: dict[str, tuple[int, int]] | None = None) -> list[Path]:
    """Rename the log and its index beside `path` out of SQLite's way (`<name>.replaced-<time>`), keeping them.
    `only`: suffix -> (device, inode) of the files to move; a log of another inode (a new process's) stays."""
    moved = []
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for suffix in SIDECARS:
        sidecar = Path(f"{path}{suffix}")
        try:
            info = os.stat(sidecar)
        except OSError:
            continue
        if only is not None and only.get(suffix) != (info.st_dev, info.st_ino):
            continue
        target = sidecar.with_name(f"{sidecar.name}.replaced-{stamp}")
        try:
            os.replace(sidecar, target)
        except OSError as exc:
            logger.error("Could not move %s aside (%s): remove it before the next start", sidecar, exc)
            continue
        moved.append(target)
    return moved


def sidecar_identities(path: Path) -> dict[str, tuple[int, int]]:
    found = {}
    for suffix in SIDECARS:
        try:
            info = os.stat(f"{path}{suffix}")
        except OSError:
            continue
        found[suffix] = (info.st_dev, info.st_ino)
    return found


def ensure_stamp(conn: Any) -> int:
    """This database's stamp, made now if it has none; checkpointed so the file on disk carries it."""
    current = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if current:
        return current
    stamp = new_stamp()
    conn.execute("BEGIN IMMEDIATE")
    try:
        if not int(conn.execute("PRAGMA user_version").fetchone()[0]):  # another process may have stamped it
            conn.execute(f"PRAGMA user_version = {stamp}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


_ABANDONED: list[Any] = []


def abandon(conn: Any) -> None:
    """Keep a connection open until the process ends, never closing it: the last close of a connection on a
    file checkpoints its log into that file, which is what must not happen to a file copied over ours. The
    extra reference keeps CPython from closing it at interpreter exit too; the OS frees it with the process."""
    _ABANDONED.append(conn)
    try:
        import ctypes

        ctypes.pythonapi.Py_IncRef(ctypes.py_object(conn))
    except (ImportError, AttributeError):  # not CPython: the list keeps it until exit
        pass
