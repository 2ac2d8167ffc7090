"""One record, one set of rules: every way in refuses what the tools refuse, and no stored record, however it got
there, breaks a listing, a search or the figures: it is skipped with a note and health names it."""

from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess

import pytest
from mcp import Client

from server.app import build_server
from server.archive import read
from server.imports.mcp_memory_service import read_source
from server.imports.run import import_candidates
from server.storage.base import MemoryFilter
from tests.conftest import PYTHON, REPO, server_env
from tests.support.mms_fixtures import real_database
from tests.support.database import writing

pytestmark = pytest.mark.anyio


def nested(depth: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"n": value}
    return value


async def test_metadata_nested_past_the_bound_is_refused_and_listings_keep_working(settings):
    server, _ = build_server(settings)
    async with Client(server) as client:
        refused = await client.call_tool("store_memory", {"content": "deep", "metadata": nested(200)})
        assert refused.is_error and "nested more than 20 levels deep" in refused.content[0].text
        ok = await client.call_tool("store_memory", {"content": "shallow enough", "metadata": nested(20)})
        assert not ok.is_error
        update = await client.call_tool("update_memory_metadata", {
            "content_hash": ok.structured_content["content_hash"], "metadata": {"more": nested(21)}})
        assert update.is_error and "nested more than 20" in update.content[0].text
        listed = await client.call_tool("list_memories", {})
        assert not listed.is_error and listed.structured_content["total"] == 1
        found = await client.call_tool("retrieve_memory", {"query": "shallow"})
        assert not found.is_error and found.structured_content["count"] == 1


BAD_LINES = {
    "empty content": {"content": "   "},
    "invisible content": {"content": "\u200b\u200b"},
    "over the content limit": {"content": "x" * 200_001},
    "301 tags": {"content": "many tags", "tags": [f"t{n}" for n in range(301)]},
    "1 MB metadata": {"content": "big metadata", "metadata": {"k": "v" * 1_000_000}},
    "integer tags": {"content": "numbers as tags", "tags": [1, 2]},
    "deep metadata": {"content": "deep metadata", "metadata": nested(300)},
    "content not text": {"content": 42},
    "a list, not an object": ["content", "x"],
}


def _line(fields) -> str:
    if isinstance(fields, dict) and "content" in fields and "created_at" not in fields:
        fields = {**fields, "created_at": 1_700_000_000.0, "updated_at": 1_700_000_000.0}
    return json.dumps(fields)


def test_an_import_checks_every_line_as_the_tools_do_and_keeps_going_past_bad_ones(tmp_path, storage):
    good = {"content": "the only good line", "tags": ["Ok"], "created_at": 1_700_000_000.0,
            "updated_at": 1_700_000_000.0}
    lines = [_line(v) for v in BAD_LINES.values()]
    lines += ['{"content": "not a number", "created_at": NaN, "updated_at": 1}',
              '{"content": "forever", "created_at": Infinity, "updated_at": 1}',
              '{"content": "far future", "created_at": 1e300, "updated_at": 1e300}',
              '{"content": "a time as text", "created_at": "yesterday", "updated_at": 1}',
              "[" * 100_000, json.dumps(good)]
    export = tmp_path / "bad.jsonl"
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = import_candidates(storage, read(export), progress=None)
    assert report.imported == 1 and len(report.failed) == len(lines) - 1, report.lines()
    reasons = " | ".join(why for _, why in report.failed)
    for expected in ("content is empty", "the limit is 200000", "301 tags", "metadata is 1000009 characters",
                     "Each tag must be a string", "nested more than 20", "content is missing or not text",
                     "not a JSON object", "NaN is not a JSON number", "Infinity is not a JSON number",
                     "created_at must be a time between 1970 and 9999", "is not JSON"):
        assert expected in reasons, expected
    memories, total = storage.page(MemoryFilter(), 0, 10)
    assert total == 1 and memories[0].tags == ("ok",)


