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
from server.record import content_hash
from server.record import NAMES, Memory
from server.storage.base import MemoryFilter

FORMATS = ("jsonl", "markdown")
FIELDS = NAMES  # an exported memory has every field of the record, as the tools show them
MARKDOWN_HEADER = "# mcp-memory export\n\n"
PAGE = 500


def memories(storage: Any) -> Iterator[Memory]:
    """Every memory, newest first, a page at a time (no full load into memory)."""
    offset = 0
    while True:
        page, _ = storage.page(MemoryFilter(), offset, PAGE)
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
    """The memories of an export file, as import candidates (a bad entry is a failed one, not a stop).

    Only a regular file is read (a FIFO or a device would hang or never end). A Markdown export whose line ends
    were turned into CRLF (a Windows checkout, an editor) reads as the original."""
    if not path.is_file():
        raise ValueError("not a regular file" if path.exists() else "no such file")
    with path.open(encoding="utf-8", newline="") as f:  # content keeps its own line ends (\r\n, \r)
        text = f.read()
    header = MARKDOWN_HEADER.strip()
    if text.startswith(header + "\r\n"):
        text = text.replace("\r\n", "\n")
    if text.startswith(header):
        return [_candidate(n, record) for n, record in _markdown_records(text)]
    return [_candidate(n, record) for n, record in _jsonl_records(text)]


def _jsonl_records(text: str) -> Iterator[tuple[int, Any]]:
    for n, line in enumerate(text.split("\n"), 1):  # not splitlines(): JSON leaves U+2028 as it is
        if line.strip():
            try:
                yield n, json.loads(line, parse_constant=_no_constant)
            except (json.JSONDecodeError, ValueError, RecursionError) as exc:
                reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc) or "nested too deep"
                yield n, f"line {n} is not JSON ({reason})"


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


_ENTRY = re.compile(r"^## .*\n\n(\{.*\})\n\n(`{3,})text\n", re.MULTILINE)


def _markdown_records(text: str) -> Iterator[tuple[int, Any]]:
    """Entries in order; line numbers are counted as the scan moves on (counting from the top for every entry
    made 40,000 entries take a minute and a half)."""
    position, line, counted_to = 0, 1, 0
    found = 0
    while (match := _ENTRY.search(text, position)) is not None:
        line += text.count("\n", counted_to, match.start())
        counted_to = match.start()
        fence = match.group(2)
        end = text.find(f"\n{fence}\n", match.end() - 1)
        if end < 0:
            yield line, f"line {line}: the content's closing fence is missing"
            return
        found += 1
        try:
            record = json.loads(match.group(1), parse_constant=_no_constant)
            if not isinstance(record, dict):
                raise TypeError("not an object")
            record["content"] = text[match.end():end]
        except (json.JSONDecodeError, TypeError, ValueError, RecursionError) as exc:
            record = f"line {line + 2}: the fields are not a JSON object ({exc})"
        yield line, record
        position = end + len(fence) + 2
    if not found and text.strip() != MARKDOWN_HEADER.strip():
        yield 1, "no entry in the form this program exports (## heading, a JSON line, a fenced text) was found"


def _candidate(line: int, record: Any) -> Candidate:
    if isinstance(record, str):
        return Candidate(f"line {line}", None, "failed", record)
    if not isinstance(record, dict):
        return Candidate(f"line {line}", None, "failed", f"line {line}: not a JSON object")
    content = record.get("content")
    if not isinstance(content, str):
        return Candidate(f"line {line}", None, "failed", f"line {line}: content is missing or not text")
    hash_ = content_hash(content)  # our rule: a file edited by hand gets the hash its content has
    source = record.get("content_hash")
    source = source if isinstance(source, str) and source else hash_
    # Fields are taken as they are (a missing time too); the import checks every one as the tools would
    # (server/record/checks.py), so nothing unchecked is stored.
    memory = Memory(content=content, content_hash=hash_, tags=record.get("tags") or (),
                    memory_type=record.get("memory_type"), metadata=record.get("metadata") or {},
                    created_at=record.get("created_at"),  # type: ignore[arg-type]
                    updated_at=record.get("updated_at", record.get("created_at")))  # type: ignore[arg-type]
    return Candidate(source, memory, rehashed=source != hash_)


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in re.findall(r"`+", text)), default=0)
