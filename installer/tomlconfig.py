"""Merge one MCP server table into a TOML config (the Codex CLI's), keeping comments and layout.

tomlkit edits the document in place, so the person's comments, key order and spacing survive; only the
`[<container>.<name>]` table changes. The same contract as jsonconfig: no change, same text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError

from installer.errors import ConfigFileError

_FIX_HINT = "Fix the file or move it aside, then run the installer again."


def set_server_entry(old_text: str | None, path: Path, container: Sequence[str], name: str,
                     entry: Mapping[str, Any] | None) -> str:
    doc = _parse(old_text, path)
    before = doc.unwrap()
    servers = _walk(doc, path, container, create=False)
    if entry is not None and (servers is None or name not in servers) and _headers_allowed(doc, container):
        # A new table goes at the end, as text: tomlkit would put it after the last table of the container,
        # between a comment and the table that comment introduces.
        text = old_text or ""
        table = tomlkit.dumps(_nested(container, name, _table(entry))).strip("\n")
        return (text.rstrip("\n") + "\n\n" if text.strip() else "") + table + "\n"
    servers = _walk(doc, path, container, create=entry is not None)
    if entry is None:
        if servers is not None and name in servers:
            del servers[name]
    else:
        assert servers is not None
        servers[name] = _table(entry)
    if doc.unwrap() == before:
        return old_text or ""
    text = tomlkit.dumps(doc)
    return text.rstrip("\n") + "\n" if text.strip() else ""  # no blank lines left where a table was


def has_container(text: str | None, path: Path, container: Sequence[str]) -> bool:
    return _walk(_parse(text, path), path, container, create=False) is not None


def _headers_allowed(doc: Any, container: Sequence[str]) -> bool:
    """A [container.name] header may be added: no key on the way is an inline table or a value."""
    node = doc
    for key in container:
        if key not in node:
            return True
        node = node[key]
        if not isinstance(node, tomlkit.items.Table):
            return False
    return True


def _nested(container: Sequence[str], name: str, table: Any) -> Any:
    doc = tomlkit.document()
    node: Any = doc
    for key in container:
        node[key] = tomlkit.table(is_super_table=True)
        node = node[key]
    node[name] = table
    return doc


def get_servers(text: str | None, path: Path, container: Sequence[str]) -> dict[str, Any]:
    servers = _walk(_parse(text, path), path, container, create=False)
    return servers.unwrap() if servers is not None else {}


def _table(entry: Mapping[str, Any]) -> Any:
    table = tomlkit.table()
    for key, value in entry.items():
        if isinstance(value, Mapping):  # env = { KEY = "value" }: one line, as Codex's docs write it
            inline = tomlkit.inline_table()
            inline.update(value)
            table[key] = inline
        else:
            table[key] = value
    return table


def _parse(text: str | None, path: Path) -> Any:
    try:
        return tomlkit.parse(text or "")
    except TOMLKitError as exc:
        raise ConfigFileError(f"{path} is not valid TOML ({exc}); it was left untouched.", hint=_FIX_HINT) from exc


def _walk(doc: Any, path: Path, container: Sequence[str], create: bool) -> Any:
    node = doc
    for key in container:
        if key not in node:
            if not create:
                return None
            node[key] = tomlkit.table(is_super_table=True)  # no empty [mcp_servers] header of its own
        node = node[key]
        if not isinstance(node, Mapping):
            raise ConfigFileError(f"{path}: {key} is not a table; it was left untouched.", hint=_FIX_HINT)
    return node
