"""One installer run at a time per settings folder: a second run waits for nobody, it refuses at once.

Two runs planning from the same files would both report success while one's writes replace the other's.
The lock is an OS lock on a file beside the .env, released by the OS if the run dies, so a crash never
leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from installer.errors import InstallerError

LOCK_NAME = ".installer.lock"


@contextlib.contextmanager
def single_run(settings_folder: Path, create: bool = True) -> Iterator[None]:
    if not settings_folder.is_dir() and not create:  # nothing of ours here to protect (an uninstall)
        yield
        return
    settings_folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = settings_folder / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if not _try_lock(fd):
            raise InstallerError(f"Another installer run is working on {settings_folder}; nothing was written.",
                                 "wait for it to finish, then run the installer again")
        yield  # the file stays empty: a re-run leaves every file byte for byte as it was
    finally:
        os.close(fd)  # closing releases the lock


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":  # (sys.platform, not os.name: the type checker follows it per platform)
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
