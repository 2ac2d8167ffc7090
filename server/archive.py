"""Export memories to JSON Lines or Markdown, and read such a file back for import.

Both formats are lossless for our own memories: content, hash, tags, type, metadata and both times. JSON
Lines is one memory per line. Markdown is for reading: a heading per memory, its fields as one JSON line,
and its content in a fence longer than any run of backticks inside it, so any text survives.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from server.imports.mcp_memory_service import Candidate
from server.service import content_hash
from server.storage.base import Memory, MemoryFilter

FORMATS = ("jsonl", "markdown")
FIELDS = ("content", "content_hash", "tags", "memory_type", "metadata", "created_at", "created_at_iso",
          "updated_at", "updated_at_iso")
MARKDOWN_HEADER = "# mcp-memory export\n\n"
PAGE = 500


def memories(storage: Any) -> Iterator[Memory]:
    """Every memory, newest first, a page at a time (no full load into memory)."""
    offset = 0
    while True:
        page, _ = storage.list(MemoryFilter(), offset, PAGE)
        yield from page
        if len(page) < PAGE:
            return
        offset += PAGE


def as_record(memory: Memory) -> dict[str, Any]:
    record = {name: getattr(memory, name) for name in FIELDS}
    record["tags"] = list(memory.tags)
    record["metadata"] = dict(memory.metadata)
    return record


def write(storage: Any, out: IO[str], fmt: str) -> int:
    count = 0
    if fmt == "markdown":
        out.write(MARKDOWN_HEADER)
    for memory in memories(storage):
        record = as_record(memory)
        if fmt == "jsonl":
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            content = record.pop("content")
            fence = "`" * max(3, _longest_backtick_run(content) + 1)
            out.write(f"## {memory.created_at_iso} · {memory.content_hash[:12]}\n\n"
                      f"{json.dumps(record, ensure_ascii=False)}\n\n{fence}text\n{content}\n{fence}\n\n")
        count += 1
    return count


def read(path: Path) -> list[Candidate]:
    """The memories of an export file, as import candidates (a bad entry is a failed one, not a stop)."""
    with path.open(encoding="utf-8", newline="") as f:  # content keeps its own line ends (\r\n, \r)
        text = f.read()
    records = _markdown_records(text) if text.startswith(MARKDOWN_HEADER.strip()) else _jsonl_records(text)
    return [_candidate(n, record) for n, record in records]


def _jsonl_records(text: str) -> Iterator[tuple[int, Any]]:
    for n, line in enumerate(text.split("\n"), 1):  # not splitlines(): JSON leaves U+2028 as it is
        if line.strip():
            try:
                yield n, json.loads(line)
            except json.JSONDecodeError as exc:
                yield n, f"line {n} is not JSON ({exc.msg})"


_ENTRY = re.compile(r"^## .*\n\n(\{.*\})\n\n(`{3,})text\n", re.MULTILINE)


def _markdown_records(text: str) -> Iterator[tuple[int, Any]]:
    position = 0
    while (match := _ENTRY.search(text, position)) is not None:
        fence = match.group(2)
        end = text.find(f"\n{fence}\n", match.end() - 1)
        if end < 0:
            yield text.count("\n", 0, match.start()) + 1, "the content's closing fence is missing"
            return
        line = text.count("\n", 0, match.start()) + 1
        try:
            record = json.loads(match.group(1))
            record["content"] = text[match.end():end]
        except (json.JSONDecodeError, TypeError) as exc:
            record = f"line {line + 2}: the fields are not a JSON object ({exc})"
        yield line, record
        position = end + len(fence) + 2


def _candidate(line: int, record: Any) -> Candidate:
    if isinstance(record, str):
        return Candidate(f"line {line}", None, "failed", record)
    try:
        content = record["content"]
        hash_ = content_hash(content)  # our rule: a file edited by hand gets the hash its content has
        memory = Memory(content=content, content_hash=hash_, tags=tuple(record.get("tags") or ()),
                        memory_type=record.get("memory_type"), metadata=dict(record.get("metadata") or {}),
                        created_at=float(record["created_at"]), created_at_iso=record["created_at_iso"],
                        updated_at=float(record["updated_at"]), updated_at_iso=record["updated_at_iso"])
    except (KeyError, TypeError, ValueError) as exc:
        return Candidate(f"line {line}", None, "failed", f"line {line}: missing or bad field {exc}")
    return Candidate(record.get("content_hash") or hash_, memory, rehashed=record.get("content_hash") != hash_)


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in re.findall(r"`+", text)), default=0)
