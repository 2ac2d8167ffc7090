"""Merge one MCP server entry into a client's JSON config, keeping everything else.

Only our entry is touched; other servers and unknown keys keep their values and order. When nothing
changes, the original text is returned as is, so a re-run leaves the file byte-identical even if it
was formatted differently from how we would write it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from installer.errors import ConfigFileError

_FIX_HINT = "Fix the file or move it aside, then run the installer again."


def set_server_entry(
    old_text: str | None, path: Path, container: Sequence[str], name: str, entry: Mapping[str, Any] | None
) -> str:
    """The config text with ``container[...][name]`` set to ``entry``, or removed when ``entry`` is None.

    The file keeps its own indentation (two spaces, four, a tab), so the diff shows our entry, not the
    whole file re-indented. A TOML file (the Codex CLI's) goes to tomlconfig, which keeps its comments.
    """
    if path.suffix == ".toml":
        from installer import tomlconfig

        return tomlconfig.set_server_entry(old_text, path, container, name, entry)
    old = _parse(old_text, path)
    data = copy.deepcopy(old)
    if entry is None:
        servers = _walk(data, path, container, create=False)
        if servers is not None:
            servers.pop(name, None)
    else:
        servers = _walk(data, path, container, create=True)
        assert servers is not None  # create=True always returns the container
        servers[name] = copy.deepcopy(dict(entry))
    if data == old:
        return old_text or ""
    text = json.dumps(data, indent=_indent_of(old_text), ensure_ascii=_escapes_non_ascii(old_text))
    return text + ("" if old_text and not old_text.endswith("\n") else "\n")


def _indent_of(text: str | None) -> int | str:
    """The indentation of the file's first indented line: 2 for a new file."""
    for line in (text or "").splitlines()[1:]:
        stripped = line.lstrip(" \t")
        if stripped and len(stripped) < len(line):
            lead = line[: len(line) - len(stripped)]
            return lead if "\t" in lead else len(lead)
    return 2


def _escapes_non_ascii(text: str | None) -> bool:
    return bool(text) and "\\u" in text and text.isascii()


def get_server_entry(text: str | None, path: Path, container: Sequence[str], name: str) -> dict[str, Any] | None:
    """Our entry as stored, or None when the file, its container or the entry is absent."""
    servers = get_servers(text, path, container)
    if name not in servers:
        return None
    entry = servers[name]
    if not isinstance(entry, dict):
        raise ConfigFileError(
            f"{path}: the entry {_dotted([*container, name])} is {_kind(entry)}, not an object; "
            "it was left untouched.",
            hint=_FIX_HINT,
        )
    return entry


def get_servers(text: str | None, path: Path, container: Sequence[str] = ("mcpServers",)) -> dict[str, Any]:
    """Every server entry in the config (a copy), {} when the file or its container is absent."""
    if path.suffix == ".toml":
        from installer import tomlconfig

        return tomlconfig.get_servers(text, path, container)
    servers = _walk(_parse(text, path), path, container, create=False)
    return copy.deepcopy(servers) if servers else {}


def _parse(text: str | None, path: Path) -> dict[str, Any]:
    if text is None or not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigFileError(
            f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); "
            "it was left untouched.",
            hint=_FIX_HINT,
        ) from exc
    if not isinstance(data, dict):
        raise ConfigFileError(
            f"{path} holds {_kind(data)}, not a JSON object; it was left untouched.", hint=_FIX_HINT
        )
    return data


def _walk(data: dict[str, Any], path: Path, container: Sequence[str], create: bool) -> dict[str, Any] | None:
    node = data
    for depth, key in enumerate(container):
        child = node.get(key)
        if child is None and key not in node and create:
            child = node[key] = {}
        elif child is None and not create:
            return None
        if not isinstance(child, dict):
            raise ConfigFileError(
                f"{path}: {_dotted(container[: depth + 1])} is {_kind(child)}, not an object; "
                "it was left untouched.",
                hint=_FIX_HINT,
            )
        node = child
    return node


def _dotted(keys: Sequence[str]) -> str:
    return "".join(f"[{json.dumps(k, ensure_ascii=False)}]" for k in keys)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "a number"
    )
