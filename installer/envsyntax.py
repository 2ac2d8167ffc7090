"""How a value is written in a .env file so that python-dotenv (the server's reader) reads it back exactly."""

from __future__ import annotations

import re

# Unquoted values are cut at " #", stripped, and must not start with a quote: quote anything risky.
_NEEDS_QUOTES = re.compile(r"[\s#\"'=\\]")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def format_value(value: str) -> str:
    """The value as python-dotenv reads it back exactly: bare when safe, else double-quoted."""
    if value and value.isprintable() and not _NEEDS_QUOTES.search(value):
        return value
    return '"' + "".join(_ESCAPES.get(ch, ch) for ch in value) + '"'
