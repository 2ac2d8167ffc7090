"""What a memory record may hold, checked in one place for every way in and every way out.

Every way in (the tools, the dashboard, every import, sync pulls) builds or checks its memory here, so a record
that one path would refuse cannot arrive through another. Reading applies the same structural rules
(`unreadable`): a stored record that breaks them (written by an older version, or by hand) is skipped with a
note instead of breaking a listing or a search, and health reports it.

Two sets of bounds:
- the **write** bounds, what a new or changed record may hold (the tools' limits);
- the **read** bounds, what a stored record must hold to be shown at all: the right types, times that are real
  dates, metadata that is a JSON object of bounded depth, content within the hard cap. A record within the read
  bounds but over a write bound (another device's longer content limit) is still shown.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from server.errors import InvalidInputError
from server.record.memory import Memory, UnreadableRecord, decode_row, iso_utc

MAX_TAGS = 50
MAX_TAG_LENGTH = 100
MAX_TYPE_LENGTH = 100
MAX_METADATA_CHARS = 10_000
# Objects and lists inside one another. JSON nested a few hundred deep made clients time out on listings and the
# server fail its answer (recursion in validators and encoders); real metadata is a few levels deep.
MAX_METADATA_DEPTH = 20
# The most any record can hold, whatever the device's own limit (D1 stores at most 1 MB per value).
HARD_CONTENT_LIMIT = 1_000_000
HARD_METADATA_CHARS = 1_000_000
# Times are epoch seconds between 1970 and the year 9999: what every clock and ISO date can say.
LATEST_TIME = 253_402_300_799.0

_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\x00"), None)


def content_hash(content: str) -> str:
    """sha256 of the stripped, lower-cased content: the identity of a memory on every backend."""
    return hashlib.sha256(content.strip().lower().encode("utf-8")).hexdigest()


def visible(text: str) -> str:
    """The text without zero-width characters and NULs, stripped: what a person would see of it."""
    return text.translate(_INVISIBLE).strip()


def check_content(value: Any, limit: int, name: str = "content") -> str:
    if not isinstance(value, str):
        raise InvalidInputError(f"{name} must be text; got {type(value).__name__}.")
    text = value.strip()
    if not visible(text):  # nothing but spaces, zero-width characters or NULs is empty too
        raise InvalidInputError(f"{name} is empty; give some text.")
    limit = min(limit, HARD_CONTENT_LIMIT)
    if len(text) > limit:
        raise InvalidInputError(f"{name} is {len(text)} characters; the limit is {limit} "
                                "(MCP_MEMORY_MAX_CONTENT_LENGTH). Split it into several memories.")
    return text


def check_tags(tags: Any) -> tuple[str, ...]:
    """Strip, lower-case and de-duplicate, keeping first-seen order. A string is split on commas."""
    if tags is None:
        return ()
    if isinstance(tags, str):
        items: list[Any] = tags.split(",")
    elif isinstance(tags, Sequence):
        items = list(tags)
    else:
        raise InvalidInputError(f"tags must be a list of strings or a comma-separated string; got {type(tags).__name__}.")
    if len(items) > MAX_TAGS * 4:  # far past the limit: do not normalise a million of them first
        raise InvalidInputError(f"{len(items)} tags given; the limit is {MAX_TAGS}.")
    seen: dict[str, None] = {}
    for item in items:
        if not isinstance(item, str):
            raise InvalidInputError(f"Each tag must be a string; got {item!r}."[:200])
        tag = item.strip().lower()
        if len(tag) > MAX_TAG_LENGTH:
            raise InvalidInputError(f"Tag {tag[:30]!r}... is {len(tag)} characters; the limit is {MAX_TAG_LENGTH}.")
        if tag:
            seen.setdefault(tag)
    if len(seen) > MAX_TAGS:
        raise InvalidInputError(f"{len(seen)} tags given; the limit is {MAX_TAGS}.")
    return tuple(seen)


def check_type(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInputError(f"memory_type must be text; got {type(value).__name__}.")
    text = value.strip().lower()
    if len(text) > MAX_TYPE_LENGTH:
        raise InvalidInputError(f"memory_type is {len(text)} characters; the limit is {MAX_TYPE_LENGTH}.")
    return text or None


def check_metadata(value: Any, allow_null: bool = False, limit: int = MAX_METADATA_CHARS) -> dict[str, Any]:
    """A JSON object of plain values, nested at most MAX_METADATA_DEPTH deep, at most `limit` characters as JSON.
    `allow_null`: keep keys set to None (an update's "remove this key"); otherwise they are dropped."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInputError("metadata must be a JSON object.")
    problem = _structure_problem(value)
    if problem is not None:
        raise InvalidInputError(f"metadata {problem}.")
    try:
        encoded = json.dumps(dict(value), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"metadata must be plain JSON (strings, numbers, lists, objects): {exc}.") from exc
    if len(encoded) > limit:
        raise InvalidInputError(f"metadata is {len(encoded)} characters as JSON; the limit is {limit}.")
    if allow_null:
        return dict(value)
    return {k: v for k, v in value.items() if v is not None}


def check_time(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInputError(f"{name} must be a number of seconds since 1970; got {value!r}."[:200])
    seconds = float(value)
    if not math.isfinite(seconds) or not 0.0 <= seconds <= LATEST_TIME:
        raise InvalidInputError(f"{name} must be a time between 1970 and 9999; got {value!r}.")
    return seconds


def checked(memory: Memory, content_limit: int) -> Memory:
    """`memory` with every field checked against the write bounds and normalised as the tools do (tags and type
    lower-cased, the hash our rule's, the ISO times from the epoch ones). Raises InvalidInputError naming the
    field. For records that arrive whole: imports and sync pulls."""
    content = check_content(memory.content, content_limit)
    created = check_time("created_at", memory.created_at)
    updated = check_time("updated_at", memory.updated_at)
    return Memory(content=content, content_hash=content_hash(content), tags=check_tags(memory.tags),
                  memory_type=check_type(memory.memory_type), metadata=check_metadata(memory.metadata),
                  created_at=created, created_at_iso=iso_utc(created), updated_at=max(updated, created),
                  updated_at_iso=iso_utc(max(updated, created)))


def write_problem(memory: Memory, content_limit: int) -> str | None:
    """Why `memory` could not be stored as it is through the tools (None when it could). For records that must
    be kept exactly as they are (a sync pull): refused when bad, never rewritten."""
    try:
        checked(memory, content_limit)
    except InvalidInputError as exc:
        return str(exc)
    return None


def unreadable(memory: Memory) -> str | None:
    """Why a stored record cannot be shown (None when it can): the read bounds, checked on every row read."""
    if not isinstance(memory.content, str) or not memory.content or len(memory.content) > HARD_CONTENT_LIMIT:
        return "its content is not text, or is empty, or is over 1,000,000 characters"
    if not isinstance(memory.tags, tuple) or not all(isinstance(t, str) for t in memory.tags):
        return "its tags are not a list of strings"
    if memory.memory_type is not None and not isinstance(memory.memory_type, str):
        return "its type is not text"
    for name in ("created_at", "updated_at"):
        value = getattr(memory, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not 0.0 <= value <= LATEST_TIME:
            return f"its {name} is not a time between 1970 and 9999 ({value!r})"[:200]
    if not isinstance(memory.metadata, Mapping):
        return "its metadata is not a JSON object"
    problem = _structure_problem(memory.metadata)
    return None if problem is None else f"its metadata {problem}"


def _structure_problem(value: Mapping[str, Any]) -> str | None:
    """Depth, key types and numbers of a JSON-like value, walked without recursion (a value nested 100,000 deep
    must not exhaust the stack of the thread checking it)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    nodes = 0
    while stack:
        item, depth = stack.pop()
        nodes += 1
        if nodes > HARD_METADATA_CHARS:
            return "is too large"
        if isinstance(item, Mapping):
            if depth > MAX_METADATA_DEPTH:
                return f"is nested more than {MAX_METADATA_DEPTH} levels deep"
            for key, inner in item.items():
                if not isinstance(key, str):
                    return f"has a key that is not text ({key!r})"[:200]
                stack.append((inner, depth + 1))
        elif isinstance(item, (list, tuple)):
            if depth > MAX_METADATA_DEPTH:
                return f"is nested more than {MAX_METADATA_DEPTH} levels deep"
            stack.extend((inner, depth + 1) for inner in item)
        elif isinstance(item, float) and not math.isfinite(item):
            return f"holds a number JSON cannot carry ({item!r})"
        elif not (item is None or isinstance(item, (str, int, float, bool))):
            return f"holds a value that is not JSON ({type(item).__name__})"
    return None


def from_row(values: Mapping[str, Any]) -> Memory:
    """The memory in a stored row's values (by column name); raises UnreadableRecord when the row breaks the read
    bounds, so one bad record is skipped rather than breaking a listing or a search."""
    memory = decode_row(values)
    problem = unreadable(memory)
    if problem is not None:
        raise UnreadableRecord(values.get("content_hash"), problem)
    return memory
