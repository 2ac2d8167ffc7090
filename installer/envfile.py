"""Key-wise updates of a ``.env`` file that keep everything else as it was.

The file is split with python-dotenv's own parser, so "which line sets KEY" means exactly what the
server will read (multi-line quoted values, ``export`` prefixes, comments). Only the keys being
updated are rewritten; every other byte stays.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping

from dotenv import dotenv_values
from dotenv.parser import parse_stream

from installer.envsyntax import format_value
from installer.errors import UsageError
from installer.templates import comment_for, render_new_env

DEFAULT_HEADER = "# Written by mcp-memory's installer"
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_LEADING_SPACE = re.compile(r"\s*")
_EXPORT = re.compile(r"export[^\S\r\n]+")
_LINE_END = re.compile(r"(\r\n|\n|\r)\Z")


def render_env(old_text: str | None, updates: Mapping[str, str | None], header: str = DEFAULT_HEADER) -> str:
    """``old_text`` with each key in ``updates`` set (or removed when None); idempotent."""
    for name, new_value in updates.items():
        _check(name, new_value)
    if old_text is None and any(v is not None for v in updates.values()):  # a new file: the template, with its comments (templates/env.template)
        old_text = render_new_env(updates)
    text = old_text or ""
    bom = "\ufeff" if text.startswith("\ufeff") else ""  # dotenv's reader drops it; we put it back
    newline = "\r\n" if "\r\n" in text else "\n"
    seen: set[str] = set()
    parts: list[str] = []
    for binding in parse_stream(io.StringIO(text)):
        chunk = binding.original.string
        key = binding.key
        if key is None or key not in updates:
            parts.append(chunk)
            continue
        value = updates[key]
        if value is None or key in seen:  # removed, or a later duplicate the server would read instead
            parts.append(_blank_lines_before(chunk))
        elif binding.value == value:
            parts.append(chunk)  # already right: keep its quoting and inline comment
        else:
            parts.append(_rewrite(chunk, key, value))
        seen.add(key)
    rendered = "".join(parts)
    new_keys = [(k, v) for k, v in updates.items() if v is not None and k not in seen]
    if new_keys:
        rendered = _append(rendered, new_keys, header, newline)
    return bom + rendered


def read_env_values(text: str | None) -> dict[str, str]:
    """The values the server would read from this text (keys without a value are left out)."""
    if text is None:
        return {}
    values = dotenv_values(stream=io.StringIO(text))
    return {k: v for k, v in values.items() if v is not None}


def _check(key: str, value: str | None) -> None:
    if not _KEY.match(key):
        raise ValueError(f"not an environment variable name: {key!r}")
    if value is not None and "${" in value:
        # python-dotenv expands ${NAME} in every quoting style and has no escape for it.
        raise UsageError(
            f"The value for {key} contains '${{', which .env files expand as a variable; it cannot be stored.",
            hint=f"Set {key} in the environment instead, or choose a value without '${{'.",
        )


def _blank_lines_before(chunk: str) -> str:
    # dotenv folds the blank lines above a binding into it; they belong to the layout, not the key.
    leading = _LEADING_SPACE.match(chunk)
    space = leading.group(0) if leading else ""
    return space[: max(space.rfind("\n"), space.rfind("\r")) + 1]


def _rewrite(chunk: str, key: str, value: str) -> str:
    before = _blank_lines_before(chunk)
    export = _EXPORT.match(chunk.lstrip())
    end = _LINE_END.search(chunk)
    return f"{before}{export.group(0) if export else ''}{key}={format_value(value)}{end.group(1) if end else ''}"


def _append(text: str, new_keys: list[tuple[str, str]], header: str, newline: str) -> str:
    if text and not text.endswith(("\n", "\r")):
        text += newline
    if header and header not in (line.strip() for line in text.splitlines()):
        if text.strip() and not text.endswith(newline * 2):
            text += newline  # one blank line between the user's part and ours
        text += header + newline
    shown: set[str] = set()
    for key, value in new_keys:  # each new key arrives with the template's comment, once per block
        comment = [line for line in comment_for(key) if line not in shown and line not in text]
        shown.update(comment)
        text += "".join(line + newline for line in comment) + f"{key}={format_value(value)}{newline}"
    return text
