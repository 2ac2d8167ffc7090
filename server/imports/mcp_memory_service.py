"""Read an mcp-memory-service database (sqlite_vec backend, releases 8.0 to 12.x) without changing it.

Its `memories` table has had two CREATE shapes (8.0-8.63; 8.64+ adds `deleted_at` soft deletes) and
columns added by ALTER TABLE since (10.30: parent_id, version, confidence, last_accessed, superseded_by;
11.0: store; 12.0: embedding_pending). Only the columns every release has are required; the others are
used when present. Tags are one comma-separated string (a JSON array is accepted too), metadata is JSON
text, times are epoch seconds with ISO text beside them.

The whole table is read in one query and the connection closed, so the file is held open for as short a
time as possible while its own server may be running.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from server.errors import ImportSourceError
from server.record import Memory, iso_utc
from server.storage.local.identify import identify, mcp_memory_service_schema, read_only

REQUIRED = ("content", "content_hash")
OPTIONAL = ("tags", "memory_type", "metadata", "created_at", "updated_at", "created_at_iso", "updated_at_iso",
            "deleted_at", "superseded_by")


@dataclass(frozen=True)
class Candidate:
    """One source row: the memory to import, or why it is not imported."""

    source_hash: str
    memory: Memory | None
    skipped: str | None = None  # "deleted" | "superseded" | "failed"
    reason: str = ""
    rehashed: bool = False  # its hash was not sha256(stripped, lower-cased content): ours is used


@dataclass(frozen=True)
class Source:
    path: Path
    description: str  # e.g. "an mcp-memory-service database (schema 19) with 11 memories"
    schema: str | None
    unified_tools: bool  # made by release 11.0 or later, whose tools are memory_store, memory_search, ...
    candidates: list[Candidate] = field(default_factory=list)


def read_source(path: Path) -> Source:
    """Every row of the source, converted; raises ImportSourceError when it is not a database we can read."""
    found = identify(path)
    if found.kind == "missing":
        raise ImportSourceError(f"{path}: no such file")
    if found.kind == "empty":
        raise ImportSourceError(f"{path}: {found.description}; nothing to import")
    if found.kind == "ours":
        raise ImportSourceError(f"{path} is one of our own databases, not an mcp-memory-service one")
    try:
        with read_only(path) as conn:
            columns = _columns(conn)
            missing = [c for c in REQUIRED if c not in columns]
            if missing:
                raise ImportSourceError(f"{path} is {found.description}, not an mcp-memory-service database "
                                        f"(no memories table with {', '.join(missing)})")
            wanted = [c for c in (*REQUIRED, *OPTIONAL) if c in columns]
            rows = conn.execute(f"SELECT {', '.join(wanted)} FROM memories ORDER BY id").fetchall()
            schema = mcp_memory_service_schema(conn)
    except sqlite3.DatabaseError as exc:
        raise ImportSourceError(f"{path} cannot be read as a database: {exc}") from exc
    now = time.time()
    candidates = _remap_associations([convert(dict(zip(wanted, row)), now) for row in rows])
    # The `store` column came with 11.0, the release that renamed the tools.
    return Source(path, found.description, schema, "store" in columns, candidates)


def _remap_associations(candidates: list[Candidate]) -> list[Candidate]:
    """Associations name their two memories by the source's hashes; a memory we re-hashed (releases
    before 8.x's content-only rule) gets its new hash there too, so the graph edge still connects."""
    moved = {c.source_hash: c.memory.content_hash for c in candidates if c.memory is not None and c.rehashed}
    if not moved:
        return candidates
    out = []
    for c in candidates:
        meta = c.memory.metadata if c.memory is not None else {}
        if c.memory is not None and c.memory.memory_type == "association" and {meta.get("source_hash"),
                                                                              meta.get("target_hash")} & moved.keys():
            fixed = dict(meta, source_hash=moved.get(meta["source_hash"], meta["source_hash"]),
                         target_hash=moved.get(meta["target_hash"], meta["target_hash"]))
            c = replace(c, memory=replace(c.memory, metadata=fixed))
        out.append(c)
    return out


def _columns(conn: sqlite3.Connection) -> set[str]:
    return {row[1] for row in conn.execute("PRAGMA table_info(memories)")}


def convert(row: dict[str, Any], now: float) -> Candidate:
    """One source row as one of our memories (our hash rule, times kept). The import then checks every field
    as the tools would (server/record.py): a row we could not store is a failed line, never a stop."""
    from server.record import content_hash

    source_hash = str(row.get("content_hash") or "")
    if row.get("deleted_at") is not None:
        return Candidate(source_hash, None, "deleted", "deleted in the source")
    if row.get("superseded_by"):
        return Candidate(source_hash, None, "superseded",
                         f"replaced by a newer version ({str(row['superseded_by'])[:12]})")
    raw = row.get("content")
    if not isinstance(raw, str) or not raw.strip():
        return Candidate(source_hash, None, "failed", "empty content" if not raw else "content is not text")
    content = raw.strip()
    try:
        metadata = _metadata(row.get("metadata"))
        tags = _tags(row.get("tags"))
    except (ValueError, TypeError, RecursionError) as exc:  # bad JSON
        return Candidate(source_hash, None, "failed", str(exc) or "metadata nested too deep")
    memory_type = row.get("memory_type")
    memory_type = memory_type.strip().lower() or None if isinstance(memory_type, str) else memory_type
    if "association" in [t.strip().lower() for t in tags] and isinstance(metadata.get("source_memory_hashes"), list):
        memory_type, metadata = "association", _association_metadata(metadata)
    created = _time(row.get("created_at"), row.get("created_at_iso")) or now
    updated = _time(row.get("updated_at"), row.get("updated_at_iso")) or created
    ours = content_hash(content)
    memory = Memory(content=content, content_hash=ours, tags=tuple(tags), memory_type=memory_type, metadata=metadata,
                    created_at=created, created_at_iso=iso_utc(created) if _sane(created) else "",
                    updated_at=updated, updated_at_iso=iso_utc(updated) if _sane(updated) else "")
    return Candidate(source_hash, memory, rehashed=ours != source_hash)


def _sane(seconds: float) -> bool:
    return 0 <= seconds < 253_402_300_800


def _tags(raw: Any) -> list[str]:
    if raw is None:
        return []
    text = str(raw).strip()
    if text.startswith("["):  # a JSON array, as some older tools wrote
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, list):
            return [str(t) for t in value]
    return [t for t in text.split(",") if t.strip()]


def _metadata(raw: Any) -> dict[str, Any]:
    if raw is None or str(raw).strip() == "":
        return {}
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, TypeError) as exc:
        raise ValueError(f"metadata is not JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise ValueError("metadata is not a JSON object")
    return value


def _association_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """The leading project's association keys, plus the ones our graph reads (server/graph.py)."""
    pair = [h for h in metadata["source_memory_hashes"] if isinstance(h, str)]
    out = dict(metadata)
    if len(pair) == 2:
        out.update(source_hash=pair[0], target_hash=pair[1])
    if "similarity" not in out and isinstance(metadata.get("similarity_score"), (int, float)):
        out["similarity"] = float(metadata["similarity_score"])
    return out


def _time(epoch: Any, iso: Any) -> float | None:
    if isinstance(epoch, (int, float)) and epoch > 0:
        return float(epoch)
    if isinstance(iso, str) and iso.strip():
        try:
            parsed = datetime.fromisoformat(iso.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:  # the leading project writes UTC without an offset
            from datetime import timezone

            parsed = parsed.replace(tzinfo=timezone.utc)
        return parsed.timestamp()
    return None
