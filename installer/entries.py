"""Which name our server goes under in a client's config, without taking another program's entry.

`memory` is the usual name of the leading project's entry (and of `@modelcontextprotocol/server-memory`).
An entry of that name that is not ours is never replaced silently: ours goes under `mcp-memory` unless
the person says to replace it. A replaced entry is kept in a record beside our `.env` (mode 0600: entries
can carry tokens), so `--uninstall` puts it back.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from installer.errors import ConfigFileError
from installer.files import FileChange, read_text_or_none, secret_values
from installer.jsonconfig import get_servers

PREFERRED_NAME = "memory"
ALTERNATE_NAME = "mcp-memory"
RECORD_NAME = "replaced-client-entries.json"
MCP_SERVERS = ("mcpServers",)  # where most clients keep their servers


def is_ours(entry: Any) -> bool:
    """Our entries run `<python> -I -m server` with MCP_MEMORY_ENV_FILE (see plan.server_entry)."""
    if not isinstance(entry, Mapping):
        return False
    args = entry.get("args") or []
    env = entry.get("env") or {}
    return isinstance(args, list) and args[-2:] == ["-m", "server"] and isinstance(env, Mapping) \
        and "MCP_MEMORY_ENV_FILE" in env


def describe(entry: Any) -> str:
    """The command an entry runs, for a prompt or a message."""
    if not isinstance(entry, Mapping):
        return "an entry that is not an object"
    if entry.get("url"):
        return f"a remote server at {entry['url']}"
    parts = [str(entry.get("command", "")), *(str(a) for a in entry.get("args") or [])]
    return shlex.join(p for p in parts if p) or "an entry without a command"


@dataclass(frozen=True)
class Slot:
    """Where our entry goes in one config: its name, and the foreign entry it replaces (if any)."""

    name: str
    replaces: Mapping[str, Any] | None = None


def foreign_entry(config: Path | None, name: str = PREFERRED_NAME,
                  container: tuple[str, ...] = MCP_SERVERS) -> Mapping[str, Any] | None:
    """The entry called `name` in `config` when it is not ours; None when absent, ours, or unreadable
    (an unreadable config is reported by the plan, which refuses to touch it)."""
    servers = servers_in(config, container)
    entry = servers.get(name)
    if name not in servers or is_ours(entry):
        return None
    return entry if isinstance(entry, Mapping) else {"invalid": entry}


def choose_slot(config: Path | None, replace_existing: bool, container: tuple[str, ...] = MCP_SERVERS) -> Slot:
    servers = servers_in(config, container)
    ours = [name for name, entry in servers.items() if is_ours(entry)]
    if ours:  # a re-run keeps the name chosen before
        return Slot(PREFERRED_NAME if PREFERRED_NAME in ours else ours[0])
    if PREFERRED_NAME not in servers:
        return Slot(PREFERRED_NAME)
    if replace_existing:
        entry = servers[PREFERRED_NAME]
        return Slot(PREFERRED_NAME, entry if isinstance(entry, Mapping) else {"invalid": entry})
    name, n = ALTERNATE_NAME, 1
    while name in servers:  # taken too, and not ours
        n += 1
        name = f"{ALTERNATE_NAME}-{n}"
    return Slot(name)


def our_names(config: Path | None, container: tuple[str, ...] = MCP_SERVERS) -> list[str]:
    return [name for name, entry in servers_in(config, container).items() if is_ours(entry)]


def servers_in(config: Path | None, container: tuple[str, ...] = MCP_SERVERS) -> dict[str, Any]:
    """The config's server entries; {} when it is absent or unreadable (the plan reports unreadable ones)."""
    if config is None:
        return {}
    try:
        return get_servers(read_text_or_none(config), config, container)
    except ConfigFileError:
        return {}


# -- the record of replaced entries, for --uninstall ---------------------------------------------------

def record_path(env_file: Path) -> Path:
    return env_file.with_name(RECORD_NAME)


CREATED = "created-containers"  # a key no config path can be: the containers our entries made, per config


def _read_all(env_file: Path) -> dict[str, Any]:
    text = read_text_or_none(record_path(env_file))
    if not text:
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigFileError(f"{record_path(env_file)} is not valid JSON ({exc.msg}); it was left untouched.",
                              hint="Fix or move the file, then run the installer again.") from exc
    return data if isinstance(data, dict) else {}


def read_record(env_file: Path) -> dict[str, dict[str, Any]]:
    """{config path: {entry name: the original entry}}."""
    return {k: v for k, v in _read_all(env_file).items() if k != CREATED and isinstance(v, dict)}


def read_created(env_file: Path) -> dict[str, list[str]]:
    """{config path: the container (e.g. ["mcpServers"]) that our entry created there}: removed with it."""
    created = _read_all(env_file).get(CREATED)
    return created if isinstance(created, dict) else {}


def record_change(env_file: Path, replaced: Mapping[Path, Slot],
                  created: Mapping[Path, tuple[str, ...]] | None = None) -> FileChange | None:
    """The record with these replacements added (an entry replaced before keeps its first original), and the
    containers our entries create now (so --uninstall takes them away again, as they were not there)."""
    path = record_path(env_file)
    old = read_text_or_none(path)
    data = _read_all(env_file)
    for config, slot in replaced.items():
        if slot.replaces is not None:
            data.setdefault(str(config), {}).setdefault(slot.name, dict(slot.replaces))
    for config, container in (created or {}).items():
        data.setdefault(CREATED, {}).setdefault(str(config), list(container))
    new = json.dumps(data, indent=2, ensure_ascii=False) + "\n" if data else (old or "")
    change = FileChange(path, old, new, mode=0o600, secrets=_secret_values(data),
                        label="replaced client entries (restored by --uninstall)")
    return change if change.action != "unchanged" else None


def record_without(env_file: Path, configs: list[Path]) -> FileChange | None:
    """The record with what --uninstall restores now taken out (the file is emptied when nothing is left)."""
    path = record_path(env_file)
    old = read_text_or_none(path)
    record = _read_all(env_file)
    data = {k: v for k, v in record.items() if k not in {str(c) for c in configs}}
    if isinstance(data.get(CREATED), dict):
        data[CREATED] = {k: v for k, v in data[CREATED].items() if k not in {str(c) for c in configs}}
        if not data[CREATED]:
            del data[CREATED]
    new = json.dumps(data, indent=2, ensure_ascii=False) + "\n" if data else "{}\n"
    change = FileChange(path, old, new, mode=0o600, secrets=_secret_values(record),
                        label="replaced client entries")
    return change if old is not None and change.action != "unchanged" else None


def _secret_values(data: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(value for key, entries in data.items() if key != CREATED for entry in (entries or {}).values()
                 if isinstance(entry, Mapping) for value in secret_values(entry.get("env") or {}))
