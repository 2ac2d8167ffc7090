"""Planned file changes, shown before they are made and then written safely.

A ``FileChange`` holds the text the installer read and the text it wants, so the CLI can show a
summary and a diff (secrets masked) before anything is touched. ``apply_changes`` writes them: every
file is re-checked first, each existing file is backed up, and each write is a temp file in the same
folder plus ``os.replace`` so a file is always either its old or its new self.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import shutil
import stat
import uuid
import glob
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from installer.errors import ConfigFileError, FileChangedError
from server.privacy import is_secret_key  # the one list of secret names (server.privacy.SECRET_KEY_HINTS)

MASK = "****"


def secret_values(values: Mapping[str, object]) -> tuple[str, ...]:
    """The values of the secret keys in a mapping (a .env, a client entry's env)."""
    return tuple(v for k, v in values.items() if isinstance(v, str) and v and is_secret_key(k))
_RERUN_HINT = "Run the installer again; it will read the files afresh."


@dataclass(frozen=True)
class FileChange:
    """One file the installer plans to write."""

    path: Path
    old: str | None  # current text; None when the file does not exist
    new: str  # text to write
    mode: int | None = None  # e.g. 0o600 for files holding secrets
    secrets: tuple[str, ...] = ()  # values shown as '****' in diffs and summaries
    label: str = ""  # e.g. "Claude Desktop config"

    @property
    def action(self) -> Literal["create", "update", "unchanged"]:
        if self.old is None:
            # A missing file that would be created empty has nothing in it worth creating
            # (e.g. removing an entry from a config that does not exist).
            return "unchanged" if self.new == "" else "create"
        return "unchanged" if self.old == self.new else "update"

    def diff(self) -> str:
        """A unified diff old -> new with secrets masked; '' when unchanged."""
        if self.action == "unchanged":
            return ""
        old = mask_secrets(self.old or "", self.secrets)
        new = mask_secrets(self.new, self.secrets)
        lines = difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile="/dev/null" if self.old is None else str(self.path),
            tofile=str(self.path),
        )
        # A last line without a newline would run into the next diff line.
        return "".join(line if line.endswith(("\n", "\r")) else line + "\n" for line in lines)


def mask_secrets(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret in ``text`` with '****', also in its JSON/.env-escaped spelling."""
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            # Config writers escape quotes and backslashes, so the raw value may not appear as such.
            forms.update({secret, json.dumps(secret, ensure_ascii=False)[1:-1]})
    for form in sorted(forms, key=len, reverse=True):  # longest first, so no secret is half-masked
        text = text.replace(form, MASK)
    return text


def read_text_or_none(path: Path) -> str | None:
    """The file's text exactly as stored (no newline translation), or None when it does not exist."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            return f.read()
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as exc:
        raise ConfigFileError(
            f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); it was left untouched.",
            hint="Fix or move the file, then run the installer again.",
        ) from exc
    except OSError as exc:
        raise ConfigFileError(f"Cannot read {path}: {exc.strerror or exc}.", hint=_RERUN_HINT) from exc


KEEP_BACKUPS = 5  # per file: older backups of the same file are removed


def apply_changes(changes: Sequence[FileChange], now: datetime | None = None,
                  written: list[Path] | None = None, backup_dir: Path | None = None) -> list[Path]:
    """Write every change that changes something; return the backups made.

    Every file is checked against the text it was planned from before the first write, so a stale
    plan writes nothing. A failure midway leaves earlier files written and raises ConfigFileError.
    Ctrl-C waits for the file being written and stops before the next, so `written` (each path appended
    once it is in place) is exactly what was written. `backup_dir`: where the backups go (the installer's:
    beside our settings, not beside each client's config, so none pile up in the home folder).
    """
    pending = [change for change in changes if change.action != "unchanged"]
    for change in pending:
        if read_text_or_none(change.path) != change.old:
            raise FileChangedError(
                f"{change.path} changed on disk after the installer read it; nothing was written.",
                hint=_RERUN_HINT,
            )
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    backups: list[Path] = []
    with _interrupts_between_files() as stop_if_interrupted:
        for change in pending:
            stop_if_interrupted()
            backups += _apply_one(change, stamp, backup_dir)
            if written is not None:
                written.append(change.path)
    return backups


