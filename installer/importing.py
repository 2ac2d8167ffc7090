"""Find an existing mcp-memory-service installation and import its memories into ours.

Where it looks: its default data folders per OS, MCP_MEMORY_SQLITE_PATH / MCP_MEMORY_BASE_DIR in the
environment, and the client entries that run it (Claude Desktop, Claude Code), with their `env` and
the `.env` files it reads (its repo folder for `uv --directory`, `~/.mcp-memory/.env`). Every
candidate is identified read-only; only files that really are its databases are shown.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from installer.clients import Platform, claude_code_user_config_path, claude_desktop_config_path
from installer.envfile import read_env_values
from installer.errors import InstallerError, UsageError
from installer.files import read_text_or_none
from installer.entries import servers_in

FILE_NAME = "sqlite_vec.db"
PATH_KEYS = ("MCP_MEMORY_SQLITE_PATH", "MCP_MEMORY_SQLITEVEC_PATH")


@dataclass(frozen=True)
class Existing:
    path: Path
    description: str  # "an mcp-memory-service database (schema 19) with 11 memories"
    found_via: str  # "its default folder", "Claude Desktop entry 'memory'", ...
    unified_tools: bool = False  # made by its release 11.0 or later, whose tools are memory_store, memory_search, ...

    def line(self) -> str:
        return f"{self.path} ({self.description}; {self.found_via})"


def find_installations(platform: Platform) -> list[Existing]:
    from server.storage.local.identify import MCP_MEMORY_SERVICE, identify

    found: dict[Path, Existing] = {}
    for path, via in _candidates(platform):
        key = Path(os.path.realpath(path))
        if key in found:
            continue
        identity = identify(path)
        if identity.program == MCP_MEMORY_SERVICE:
            found[key] = Existing(path, identity.description, via, _unified_tools(path))
    return list(found.values())


def _unified_tools(path: Path) -> bool:
    """Whether its database was made by release 11.0 or later (the `store` column came with the new tools)."""
    import sqlite3

    from server.storage.local.identify import read_only

    try:
        with read_only(path) as conn:
            return "store" in {row[1] for row in conn.execute("PRAGMA table_info(memories)")}
    except sqlite3.Error:
        return False


def _candidates(p: Platform) -> Iterator[tuple[Path, str]]:
    for values, via in _settings_sources(p):
        for key in PATH_KEYS:
            if values.get(key, "").strip():
                yield Path(values[key].strip()).expanduser(), via
        if values.get("MCP_MEMORY_BASE_DIR", "").strip():
            yield Path(values["MCP_MEMORY_BASE_DIR"].strip()).expanduser() / FILE_NAME, via
    for folder in _default_folders(p):
        yield folder / FILE_NAME, "its default folder"


def _default_folders(p: Platform) -> list[Path]:
    if p.system == "Darwin":
        return [p.home / "Library" / "Application Support" / "mcp-memory"]
    if p.system == "Windows":
        return [Path(p.env.get("LOCALAPPDATA") or p.home / "AppData" / "Local") / "mcp-memory"]
    folders = [p.home / ".local" / "share" / "mcp-memory"]
    xdg = p.env.get("XDG_DATA_HOME", "")
    if xdg and os.path.isabs(xdg):
        folders.append(Path(xdg) / "mcp-memory")
    return folders


def _settings_sources(p: Platform) -> Iterator[tuple[Mapping[str, str], str]]:
    """Every place its settings may be: the environment, entries that run it, the .env files it reads."""
    yield p.env, "the environment"
    home_env = p.home / ".mcp-memory" / ".env"
    yield _env_file(home_env), str(home_env)
    for client, config in (("Claude Desktop", claude_desktop_config_path(p)),
                           ("Claude Code", claude_code_user_config_path(p))):
        for name, entry in servers_in(config).items():
            if not runs_mcp_memory_service(entry):
                continue
            via = f"{client} entry {name!r}"
            env = entry.get("env") if isinstance(entry.get("env"), Mapping) else {}
            yield {k: str(v) for k, v in env.items()}, via
            repo = _uv_directory(entry)
            if repo is not None:
                yield _env_file(repo / ".env"), via


def runs_mcp_memory_service(entry: Any) -> bool:
    """`memory server`, `uvx mcp-memory-service`, `uv --directory <repo> run memory`, `python -m
    mcp_memory_service.server`, a path into its repo or its pipx venv."""
    if not isinstance(entry, Mapping):
        return False
    words = [str(entry.get("command", "")), *(str(a) for a in entry.get("args") or [])]
    text = " ".join(words).lower()
    if "mcp-memory-service" in text or "mcp_memory_service" in text:
        return True
    command = Path(words[0]).name.lower()
    return command in ("memory", "memory.exe") or (command in ("uv", "uvx") and "memory" in words[1:])


def _uv_directory(entry: Mapping[str, Any]) -> Path | None:
    args = [str(a) for a in entry.get("args") or []]
    if "--directory" in args[:-1]:
        return Path(args[args.index("--directory") + 1]).expanduser()
    return None


def _env_file(path: Path) -> Mapping[str, str]:
    try:
        return read_env_values(read_text_or_none(path))
    except InstallerError:
        return {}


# -- running an import ----------------------------------------------------------------------------

def resolve_source(value: str, platform: Platform, flag: str = "--import-from") -> Path:
    """`auto` (what detection found) or a path; exits 2 naming the flag when it is neither."""
    if value == "auto":
        found = find_installations(platform)
        if not found:
            raise UsageError(f"{flag} auto: no mcp-memory-service database was found",
                             f"give its path: {flag} PATH (usually ~/.local/share/mcp-memory/{FILE_NAME})")
        return found[0].path
    return Path(value).expanduser().resolve()


def read_for_import(path: Path, flag: str = "--import-from") -> Any:
    """The source's rows, or a usage error (exit 2) that names the flag."""
    from server.errors import ImportSourceError
    from server.imports.mcp_memory_service import read_source

    try:
        return read_source(path)
    except ImportSourceError as exc:
        raise UsageError(f"{flag} {path}: {exc}", "give the path of an mcp-memory-service sqlite_vec.db") from exc


