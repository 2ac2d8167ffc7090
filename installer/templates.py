"""Render what the installer writes from the files in templates/ (see templates/README.md).

The Plan calls these; nothing here touches a config file, it only turns templates into text and values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from installer.envsyntax import format_value

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
_SETTING = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=\$\{([A-Za-z_][A-Za-z0-9_]*)\}\s*$")


def client_entry(template: str, python: Path, env_file: Path) -> dict[str, Any]:
    """A client's server entry: the template with {python} and {env_file} filled in."""
    values = {"{python}": str(python), "{env_file}": str(env_file)}
    return _fill(_load(template), values)


def render_new_env(values: Mapping[str, str | None]) -> str:
    """A new .env from env.template: each block keeps its comments and the settings that have a value;
    a block left without settings goes, and keys the template does not name are appended by the caller."""
    blocks = _blocks()
    out = []
    for index, block in enumerate(blocks):
        lines, settings = [], 0
        for line in block:
            match = _SETTING.match(line)
            if match is None:
                lines.append(line)
            elif values.get(match.group(2)) is not None:
                lines.append(f"{match.group(1)}={format_value(str(values[match.group(2)]))}")
                settings += 1
        if settings or index == 0:
            out.append("\n".join(lines))
    return "\n\n".join(out) + "\n"


def comment_for(key: str) -> list[str]:
    """The template's comment lines above `key`, for a key added to an existing .env."""
    for block in _blocks():
        if any((m := _SETTING.match(line)) and m.group(1) == key for line in block):
            return [line for line in block if line.startswith("#")]
    return []


@cache
def _blocks() -> tuple[tuple[str, ...], ...]:
    text = (TEMPLATES / "env.template").read_text(encoding="utf-8")
    return tuple(tuple(block.strip("\n").splitlines()) for block in re.split(r"\n\s*\n", text) if block.strip())


@cache
def _load(template: str) -> Any:
    text = (TEMPLATES / template).read_text(encoding="utf-8")
    if template.endswith(".toml"):
        import tomlkit

        return tomlkit.parse(text).unwrap()
    return json.loads(text)


def _fill(node: Any, values: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        for placeholder, value in values.items():
            node = node.replace(placeholder, value)
        return node
    if isinstance(node, list):
        return [_fill(item, values) for item in node]
    if isinstance(node, dict):
        return {key: _fill(item, values) for key, item in node.items()}
    return node