def _apply_one(change: FileChange, stamp: str, backup_dir: Path | None) -> list[Path]:
    # Write through a symlink (e.g. a dotfiles-managed config) instead of replacing the link itself.
    target = Path(os.path.realpath(change.path))
    try:
        backup = _backup(target, stamp, change.secrets, backup_dir) if change.old is not None else None
        _make_folders(target.parent)
        _replace(target, change.new, change.mode)
    except OSError as exc:
        raise ConfigFileError(
            f"Could not write {change.path}: {exc.strerror or exc}.",
            hint="Files listed before it were written; that file itself is unchanged.",
        ) from exc
    return [backup] if backup is not None else []


@contextlib.contextmanager
def _interrupts_between_files() -> Iterator[Callable[[], None]]:
    """Hold Ctrl-C while a file is being written; raise it between files."""
    import signal
    import threading

    arrived: list[int] = []

    def check() -> None:
        if arrived:
            arrived.clear()
            raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield lambda: None
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: arrived.append(signum))
    try:
        yield check
    finally:
        signal.signal(signal.SIGINT, previous)
    check()


def unwritable(changes: Sequence[FileChange]) -> list[str]:
    """Why each pending change could not be written, checked before the first write (so nothing is
    half-done): a folder without write permission, or a path that is not a file."""
    problems = []
    for change in changes:
        if change.action == "unchanged":
            continue
        target = Path(os.path.realpath(change.path))
        folder = target.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if target.exists() and not target.is_file():
            problems.append(f"{change.path} is not a file")
        elif not folder.is_dir():
            problems.append(f"{folder} is a file, not a folder (needed for {change.path})")
        elif not os.access(folder, os.W_OK | os.X_OK):
            problems.append(f"{folder} is not writable by you (needed for {change.path})")
    return problems


def read_only(changes: Sequence[FileChange]) -> list[Path]:
    """Existing files that are marked read-only: they are replaced only when the person agrees."""
    return [c.path for c in changes if c.action == "update" and not os.access(c.path, os.W_OK)]


def backup_folder(env_file: Path) -> Path:
    """Where the installer keeps its backups: beside our settings."""
    return env_file.parent / "backups"


def backup_name(path: Path) -> str:
    """A backup's name in the backup folder: the file's whole path, readable, as one name."""
    return re.sub(r"[\\/:]+", "%", str(path)).strip("%")


def _backup(path: Path, stamp: str, secrets: Sequence[str] = (), folder: Path | None = None) -> Path:
    if folder is not None:
        _make_folders(folder)
    base = (folder / backup_name(path)) if folder is not None else path
    backup = base.with_name(f"{base.name}.bak-{stamp}")
    counter = 0
    while backup.exists():  # two runs in one second must not overwrite the first backup
        counter += 1
        backup = base.with_name(f"{base.name}.bak-{stamp}-{counter}")
    if secrets:  # no secret is ever in clear in a backup (it lives on in the file itself, or was removed)
        text = read_text_or_none(path) or ""
        _replace(backup, mask_secrets(text, secrets), stat.S_IMODE(path.stat().st_mode) & 0o600 or 0o600)
    else:
        shutil.copy2(path, backup)  # copy2 keeps the mode: a backup of a private file stays private
    _prune_backups(base)
    return backup


_OUR_BACKUP = re.compile(r"\.bak-\d{8}-\d{6}(-\d+)?")


def _prune_backups(path: Path) -> None:
    """Keep the first backup (the file as it was before we ever touched it) and the last few; only names
    of our own pattern are candidates, never a person's own `.bak-2023` copy."""
    ours = sorted((p for p in path.parent.glob(f"{glob.escape(path.name)}.bak-*")
                   if _OUR_BACKUP.fullmatch(p.name[len(path.name):])), key=lambda p: p.name)
    for old in ours[1:-KEEP_BACKUPS]:
        with contextlib.suppress(OSError):
            old.unlink()


def _make_folders(folder: Path) -> None:
    # mkdir(parents=True) gives intermediate folders the default mode; ours may hold secrets.
    missing: list[Path] = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir(mode=0o700, exist_ok=True)


def _replace(path: Path, text: str, mode: int | None) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    # A secret file is private from its first byte; others get the umask's default via 0o666.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if mode is not None else 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        elif path.exists():
            os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))  # an update keeps the file's mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    # Makes the rename itself durable on POSIX; Windows cannot open folders this way.
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