def test_a_markdown_export_with_windows_line_ends_imports_and_one_without_entries_is_a_failure(tmp_path, storage):
    from server import archive
    from server.service import MemoryService

    service = MemoryService(storage, 200_000)
    service.store("first line\nsecond line", tags=["crlf"])
    service.store("another memory")
    out = tmp_path / "export.md"
    with out.open("w", encoding="utf-8", newline="") as f:
        archive.write(storage, f, "markdown")
    windows = tmp_path / "windows.md"
    windows.write_bytes(out.read_bytes().replace(b"\n", b"\r\n"))
    candidates = read(windows)
    assert [c.memory.content for c in candidates if c.memory] == ["another memory", "first line\nsecond line"]
    assert all(c.rehashed is False for c in candidates)
    broken = tmp_path / "broken.md"
    broken.write_text(archive.MARKDOWN_HEADER + "some notes that are not entries\n", encoding="utf-8")
    report = import_candidates(storage, read(broken), progress=None)
    assert report.imported == 0 and len(report.failed) == 1 and "no entry" in report.failed[0][1]


def test_markdown_entries_keep_their_line_numbers(tmp_path):
    from server import archive

    entry = '## t · h\n\n{"tags": [], "created_at": 1, "updated_at": 1}\n\n```text\n%s\n```\n\n'
    text = archive.MARKDOWN_HEADER + "".join(entry % f"memory {n}\nline two" for n in range(3))
    text += '## broken\n\n{"tags": [}\n\n```text\nx\n```\n\n'
    path = tmp_path / "lines.md"
    path.write_text(text, encoding="utf-8")
    candidates = read(path)
    assert [c.memory.content for c in candidates[:3]] == [f"memory {n}\nline two" for n in range(3)]
    assert candidates[3].memory is None and candidates[3].reason.startswith("line 32:")


