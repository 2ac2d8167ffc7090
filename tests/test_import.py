"""Importing from mcp-memory-service: exactly what the expected result says, idempotent, resumable after
Ctrl-C, every schema shape since 8.0, found by meaning afterwards, and queued for the cloud with hybrid."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from server.imports.mcp_memory_service import read_source
from server.imports.run import import_candidates
from server.storage.base import MemoryFilter
from tests.conftest import REPO
from tests.support.mms_fixtures import build, expected, ours, real_database, row, sha256
from tests.test_installer_noninteractive import Sandbox
from tests.support.database import reading


def test_the_real_12_4_database_imports_exactly_the_expected_memories_and_not_the_deleted_one(tmp_path, storage):
    source = real_database(tmp_path / "theirs")
    before = sha256(source)
    report = import_candidates(storage, read_source(source).candidates, progress=None)
    assert (report.imported, report.already_present, report.skipped_deleted, report.failed) == (11, 0, 1, [])
    want = expected()
    got, total = storage.page(MemoryFilter(), 0, 100)
    assert total == 11
    by_hash = {m.content_hash: m for m in got}
    for item in want["live"]:
        memory = by_hash[item["content_hash"]]
        assert memory.content == item["content"]
        assert ",".join(memory.tags) == item["tags"]
        assert memory.memory_type == item["memory_type"]
        assert dict(memory.metadata) == json.loads(item["metadata"])
        assert (memory.created_at, memory.updated_at) == (item["created_at"], item["updated_at"])
    assert want["deleted_hashes"] and not set(want["deleted_hashes"]) & set(by_hash)
    assert sha256(source) == before and sorted(p.name for p in source.parent.iterdir()) == ["sqlite_vec.db"]

    again = import_candidates(storage, read_source(source).candidates, progress=None)
    assert (again.imported, again.already_present) == (0, 11)
    assert storage.page(MemoryFilter(), 0, 100)[1] == 11

    hits = storage.search("when do I see the dentist?", 1, MemoryFilter())
    assert "dentist" in hits[0].memory.content


def test_a_memory_deleted_here_after_an_import_is_not_brought_back(tmp_path, storage):
    source = real_database(tmp_path / "theirs")
    import_candidates(storage, read_source(source).candidates, progress=None)
    soup = next(m for m in storage.page(MemoryFilter(), 0, 100)[0] if "lentil" in m.content)
    assert storage.delete(soup.content_hash)
    report = import_candidates(storage, read_source(source).candidates, progress=None)
    assert (report.imported, report.skipped_deleted_here) == (0, 1)
    assert storage.get(soup.content_hash) is None


def test_every_schema_shape_since_8_0_imports(tmp_path, storage):
    old_hash = "f" * 64  # 8.0 mixed metadata into the hash: ours is recomputed
    build(tmp_path / "v8.db", "8.0", [row("Tabs over spaces", "style,Team", content_hash=old_hash),
                                       row("The VPN config lives in wg0.conf", '["network", "ops"]')])
    build(tmp_path / "v864.db", "8.64", [row("Standup moved to 9:30"), row("Gone", deleted_at=1.8e9)])
    build(tmp_path / "v1030.db", "10.30", [row("Old wording", superseded_by="abc"), row("New wording"),
                                           row("Bad metadata", metadata="{not json")])
    a, b = ours("Tabs over spaces"), ours("Standup moved to 9:30")
    assoc_meta = json.dumps({"source_memory_hashes": [old_hash, b], "similarity_score": 0.71})
    # An 8.0 database upgraded by 11.x: the old hash stays, and an association names the memory by it.
    build(tmp_path / "v11.db", "11.0", [row("Tabs over spaces", "style,Team", content_hash=old_hash),
                                        row(f"Association between memories {a[:8]} and {b[:8]}", "association,discovered",
                                            "observation", assoc_meta, content_hash=f"assoc_{a[:8]}_{b[:8]}", store="default")])
    reports = {}
    for name in ("v8", "v864", "v1030"):
        reports[name] = import_candidates(storage, read_source(tmp_path / f"{name}.db").candidates, progress=None)
    v11 = read_source(tmp_path / "v11.db")
    assert v11.unified_tools and not read_source(tmp_path / "v8.db").unified_tools
    reports["v11"] = import_candidates(storage, v11.candidates, progress=None)
    assert (reports["v8"].imported, reports["v8"].rehashed) == (2, 1)
    assert storage.get(a).tags == ("style", "team")
    assert storage.get(ours("The VPN config lives in wg0.conf")).tags == ("network", "ops")
    assert (reports["v864"].imported, reports["v864"].skipped_deleted) == (1, 1)
    assert (reports["v1030"].imported, reports["v1030"].skipped_superseded) == (1, 1)
    assert [why for _, why in reports["v1030"].failed] == ["metadata is not JSON (Expecting property name enclosed "
                                                            "in double quotes: line 1 column 2 (char 1))"]
    assert (reports["v11"].imported, reports["v11"].already_present) == (1, 1)
    with reading(storage.path) as conn:
        edges = conn.execute("SELECT source_hash, target_hash FROM memory_graph").fetchall()
    assert sorted(edges[0]) == sorted([a, b])


def test_with_hybrid_every_imported_memory_is_queued_for_the_cloud(tmp_path, embedder):
    from server.backends import local_store
    from server.settings import settings_from_values

    settings = settings_from_values({"MCP_MEMORY_BASE_DIR": str(tmp_path / "data")})
    storage = local_store(settings, outbox=True, embedder=embedder)  # what a hybrid setup's local store is
    storage.open()
    import_candidates(storage, read_source(real_database(tmp_path / "theirs")).candidates, progress=None)
    storage.close()
    with reading(storage.path) as conn:
        assert conn.execute("SELECT count(*), min(op) FROM sync_outbox").fetchone() == (11, "upsert")


def test_an_explicit_import_path_that_is_not_a_database_exits_2_naming_the_flag(tmp_path):
    box = Sandbox(tmp_path)
    text = tmp_path / "notes.txt"
    text.write_text("hello", encoding="utf-8")
    for value in (str(text), str(tmp_path / "missing.db")):
        done = box.run("--non-interactive", "--no-launch", "--claude-code", "none", "--import-from", value)
        assert done.returncode == 2 and f"--import-from {value}" in done.stderr, done.stderr
        assert not box.env_file.exists()  # refused before anything was written


def many_memories(path: Path, count: int) -> Path:
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()
    rows = [row(f"Memory {i}: {words[i % 12]} {words[(i * 7) % 12]} {i * 31 % 997}", f"t{i % 5}", created=1.7e9 + i)
            for i in range(count)]
    return build(path, "10.30", rows)


def test_an_import_interrupted_with_ctrl_c_then_run_again_ends_as_one_uninterrupted_run(tmp_path):
    source = many_memories(tmp_path / "theirs" / "sqlite_vec.db", 3000)
    interrupted, straight = Sandbox(tmp_path / "a"), Sandbox(tmp_path / "b")
    for box in (interrupted, straight):
        box.home.mkdir(parents=True)
    ours_db = interrupted.home / ".local" / "share" / "mcp-memory" / "memories.db"
    proc = subprocess.Popen([sys.executable, "-m", "installer", "import", str(source)], cwd=REPO,
                            env=interrupted.environ(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    # Its progress bar says how far it got (reading the database from here could miss a busy moment).
    shown, deadline = "", time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if select.select([proc.stderr], [], [], 0.5)[0]:
            shown += os.read(proc.stderr.fileno(), 4096).decode("utf-8", "replace")
            done = [int(n) for n in re.findall(r"(\d+)/3000", shown)]
            if done and max(done) >= 200:
                break
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=60)
    err = shown + rest
    assert proc.returncode == 130, f"exit {proc.returncode}: {err[-3000:]}"
    partial = _count(ours_db)
    assert 0 < partial < 3000
    for box in (interrupted, straight):
        done = box.run("import", str(source))
        assert done.returncode == 0, done.stderr
    assert _hashes(ours_db) == _hashes(straight.home / ".local" / "share" / "mcp-memory" / "memories.db")
    assert len(_hashes(ours_db)) == 3000
    with sqlite3.connect(ours_db) as conn:  # no half-imported memory: every row has its vector and tags
        assert conn.execute("SELECT count(*) FROM memory_vectors").fetchone()[0] == 3000
        assert conn.execute("SELECT count(DISTINCT memory_id) FROM memory_tags").fetchone()[0] == 3000


def _count(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM memories").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _hashes(path: Path) -> set[tuple[str, str, float]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return set(conn.execute("SELECT content_hash, tags, created_at FROM memories"))


@pytest.mark.parametrize("dry", [True])
def test_the_import_command_dry_run_counts_and_writes_nothing(tmp_path, dry):
    box = Sandbox(tmp_path)
    box.home.mkdir(parents=True)
    source = real_database(tmp_path / "theirs")
    done = box.run("import", str(source), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "would import: 11 memories" in done.stderr and "Dry run: nothing was written." in done.stderr
    assert not (box.home / ".local" / "share" / "mcp-memory").exists()