def run_import(source: Any, env_file: Path, dry_run: bool, say: Callable[[str], None]) -> Any:
    """Import `source` into the database the server configured by `env_file` uses; returns the report."""
    from server.errors import MemoryServerError
    from server.imports.run import import_candidates
    from server.settings import load_settings
    from server.backends import create_storage, open_local
    from server.storage.local.identify import identify

    say(f"Importing from {source.path}: {source.description}")
    named = {"MCP_MEMORY_ENV_FILE": str(env_file)} if env_file.is_file() else {}
    try:
        settings = load_settings({**os.environ, **named})
        if dry_run and settings.has_local_database and identify(settings.database_path).kind != "ours":
            # Nothing of ours yet: every memory would be new, and a dry run creates no database.
            return _report(import_candidates(_Empty(), source.candidates, dry_run=True,
                                             content_limit=settings.max_content_length), dry_run, say)
        if settings.has_local_database:  # hybrid: the local store, whose writes queue for the server's sync
            with open_local(settings) as target:
                report = import_candidates(target, source.candidates, dry_run=dry_run,
                                           content_limit=settings.max_content_length)
        else:
            storage = create_storage(settings)
            storage.open()
            try:
                report = import_candidates(storage, source.candidates, dry_run=dry_run,
                                           content_limit=settings.max_content_length)
            finally:
                storage.close()
    except MemoryServerError as exc:
        raise InstallerError(f"The import stopped: {exc}", "fix the cause and run it again: it resumes where it "
                             "stopped and never adds a memory twice") from exc
    return _report(report, dry_run, say)


def _report(report: Any, dry_run: bool, say: Callable[[str], None]) -> Any:
    for line in report.lines(dry_run):
        say(f"  {line}")
    if dry_run:
        say("Dry run: nothing was written.")
    return report


def preview_import(source: Any, database: Path | None, content_limit: int) -> Any:
    """What an import of `source` into `database` (ours; None for the cloudflare backend) would do, found
    read-only: the report of a dry run, counting what is there already (nothing is created or migrated)."""
    from server.imports.run import import_candidates
    from server.storage.local.identify import identify

    store: Any = _Empty()
    if database is not None and identify(database).kind == "ours":
        store = _ReadOnlyStore(database)
    return import_candidates(store, source.candidates, dry_run=True, progress=None, content_limit=content_limit)


class _ReadOnlyStore:
    """Our database, asked read-only which memories it holds and which it deleted (for a preview)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def known(self, hashes: Any) -> tuple[set[str], dict[str, float]]:
        from server.storage.local.identify import read_only

        present: set[str] = set()
        buried: dict[str, float] = {}
        hashes = list(hashes)
        with read_only(self.path) as conn:
            for start in range(0, len(hashes), 500):
                chunk = hashes[start:start + 500]
                marks = ",".join("?" * len(chunk))
                present |= {r[0] for r in conn.execute(
                    f"SELECT content_hash FROM memories WHERE content_hash IN ({marks})", chunk)}
                buried.update(conn.execute(
                    f"SELECT content_hash, deleted_at FROM tombstones WHERE content_hash IN ({marks})", chunk))
        return present, buried

    def import_batch(self, memories: Any) -> int:  # pragma: no cover - a preview stores nothing
        raise AssertionError("a preview stores nothing")


class _Empty:
    """A store with nothing in it, for a dry run before our database exists."""

    def known(self, hashes: Any) -> tuple[set[str], dict[str, float]]:
        return set(), {}

    def import_batch(self, memories: Any) -> int:  # pragma: no cover - dry runs never store
        raise AssertionError("a dry run stores nothing")