def test_importing_a_fifo_is_refused_at_once_instead_of_hanging(tmp_path):
    fifo = tmp_path / "memories.jsonl"
    os.mkfifo(fifo)
    done = subprocess.run([PYTHON, "-m", "server", "import", str(fifo)], cwd=REPO, env=server_env(tmp_path),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "not a regular file" in done.stderr and "Traceback" not in done.stderr


def test_an_mms_database_with_rows_we_would_refuse_imports_the_rest(tmp_path, storage):
    source = real_database(tmp_path / "theirs")
    conn = sqlite3.connect(source)
    conn.execute("INSERT INTO memories (content_hash, content, tags, memory_type, metadata, created_at, updated_at) "
                 "VALUES ('h1', ?, 'a', 'note', '{}', 1700000000, 1700000000)", ("y" * 300_000,))
    conn.execute("INSERT INTO memories (content_hash, content, tags, memory_type, metadata, created_at, updated_at) "
                 "VALUES ('h2', 'deep one', 'a', 'note', ?, 1700000000, 1700000000)", (json.dumps(nested(40)),))
    conn.execute("INSERT INTO memories (content_hash, content, tags, memory_type, metadata, created_at, updated_at) "
                 "VALUES ('h3', 'endless', 'a', 'note', '{}', 9e999, 9e999)")
    conn.execute("INSERT INTO memories (content_hash, content, tags, memory_type, metadata, created_at, updated_at) "
                 "VALUES ('h4', x'00ff', 'a', 'note', '{}', 1700000000, 1700000000)")
    conn.commit()
    conn.close()
    report = import_candidates(storage, read_source(source).candidates, progress=None)
    assert report.imported == 11
    assert sorted(h for h, _ in report.failed) == ["h1", "h2", "h3", "h4"], report.failed


def _plant(storage, rows: list[tuple]) -> None:
    """Rows written straight into the file, as an older version or a hand edit could have left them."""
    with writing(storage.path) as conn:
        for content, hash_, tags, metadata, created in rows:
            memory_id = conn.execute(
                "INSERT INTO memories (content_hash, content, tags, memory_type, metadata, created_at, created_at_iso, "
                "updated_at, updated_at_iso) VALUES (?, ?, ?, NULL, ?, ?, '', ?, '') RETURNING id",
                (hash_, content, tags, metadata, created, created)).fetchone()[0]
            conn.execute("INSERT INTO memory_vectors (memory_id, embedding) VALUES (?, ?)",
                         (memory_id, bytes(4 * 384)))
            conn.execute("INSERT INTO vector_log (memory_id, op) VALUES (?, 'add')", (memory_id,))
            conn.execute("INSERT INTO memory_tags (tag, memory_id) VALUES ('planted', ?)", (memory_id,))


async def test_stored_records_that_break_the_rules_are_skipped_with_a_note_and_named_by_health(settings, storage):
    bad = [("integer tags", "a" * 64, "[1, 2]", "{}", 1_700_000_000.0),
           ("endless", "b" * 64, "[]", "{}", math.inf),
           ("deep", "c" * 64, "[]", json.dumps(nested(300)), 1_700_000_000.0),
           ("tags not json", "d" * 64, "not json", "{}", 1_700_000_000.0),
           ("z" * 1_000_001, "e" * 64, "[]", "{}", 1_700_000_000.0)]
    _plant(storage, bad)
    server, _ = build_server(settings, storage=storage)
    async with Client(server) as client:
        stored = await client.call_tool("store_memory", {"content": "a memory that reads fine", "tags": ["planted"]})
        assert not stored.is_error
        listed = await client.call_tool("list_memories", {"page_size": 10})
        assert not listed.is_error, listed.content[0].text
        page = listed.structured_content
        assert page["total"] == 6 and len(page["memories"]) == 1 and page["skipped"] == 5
        assert "5 stored memories on this page cannot be read" in listed.content[0].text
        for query in ("endless", "deep", "a memory"):
            found = await client.call_tool("retrieve_memory", {"query": query, "n_results": 10})
            assert not found.is_error, found.content[0].text
            assert [r["content"] for r in found.structured_content["results"]] == ["a memory that reads fine"]
        tagged = await client.call_tool("search_by_tag", {"tags": ["planted"]})
        assert not tagged.is_error and tagged.structured_content["count"] == 1
        health = await client.call_tool("check_database_health", {})
        assert health.structured_content["status"] == "degraded"
        assert "5 stored memories cannot be read" in health.content[0].text
        assert "b" * 16 in health.content[0].text
        opened = await client.call_tool("update_memory_metadata", {"content_hash": "a" * 64, "tags": ["x"]})
        assert opened.is_error and "cannot be read" in opened.content[0].text
        deleted = await client.call_tool("delete_memory", {"content_hash": "b" * 64})
        assert not deleted.is_error
        assert storage.stats()["per_day"]  # the figures skip the time that is no date
        storage._integrity._checked = None  # noqa: SLF001 - ask again now rather than in 10 minutes
        assert "4 stored memories cannot be read" in " ".join(storage.health().problems)


def test_both_schemas_hold_exactly_the_records_columns_and_a_change_is_pure(cloud, storage):
    """The record's columns are declared once (server/record/memory.py); the shipped migrations of the local file
    and of D1 must make a memories table with exactly those, read and written by name."""
    from server.record import NAMES, Memory, MetadataChange, changed

    with sqlite3.connect(storage.path) as conn:
        local = [r[1] for r in conn.execute("PRAGMA table_info(memories)")]
    assert local == ["id", *NAMES[1:2], *NAMES[:1], *NAMES[2:]]  # content_hash before content, as shipped
    d1_store = cloud.storage()
    d1_store.open()
    d1 = [r["name"] for r in d1_store.replica.sql("PRAGMA table_info(memories)")]
    d1_store.close()
    assert set(d1) == set(local)
    before = Memory("text", "h", ("a",), "note", {"k": 1, "gone": 2}, 1.0, "x", 1.0, "x")
    after = changed(before, MetadataChange(tags=("b",), memory_type="", metadata={"gone": None, "new": 3}), 5.0)
    assert (after.tags, after.memory_type, dict(after.metadata), after.updated_at) == (("b",), None, {"k": 1, "new": 3}, 5.0)
    assert before.metadata == {"k": 1, "gone": 2} and after.created_at == 1.0  # the original is left as it was


def test_what_the_tools_and_exports_show_of_a_memory_is_every_field_of_the_record():
    import dataclasses

    from server.archive import FIELDS
    from server.record import NAMES, Memory
    from server.schemas import MemoryOut

    assert [f.name for f in dataclasses.fields(Memory)] == list(NAMES)
    assert list(MemoryOut.model_fields) == list(NAMES) and FIELDS == NAMES
