"""Take memories out and bring them back (export / import), and keep consistent copies (backup / restore):
the real commands in subprocesses, on real database files."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from server.service import MemoryService
from server.settings import settings_from_values
from server.storage.base import MemoryFilter
from tests.conftest import PYTHON, REPO, server_env
from server.backends import local_store

pytestmark = pytest.mark.slow

ODD = ["Plain note about the garden.",
       "Code:\n```python\nprint('fenced')\n```\nand ````four```` backticks",
       "## Not a heading of ours\n\n{\"json\": \"looking\"}\n",
       "Unicode: naïve café — 東京 🚀 and a trailing space "]


def command(tmp_path: Path, data: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = server_env(tmp_path, MCP_MEMORY_BASE_DIR=str(tmp_path / data))
    return subprocess.run([PYTHON, "-m", "server", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=180, stdin=subprocess.DEVNULL)


def everything(path: Path, embedder) -> dict[str, dict]:
    settings = settings_from_values({"MCP_MEMORY_SQLITE_PATH": str(path)})
    store = local_store(settings, embedder=embedder)
    store.open()
    try:
        found, _ = store.page(MemoryFilter(), 0, 10_000)
        return {m.content_hash: {**m.__dict__, "tags": list(m.tags)} for m in found}
    finally:
        store.close()


def seed(path: Path, embedder) -> None:
    settings = settings_from_values({"MCP_MEMORY_SQLITE_PATH": str(path)})
    store = local_store(settings, embedder=embedder)
    store.open()
    service = MemoryService(store, 200_000)
    for n, text in enumerate(ODD):
        service.store(text, tags=[f"t{n}", "shared"], memory_type="note" if n % 2 else None,
                      metadata={"n": n, "nested": {"list": [1, "two"]}})
    store.close()


@pytest.mark.parametrize("fmt", ["jsonl", "markdown"])
def test_export_then_import_into_a_fresh_store_keeps_every_field_and_a_second_import_adds_nothing(tmp_path, embedder,
                                                                                                 fmt):
    seed(tmp_path / "a" / "memories.db", embedder)
    out = tmp_path / f"export.{fmt}"
    done = command(tmp_path, "a", "export", "--format", fmt, "--output", str(out))
    assert done.returncode == 0, done.stderr
    assert f"exported {len(ODD)} memories" in done.stderr
    first = command(tmp_path, "b", "import", str(out))
    assert first.returncode == 0, first.stderr
    assert f"imported: {len(ODD)} memories" in first.stderr
    assert everything(tmp_path / "b" / "memories.db", embedder) == everything(tmp_path / "a" / "memories.db", embedder)
    again = command(tmp_path, "b", "import", str(out))
    assert again.returncode == 0 and "imported: 0 memories" in again.stderr and "already present: 4" in again.stderr


def test_a_bad_line_is_a_failed_entry_and_the_rest_still_imports(tmp_path):
    good = {"content": "fine", "content_hash": "x", "tags": [], "memory_type": None, "metadata": {},
            "created_at": 1.7e9, "created_at_iso": "2023-11-14T22:13:20Z", "updated_at": 1.7e9,
            "updated_at_iso": "2023-11-14T22:13:20Z"}
    source = tmp_path / "export.jsonl"
    source.write_text(json.dumps(good) + "\n{not json\n" + json.dumps({"content": "no times"}) + "\n")
    done = command(tmp_path, "c", "import", str(source))
    assert done.returncode == 1
    assert "imported: 1 memory" in done.stderr and "failed: 2 memories" in done.stderr
    assert "line 2 is not JSON" in done.stderr and "Traceback" not in done.stderr


def test_backups_are_consistent_while_a_writer_runs_and_only_the_last_n_are_kept(tmp_path, embedder):
    database = tmp_path / "d" / "memories.db"
    seed(database, embedder)
    stop = threading.Event()

    def write() -> None:
        settings = settings_from_values({"MCP_MEMORY_SQLITE_PATH": str(database)})
        store = local_store(settings, embedder=embedder)
        store.open()
        service = MemoryService(store, 5000)
        n = 0
        while not stop.is_set() and n < 2000:
            service.store(f"written during the backup {n}")
            n += 1
        store.close()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        made = []
        for _ in range(3):
            done = command(tmp_path, "d", "backup", str(tmp_path / "backups"), "--keep", "2")
            assert done.returncode == 0, done.stderr
            made.append(Path(done.stdout.strip()))
            time.sleep(0.2)
    finally:
        stop.set()
        writer.join(timeout=60)
    kept = sorted((tmp_path / "backups").glob("memories-*.db"))
    assert kept == sorted(made[1:])
    import sqlite3

    for path in kept:
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            rows, vectors = (conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                             for t in ("memories", "memory_vectors"))
            assert rows == vectors >= len(ODD)  # a snapshot: every row with its vector
        assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_a_restored_database_opens_with_its_migrations_and_finds_memories_by_meaning(tmp_path, embedder):
    seed(tmp_path / "e" / "memories.db", embedder)
    made = command(tmp_path, "e", "backup", str(tmp_path / "keep"))
    assert made.returncode == 0, made.stderr
    restored = command(tmp_path, "f", "restore", made.stdout.strip())
    assert restored.returncode == 0, restored.stderr
    code = ("import asyncio, os, sys\nfrom mcp import Client, StdioServerParameters\n"
            "async def main():\n"
            "    params = StdioServerParameters(command=sys.executable, args=['-m', 'server'], env=dict(os.environ))\n"
            "    async with Client(params) as c:\n"
            "        r = await c.call_tool('retrieve_memory', {'query': 'where do the plants grow?', 'n_results': 1})\n"
            "        h = await c.call_tool('check_database_health', {})\n"
            "        print(r.structured_content['results'][0]['content']); print(h.structured_content)\n"
            "asyncio.run(main())\n")
    env = server_env(tmp_path, MCP_MEMORY_BASE_DIR=str(tmp_path / "f"))
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == ODD[0]
    assert "0003_search" in done.stdout


def test_backup_refuses_another_programs_database_and_leaves_it_as_it_was(tmp_path):
    from tests.support.mms_fixtures import real_database, sha256

    theirs = real_database(tmp_path / "theirs")
    before = sha256(theirs)
    done = subprocess.run([PYTHON, "-m", "server", "backup", str(tmp_path / "b")], cwd=REPO, capture_output=True,
                          text=True, timeout=60, env=server_env(tmp_path, MCP_MEMORY_SQLITE_PATH=str(theirs)))
    assert done.returncode == 2 and "not an mcp-memory database" in done.stderr
    assert sha256(theirs) == before and not (tmp_path / "b").exists()


def test_restoring_the_oldest_of_many_backups_restores_it_and_removes_none(tmp_path, embedder):
    seed(tmp_path / "g" / "memories.db", embedder)
    folder = tmp_path / "g" / "backups"
    made = [command(tmp_path, "g", "backup", "--keep", "30").stdout.strip() for _ in range(9)]
    (folder / "memories-notes.db").write_text("not ours, never pruned")
    restored = command(tmp_path, "g", "restore", made[0])
    assert restored.returncode == 0, restored.stderr
    assert all(Path(p).exists() for p in made) and (folder / "memories-notes.db").exists()
    assert len(everything(tmp_path / "g" / "memories.db", embedder)) == len(ODD)  # not an empty database


def test_line_ends_and_unicode_line_separators_survive_the_round_trip(tmp_path, embedder):
    settings = settings_from_values({"MCP_MEMORY_SQLITE_PATH": str(tmp_path / "h" / "memories.db")})
    store = local_store(settings, embedder=embedder)
    store.open()
    MemoryService(store, 5000).store("windows\r\nline ends, a lone\rreturn and a\u2028separator")
    store.close()
    for fmt in ("jsonl", "markdown"):
        out = tmp_path / f"x.{fmt}"
        assert command(tmp_path, "h", "export", "--format", fmt, "--output", str(out)).returncode == 0
        assert oct(out.stat().st_mode & 0o777) == "0o600"
        done = command(tmp_path, f"i-{fmt}", "import", str(out))
        assert done.returncode == 0 and "imported: 1 memory" in done.stderr, done.stderr
        assert everything(tmp_path / f"i-{fmt}" / "memories.db", embedder) == \
            everything(tmp_path / "h" / "memories.db", embedder)


def test_a_damaged_backup_is_never_restored_and_the_live_database_stays_as_it_was(tmp_path, embedder):
    seed(tmp_path / "j" / "memories.db", embedder)
    made = Path(command(tmp_path, "j", "backup").stdout.strip())
    before = everything(tmp_path / "j" / "memories.db", embedder)
    data = bytearray(made.read_bytes())
    page = 4096
    data[3 * page:4 * page] = b"\xde\xad" * (page // 2)  # a page of the backup goes bad on the disk
    made.write_bytes(bytes(data))
    done = command(tmp_path, "j", "restore", str(made))
    assert done.returncode == 1 and "is damaged" in done.stderr and "nothing was restored" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert everything(tmp_path / "j" / "memories.db", embedder) == before


def test_keep_prunes_only_backups_it_wrote_and_a_full_or_unwritable_folder_is_one_line(tmp_path, embedder):
    import os

    seed(tmp_path / "k" / "memories.db", embedder)
    folder = tmp_path / "k-backups"
    folder.mkdir()
    someone_elses = folder / "memories-20200101-000000.db"  # our name pattern, but not ours
    someone_elses.write_bytes(b"a person's own copy")
    made = [command(tmp_path, "k", "backup", str(folder), "--keep", "2").stdout.strip() for _ in range(3)]
    assert someone_elses.exists() and not Path(made[0]).exists() and all(Path(p).exists() for p in made[1:])
    locked = tmp_path / "k-locked"
    locked.mkdir()
    os.chmod(locked, 0o500)
    if os.geteuid() != 0:  # root writes anywhere; the full disk below is checked for every user
        done = command(tmp_path, "k", "backup", str(locked))
        assert done.returncode == 1 and "Traceback" not in done.stderr and "choose a folder" in done.stderr.lower()
    full = subprocess.run(["bash", "-c", f"ulimit -f 8; exec {PYTHON} -m server backup {tmp_path / 'k-full'}"],
                          cwd=REPO, env=server_env(tmp_path, MCP_MEMORY_BASE_DIR=str(tmp_path / "k")),
                          capture_output=True, text=True, timeout=120)
    assert full.returncode == 1 and "Traceback" not in full.stderr, full.stderr
    assert not list((tmp_path / "k-full").glob("memories-*.db"))


def test_the_dashboard_command_keeps_a_new_data_folder_private(tmp_path):
    import signal

    from tests.support.net import free_port

    port = free_port()
    data = tmp_path / "fresh" / "data"
    env = server_env(tmp_path, MCP_MEMORY_BASE_DIR=str(data), MCP_HTTP_PORT=str(port))
    serving = subprocess.Popen([PYTHON, "-m", "server", "dashboard", "--no-browser"], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        assert serving.stdout.readline().strip() == f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 60
        while not (data / "memories.db").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert oct(data.stat().st_mode & 0o777) == "0o700"
        assert oct((data / "memories.db").stat().st_mode & 0o777) == "0o600"
    finally:
        serving.send_signal(signal.SIGINT)
        serving.communicate(timeout=30)
    assert serving.returncode == 0
