"""Mistake notes, as mcp-memory-service keeps them: a memory of type `mistake`, tagged `mistake-note` and
`error-replay`, whose text is four lines (Pattern, Context, Wrong, Right) and whose metadata holds the four
fields, a `failure_count`, and a `logical_hash` naming the mistake (its pattern and context): recording the
same mistake again counts it instead of adding a second note.

Built on MemoryService alone, so notes sync, search and show on the dashboard like any memory."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from server.errors import InvalidInputError
from server.service import MemoryService, content_hash
from server.record import Memory
from server.storage.base import MemoryFilter, ScoredMemory

TYPE = "mistake"
TAGS = ("mistake-note", "error-replay")
FIELDS = ("error_pattern", "context_signature", "incorrect_action", "correct_action")
LINES = {"error_pattern": "Pattern", "context_signature": "Context", "incorrect_action": "Wrong",
         "correct_action": "Right"}
SCAN_PAGE = 500  # notes read per page while looking for one with the same logical hash


@dataclass(frozen=True)
class Recorded:
    memory: Memory
    created: bool  # False: a note for the same mistake existed, and its count went up
    failure_count: int


def logical_hash(error_pattern: str, context_signature: str) -> str:
    """One mistake, however its actions are worded: its pattern and context, case and spacing aside."""
    key = "\n".join(" ".join(part.split()).lower() for part in (error_pattern, context_signature))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def record(service: MemoryService, fields: Mapping[str, str]) -> Recorded:
    values = _checked(fields, FIELDS)
    key = logical_hash(values["error_pattern"], values["context_signature"])
    existing = _find(service, key)
    if existing is None:
        memory, _ = service.store(_text(values), list(TAGS), TYPE, {**values, "failure_count": 1, "logical_hash": key})
        return Recorded(memory, True, 1)
    count = _count(existing) + 1
    memory = _rewrite(service, existing, {**_fields(existing), **values}, count)
    return Recorded(memory, False, count)


def search(service: MemoryService, query: str, limit: int = 5) -> list[ScoredMemory]:
    return service.search(query, limit, where=MemoryFilter(tags=(TAGS[0],), memory_type=TYPE))


def update(service: MemoryService, content_hash: str, changes: Mapping[str, Any]) -> Memory:
    note = _note(service, content_hash)
    given = {k: v for k, v in changes.items() if v is not None}
    if not given:
        raise InvalidInputError("No fields to update: give failure_count or one of " + ", ".join(FIELDS) + ".")
    count = given.pop("failure_count", _count(note))
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InvalidInputError(f"failure_count must be a whole number >= 1; got {count!r}.")
    values = {**_fields(note), **_checked(given, tuple(given))}
    return _rewrite(service, note, values, count)


def delete(service: MemoryService, content_hash: str) -> str:
    note = _note(service, content_hash)
    service.delete(note.content_hash)
    return note.content_hash


def count(memory: Memory) -> int:
    return _count(memory)


def _rewrite(service: MemoryService, note: Memory, values: Mapping[str, str], failure_count: int) -> Memory:
    """The note with these fields and count: its metadata when the text is the same, else a new memory
    (new text, new hash) stored before the old one is deleted."""
    key = logical_hash(values["error_pattern"], values["context_signature"])
    metadata = {**values, "failure_count": failure_count, "logical_hash": key}
    text = _text(values)
    if content_hash(text) == note.content_hash:  # the same text but for case: the memory keeps its first wording
        return service.update_metadata(note.content_hash, metadata={**metadata, **_fields(note)})
    memory, _ = service.store(text, list(dict.fromkeys([*note.tags, *TAGS])), TYPE, {**note.metadata, **metadata})
    if memory.content_hash != note.content_hash:
        service.delete(note.content_hash)
    return memory


def _find(service: MemoryService, key: str) -> Memory | None:
    where = MemoryFilter(tags=(TAGS[0],), memory_type=TYPE)
    page = 0
    while True:
        notes, total = service.storage.page(where, page * SCAN_PAGE, SCAN_PAGE)
        for note in notes:
            if note.metadata.get("logical_hash") == key:
                return note
        page += 1
        if not notes or page * SCAN_PAGE >= total:
            return None


def _note(service: MemoryService, content_hash: str) -> Memory:
    memory = service.get(content_hash)
    if memory.memory_type != TYPE:
        raise InvalidInputError(f"{memory.content_hash} is not a mistake note (type={memory.memory_type}).")
    return memory


def _fields(note: Memory) -> dict[str, str]:
    """The note's four fields: from its metadata, or read back from its text."""
    found = {name: note.metadata[name] for name in FIELDS if isinstance(note.metadata.get(name), str)}
    for line in note.content.splitlines():
        label, _, value = line.partition(": ")
        for name, shown in LINES.items():
            if label == shown and name not in found:
                found[name] = value
    return {name: found.get(name, "") for name in FIELDS}


def _count(note: Memory) -> int:
    value = note.metadata.get("failure_count")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 1


def _checked(fields: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, str]:
    values = {}
    for name in names:
        value = fields.get(name)
        if name not in FIELDS:
            raise InvalidInputError(f"{name} is not a field of a mistake note ({', '.join(FIELDS)}).")
        if not isinstance(value, str) or not value.strip():
            raise InvalidInputError(f"{name} must not be empty.")
        values[name] = " ".join(value.split()) if name in ("error_pattern", "context_signature") else value.strip()
    return values


def _text(values: Mapping[str, str]) -> str:
    return "\n".join(f"{LINES[name]}: {values[name]}" for name in FIELDS)
