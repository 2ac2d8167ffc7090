"""Databases of the leading project, mcp-memory-service: the real 12.4.0 one it made itself, and older
shapes built from the DDL of its releases (its `memories` CREATE TABLE and the ALTERs added since)."""

from __future__ import annotations

import gzip
import hashlib
import json
import sqlite3
from pathlib import Path

FIXTURE = Path(__file__).parent.parent / "fixtures" / "mcp-memory-service-12.4.0"

# 8.0-8.63: the first CREATE TABLE.
CREATE_V8 = """
CREATE TABLE IF NOT EXISTS memories (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    content_hash TEXT UNIQUE NOT NULL,
    content TEXT NOT NULL,
    tags TEXT,
    memory_type TEXT,
    metadata TEXT,
    created_at REAL,
    updated_at REAL,
    created_at_iso TEXT,
    updated_at_iso TEXT
)"""
# 8.64 added soft deletes (and from 8.7 a metadata table).
ALTER_8_64 = ["ALTER TABLE memories ADD COLUMN deleted_at REAL DEFAULT NULL",
              "CREATE TABLE IF NOT EXISTS metadata (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
              "INSERT INTO metadata VALUES ('distance_metric', 'cosine')"]
# 10.30 (migration 011, memory evolution).
ALTER_10_30 = ["ALTER TABLE memories ADD COLUMN parent_id TEXT", "ALTER TABLE memories ADD COLUMN version INTEGER DEFAULT 1",
               "ALTER TABLE memories ADD COLUMN confidence REAL DEFAULT 1.0",
               "ALTER TABLE memories ADD COLUMN last_accessed INTEGER",
               "ALTER TABLE memories ADD COLUMN superseded_by TEXT"]
# 10.72 (migration registry, schema_version 12) and 11.0 (store partitions, the renamed tools).
ALTER_11 = ["CREATE TABLE IF NOT EXISTS migration_registry (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
            "filename TEXT NOT NULL, applied_at TEXT NOT NULL, checksum TEXT)",
            "INSERT INTO metadata VALUES ('schema_version', '12')",
            "ALTER TABLE memories ADD COLUMN store TEXT DEFAULT 'default'"]
SHAPES = {"8.0": [], "8.64": ALTER_8_64, "10.30": ALTER_8_64 + ALTER_10_30, "11.0": ALTER_8_64 + ALTER_10_30 + ALTER_11}


def real_database(folder: Path, name: str = "sqlite_vec.db") -> Path:
    """The 12.4.0 database, unpacked into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    target.write_bytes(gzip.decompress((FIXTURE / "sqlite_vec.db.gz").read_bytes()))
    return target


def expected() -> dict:
    return json.loads((FIXTURE / "expected.json").read_text(encoding="utf-8"))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ours(content: str) -> str:
    return hashlib.sha256(content.strip().lower().encode("utf-8")).hexdigest()


def build(path: Path, shape: str, rows: list[dict]) -> Path:
    """A database of that release's shape holding `rows` (columns it lacks are left out)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.execute(CREATE_V8)
    for statement in SHAPES[shape]:
        conn.execute(statement)
    columns = {r[1] for r in conn.execute("PRAGMA table_info(memories)")}
    for row in rows:
        row = {k: v for k, v in row.items() if k in columns}
        conn.execute(f"INSERT INTO memories ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values()))
    conn.commit()
    conn.close()
    return path


def row(content: str, tags: str = "", memory_type: str = "note", metadata: str = "{}", created: float = 1.7e9,
        **extra: object) -> dict:
    return {"content_hash": ours(content), "content": content, "tags": tags, "memory_type": memory_type,
            "metadata": metadata, "created_at": created, "updated_at": created, **extra}
