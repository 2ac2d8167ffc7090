"""Merge one MCP server entry into a client's JSON config, keeping everything else.

Only our entry is touched, as text: other servers, unknown keys, their layout, and a VS Code file's comments
keep every byte. When nothing changes, the original text is returned as is.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from installer import jsonedit
from installer.errors import ConfigFileError

_FIX_HINT = "Fix the file or move it aside, then run the installer again."


def set_server_entry(
    old_text: str | None, path: Path, container: Sequence[str], name: str, entry: Mapping[str, Any] | None
) -> str:
    """The config text with ``container[...][name]`` set to ``entry``, or removed when ``entry`` is None.

    Edited as text (installer/jsonedit.py): every other byte stays as it was, the person's own entries keep
    their layout, a new member takes the indentation of its neighbours, and a VS Code `mcp.json` keeps its
    comments and trailing commas. A TOML file (the Codex CLI's) goes to tomlconfig, which keeps its comments.
    """
    if path.suffix == ".toml":
        from installer import tomlconfig

        return tomlconfig.set_server_entry(old_text, path, container, name, entry)
    return set_value(old_text, path, container, name, None if entry is None else dict(entry))


def set_value(old_text: str | None, path: Path, container: Sequence[str], name: str, entry: Any) -> str:
    """A JSON config's text with ``container[...][name]`` set to ``entry`` (any JSON value), or removed when
    it is None; edited as text, as set_server_entry says."""
    text = old_text or ""
    if not text.strip():
        if entry is None:
            return old_text or ""
        value: Any = {name: entry}
        for key in reversed(container):
            value = {key: value}
        return json.dumps(value, indent=2, ensure_ascii=False) + "\n"
    root = _parse_tree(text, path)
    ascii_only = _escapes_non_ascii(text)
    if entry is None:
        servers = _walk_tree(root, path, container)
        return jsonedit.remove_member(text, servers, name) if servers is not None else text
    for depth in range(len(container)):  # make the containers that are missing, outermost first
        if _walk_tree(root, path, container[:depth + 1]) is None:
            parent = _walk_tree(root, path, container[:depth])
            assert parent is not None
            text = jsonedit.set_member(text, parent, container[depth], {}, ascii_only)
            root = _parse_tree(text, path)
    servers = _walk_tree(root, path, container)
    assert servers is not None
    current = servers.member(name)
    if current is not None and current.value.value == entry:
        return old_text or ""
    return jsonedit.set_member(text, servers, name, entry, ascii_only)


def remove_if_empty(text: str, path: Path, container: Sequence[str]) -> str:
    """The text without the container when it holds nothing (for a container we created, at --uninstall)."""
    if path.suffix == ".toml" or not text.strip() or not container:
        return text
    root = _parse_tree(text, path)
    servers = _walk_tree(root, path, container)
    if servers is None or servers.members:
        return text
    parent = _walk_tree(root, path, container[:-1])
    assert parent is not None
    return jsonedit.remove_member(text, parent, container[-1])


def has_container(text: str | None, path: Path, container: Sequence[str]) -> bool:
    """Whether the config already holds the container (before we add our entry to it)."""
    if path.suffix == ".toml":
        from installer import tomlconfig

        return tomlconfig.has_container(text, path, container)
    if not text or not text.strip():
        return False
    return _walk_tree(_parse_tree(text, path), path, container) is not None


def accepts_comments(path: Path) -> bool:
    """VS Code reads its `mcp.json` as JSONC (comments, trailing commas); the other clients read plain JSON."""
    return path.name == "mcp.json" and (path.parent.name == ".vscode" or path.parent.parent.name == "Code")


def _parse_tree(text: str, path: Path) -> jsonedit.ObjectNode:
    try:
        root = jsonedit.parse(text, comments=accepts_comments(path))
    except jsonedit.JsonSyntaxError as exc:
        raise ConfigFileError(f"{path} is not valid JSON ({exc}); it was left untouched.", hint=_FIX_HINT) from exc
    if not isinstance(root, jsonedit.ObjectNode):
        raise ConfigFileError(f"{path} holds {_kind(root.value)}, not a JSON object; it was left untouched.",
                              hint=_FIX_HINT)
    return root


def _walk_tree(root: jsonedit.ObjectNode, path: Path, container: Sequence[str]) -> jsonedit.ObjectNode | None:
    node: jsonedit.ObjectNode = root
    for depth, key in enumerate(container):
        member = node.member(key)
        if member is None:
            return None
        if not isinstance(member.value, jsonedit.ObjectNode):
            raise ConfigFileError(
                f"{path}: {_dotted(container[: depth + 1])} is {_kind(member.value.value)}, not an object; "
                "it was left untouched.",
                hint=_FIX_HINT,
            )
        node = member.value
    return node


def _escapes_non_ascii(text: str | None) -> bool:
    return text is not None and "\\u" in text and text.isascii()


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


def get_object(text: str | None, path: Path, container: Sequence[str]) -> dict[str, Any]:
    """The JSON object at `container` (a copy), {} when the file or the object is absent."""
    found = _walk(_parse(text, path), path, container, create=False)
    return copy.deepcopy(found) if found else {}


def _parse(text: str | None, path: Path) -> dict[str, Any]:
    if text is None or not text.strip():
        return {}
    return dict(_parse_tree(text, path).value)


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
