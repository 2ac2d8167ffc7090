"""The server's one user-facing error tree.

Every message is written for the person (or model) who can act on it: it says what was wrong and what
to do. Foreign errors (sqlite3, onnxruntime, OS) are translated where they happen, with ``raise ... from``.

    MemoryServerError
    ├── SettingsError          a setting has a bad value; start-up stops
    ├── StorageError           the database cannot be opened, migrated or written
    │   ├── DriverUnavailableError   no SQLite driver here can load sqlite-vec
    │   └── ForeignDatabaseError     the database file is another program's: we never write to it
    ├── ImportSourceError      a file to import from is not a database we can read
    ├── UsageError             a command was given something it cannot work with (exit code 2)
    ├── EmbeddingError         the embedding engine cannot load or run
    └── InvalidInputError      the caller sent something to fix (becomes an MCP tool error)
        ├── NotFoundError      no memory with that content hash
        └── TimeParseError     a time phrase that cannot be understood
"""

from __future__ import annotations


class MemoryServerError(Exception):
    """Base of every error this server raises on purpose."""


class SettingsError(MemoryServerError):
    """A setting (environment variable or .env entry) has a value that is not allowed."""

    def __init__(self, variable: str, value: object, allowed: str) -> None:
        self.variable = variable
        self.value = value
        self.allowed = allowed
        super().__init__(f"{variable}={value!r} is not valid: {allowed}")


class StorageError(MemoryServerError):
    """The storage backend failed in a way the caller cannot fix by changing its input."""


class DriverUnavailableError(StorageError):
    """No SQLite driver in this environment can load the sqlite-vec extension."""


class ForeignDatabaseError(StorageError):
    """The database path holds another program's file (e.g. mcp-memory-service's); it is left untouched."""


class ImportSourceError(MemoryServerError):
    """The file named to import from cannot be read as a memory database."""


class UsageError(MemoryServerError):
    """A command's argument or setting names something it cannot use (a file that is not ours, not a file)."""


class EmbeddingError(MemoryServerError):
    """The embedding engine could not be loaded or could not embed."""


class InvalidInputError(MemoryServerError):
    """The caller's input is wrong; the message says what to change."""


class NotFoundError(InvalidInputError):
    """The memory the caller named does not exist."""


class TimeParseError(InvalidInputError):
    """A natural-language time expression could not be understood."""


class PortInUseError(MemoryServerError):
    """The HTTP server cannot hold its port (exit code 2, with the one line that says what to do)."""


# What the command line answers with: 2 when the caller must change what they asked (arguments, settings, input),
# 1 when what was asked failed.
USAGE_ERRORS = (SettingsError, UsageError, ImportSourceError, InvalidInputError, ForeignDatabaseError)


def exit_code(exc: MemoryServerError) -> int:
    return 2 if isinstance(exc, USAGE_ERRORS) else 1
