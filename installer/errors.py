"""The installer's one user-facing error tree.

The CLI catches ``InstallerError`` once, prints its message on one line and its hint (if any) on the
next, and exits with ``exit_code``. Exception classes never print. Foreign errors (OS, JSON, HTTP) are
translated where they happen, with ``raise ... from``.

Exit codes: 0 ok, 1 failed, 2 usage (a missing or bad answer or flag), 130 interrupted (Ctrl-C).

    InstallerError        something failed; exit 1
    ├── UsageError        a missing or bad answer/flag; exit 2
    ├── ConfigFileError   a config file cannot be parsed or written; it is never overwritten
    └── FileChangedError  a file changed on disk between planning and writing; nothing was written
"""

from __future__ import annotations


class InstallerError(Exception):
    """Base of every error the installer raises on purpose; the message says what happened and what to do."""

    exit_code: int = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(InstallerError):
    """A required answer is missing or an answer/flag has a bad value."""

    exit_code = 2


class ConfigFileError(InstallerError):
    """A config file cannot be parsed or written. It is left as it was."""


class FileChangedError(InstallerError):
    """A file changed on disk after the installer read it, so its plan for that file is stale."""
