"""The installer's live Cloudflare checks and fallback, non-interactive, against the emulator (real HTTP)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cloudflare_emulator import ACCOUNT, CloudflareEmulator, Fault
from tests.conftest import REPO
from tests.support.environment import clean_environ

TOKEN = "good-token"


@pytest.fixture
def home(tmp_path) -> Path:
    (tmp_path / "home" / ".config" / "Claude").mkdir(parents=True)
    return tmp_path / "home"


def run(home: Path, emulator: CloudflareEmulator, *args: str, token: str | None = TOKEN,
        database: str | None = None) -> subprocess.CompletedProcess[str]:
    env = clean_environ(home, CLOUDFLARE_API_BASE_URL=emulator.base_url, CLOUDFLARE_ACCOUNT_ID=ACCOUNT)
    if token is not None:
        env["CLOUDFLARE_API_TOKEN"] = token
    if database is not None:
        env["CLOUDFLARE_D1_DATABASE_ID"] = database
    command = [sys.executable, "-m", "installer", "--non-interactive", "--no-launch", "--claude-code", "none",
               "--storage-backend", "cloudflare", *args]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL)


def doctor(home: Path) -> subprocess.CompletedProcess[str]:
    """`installer doctor` as the user who ran the install (only HOME and XDG paths from the test)."""
    return subprocess.run([sys.executable, "-m", "installer", "doctor"], cwd=REPO, env=clean_environ(home),
                          capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)


def written(home: Path) -> str:
    """Everything the installer wrote, as one text, to look for backends and secrets."""
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(home.rglob("*")) if p.is_file()
                     and p.suffix != ".db" and "-wal" not in p.name and "-shm" not in p.name)


def test_all_checks_pass_and_cloudflare_is_written_everywhere_without_the_token_in_client_configs(home, emulator):
    emulator.add_index(dimensions=768)
    database = emulator.add_database()
    done = run(home, emulator, database=database)
    assert done.returncode == 0, done.stderr
    assert "ok: connected" in done.stderr  # the smoke test ran on cloudflare, through the emulator
    assert emulator.indexes["mcp-memory-index"].mutation  # the probe's vector went to Vectorize
    for name in ("API token", "account", "D1 database", "Vectorize index", "Workers AI model"):
        assert f"✓ {name}:" in done.stderr
    env_text = (home / ".config" / "mcp-memory" / ".env").read_text(encoding="utf-8")
    assert "MCP_MEMORY_STORAGE_BACKEND=cloudflare" in env_text and f"CLOUDFLARE_D1_DATABASE_ID={database}" in env_text
    assert f"CLOUDFLARE_API_TOKEN={TOKEN}" in env_text  # no keyring on this machine: the 0600 .env, with a warning
    assert "no OS keyring here" in done.stderr
    assert TOKEN not in (home / ".config" / "Claude" / "claude_desktop_config.json").read_text(encoding="utf-8")
    assert TOKEN not in done.stdout + done.stderr


@pytest.mark.parametrize(("case", "check", "hint"), [
    ("expired token", "API token", "D1 Edit"),
    ("disabled token", "API token", "D1 Edit"),
    ("unknown token", "API token", "token was refused"),
    ("wrong account", "account", "CLOUDFLARE_ACCOUNT_ID"),
    ("unknown database", "D1 database", "--create-cloudflare-resources"),
    ("missing index", "Vectorize index", "--create-cloudflare-resources"),
    ("wrong dimensions", "Vectorize index", "an index created for this model"),
    ("token without permission", "account", "CLOUDFLARE_ACCOUNT_ID"),
    ("server errors", "API token", None),
])
def test_each_failure_gives_its_check_line_and_hint_and_falls_back_to_sqlite_vec_everywhere(home, emulator, case,
                                                                                             check, hint):
    database = emulator.add_database()
    emulator.add_index(dimensions=384 if case == "wrong dimensions" else 768)
    token = {"expired token": "expired-token", "disabled token": "disabled-token", "unknown token": "no-such-token"}
    if case == "unknown database":
        database = "00000000-0000-0000-0000-000000000000"
    if case == "missing index":
        emulator.indexes.clear()
    if case == "wrong account":
        emulator.tokens["other-account-token"] = "active"
    if case == "token without permission":
        emulator.limited_tokens.add(TOKEN)
    if case == "server errors":
        emulator.inject(Fault(path=r"/tokens/verify$", status=503, times=100))
    args = ("--cloudflare-account-id", "f" * 32) if case == "wrong account" else ()
    secret = token.get(case, TOKEN)
    done = run(home, emulator, *args, token=secret, database=database)
    assert done.returncode == 0, done.stderr
    assert f"✗ {check}:" in done.stderr
    if hint:
        assert hint in done.stderr
    assert "FALLING BACK to local storage (sqlite_vec)" in done.stderr
    assert "ok: connected" in done.stderr  # the smoke test ran, on sqlite_vec
    everything = written(home)
    assert "MCP_MEMORY_STORAGE_BACKEND=sqlite_vec" in everything
    settings = [line for line in everything.splitlines() if not line.lstrip().startswith("#")]  # not comments
    assert "cloudflare" not in "\n".join(settings).lower()
    assert "because the Cloudflare checks failed" in done.stderr.strip().splitlines()[-1]  # the last line, for CI logs
    assert secret not in everything and secret not in done.stdout + done.stderr


def test_no_fallback_fails_the_run_and_writes_nothing(home, emulator):
    emulator.add_index()
    done = run(home, emulator, "--no-fallback", token="expired-token", database=emulator.add_database())
    assert done.returncode == 1
    assert "--no-fallback" in done.stderr
    assert not (home / ".config" / "mcp-memory" / ".env").exists()


def test_missing_resources_are_created_on_request_then_pass(home, emulator):
    done = run(home, emulator, "--create-cloudflare-resources", "--skip-smoke-test",
               database="00000000-0000-0000-0000-000000000000")
    assert done.returncode == 0, done.stderr
    assert emulator.indexes["mcp-memory-index"].dimensions == 768
    created = next(iter(emulator.databases))
    assert f"CLOUDFLARE_D1_DATABASE_ID={created}" in (home / ".config" / "mcp-memory" / ".env").read_text()


def test_the_token_can_come_from_a_file_and_a_missing_one_names_the_flag(home, emulator, tmp_path):
    emulator.add_index()
    database = emulator.add_database()
    token_file = tmp_path / "token.txt"
    token_file.write_text(f"{TOKEN}\n", encoding="utf-8")
    done = run(home, emulator, "--skip-smoke-test", "--cloudflare-api-token-file", str(token_file), token=None,
               database=database)
    assert done.returncode == 0, done.stderr
    assert f"CLOUDFLARE_API_TOKEN={TOKEN}" in (home / ".config" / "mcp-memory" / ".env").read_text()
    fresh = tmp_path / "fresh-home"
    (fresh / ".config").mkdir(parents=True)
    missing = run(fresh, emulator, "--skip-smoke-test", token=None, database=database)
    assert missing.returncode == 2
    assert "--cloudflare-api-token-file" in missing.stderr and "CLOUDFLARE_API_TOKEN" in missing.stderr


def test_doctor_rechecks_cloudflare_and_fails_once_the_token_expires(home, emulator):
    emulator.add_index(dimensions=768)
    database = emulator.add_database()
    assert run(home, emulator, "--skip-smoke-test", database=database).returncode == 0
    good = doctor(home)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "✓ Cloudflare" in good.stdout
    emulator.tokens[TOKEN] = "expired"
    bad = doctor(home)
    assert bad.returncode == 1 and "✗ Cloudflare: API token" in bad.stdout
    assert TOKEN not in bad.stdout + bad.stderr


def test_hybrid_passes_the_same_checks_and_is_written_everywhere_and_smoke_tested(home, emulator):
    emulator.add_index(dimensions=768)
    database = emulator.add_database()
    done = run(home, emulator, "--storage-backend", "hybrid", database=database)
    assert done.returncode == 0, done.stderr
    assert "✓ shared settings:" in done.stderr and "ok: connected" in done.stderr  # smoke test on hybrid
    env_text = (home / ".config" / "mcp-memory" / ".env").read_text(encoding="utf-8")
    assert "MCP_MEMORY_STORAGE_BACKEND=hybrid" in env_text and f"CLOUDFLARE_D1_DATABASE_ID={database}" in env_text
    assert TOKEN not in (home / ".config" / "Claude" / "claude_desktop_config.json").read_text(encoding="utf-8")


def test_hybrid_with_failing_checks_defaults_to_sqlite_vec_when_unattended_or_fails_with_no_fallback(home, emulator):
    emulator.add_index(dimensions=768)
    database = emulator.add_database()
    done = run(home, emulator, "--storage-backend", "hybrid", "--skip-smoke-test", token="expired-token",
               database=database)
    assert done.returncode == 0, done.stderr
    assert "FALLING BACK to local storage (sqlite_vec)" in done.stderr
    assert "MCP_MEMORY_STORAGE_BACKEND=sqlite_vec" in written(home) and "expired-token" not in written(home)
    strict = run(home.parent / "strict", emulator, "--storage-backend", "hybrid", "--no-fallback",
                 token="expired-token", database=database)
    assert strict.returncode == 1 and "--no-fallback" in strict.stderr


def test_a_device_whose_settings_differ_from_the_recorded_ones_fails_the_shared_settings_check(home, emulator):
    emulator.add_index(dimensions=768)
    database = emulator.add_database()
    conn = emulator.databases[database][1]
    conn.execute("CREATE TABLE shared_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute("INSERT INTO shared_settings VALUES ('part_length', '3000')")  # another version's parts
    done = run(home, emulator, "--storage-backend", "hybrid", "--no-fallback", database=database)
    assert done.returncode == 1
    assert "✗ shared settings: part_length is '3000' in the cloud but '2000' here" in done.stderr
    assert "same version" in done.stderr


def test_doctor_reports_the_hybrid_outbox_and_fails_on_parked_operations(home, emulator):
    import sqlite3

    emulator.add_index(dimensions=768)
    database = emulator.add_database()
    assert run(home, emulator, "--storage-backend", "hybrid", database=database).returncode == 0
    good = doctor(home)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "✓ hybrid sync:" in good.stdout and "none parked" in good.stdout
    db = next((home / ".local" / "share" / "mcp-memory").glob("memories.db"))
    with sqlite3.connect(db) as conn:  # parked earlier, for a cause that is gone now: doctor's server sends it
        conn.execute("INSERT INTO sync_outbox (content_hash, op, queued_at, parked_at, last_error) "
                     "VALUES (?, 'delete', 0, 1, 'a cause fixed since')", ("cd" * 32,))
    fixed = doctor(home)
    assert fixed.returncode == 0 and "none parked" in fixed.stdout, fixed.stdout  # as it is after the retry
    text = "é" * 600_000  # under our limit in characters, over D1's 1 MB a value in bytes: refused for good
    with sqlite3.connect(db) as conn:
        memory_id = conn.execute(
            "INSERT INTO memories (content_hash, content, tags, metadata, created_at, created_at_iso, updated_at, "
            "updated_at_iso) VALUES (?, ?, '[]', '{}', 1.7e9, '', 1.7e9, '') RETURNING id", ("ab" * 32, text)).fetchone()[0]
        conn.execute("INSERT INTO memory_vectors (memory_id, embedding) VALUES (?, ?)", (memory_id, bytes(4 * 384)))
        conn.execute("INSERT INTO sync_outbox (content_hash, op, queued_at, parked_at, last_error) "
                     "VALUES (?, 'upsert', 0, 1, 'string or blob too big: SQLITE_TOOBIG')", ("ab" * 32,))
    bad = doctor(home)
    assert bad.returncode == 1
    assert "✗ hybrid sync: 1 operation(s) parked" in bad.stdout and "SQLITE_TOOBIG" in bad.stdout, bad.stdout
    assert "--retry-parked" in bad.stdout
    retried = subprocess.run([sys.executable, "-m", "installer", "doctor", "--retry-parked"], cwd=REPO,
                             env=clean_environ(home),
                             capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    assert "1 parked operation(s) will be sent again" in retried.stdout, retried.stdout + retried.stderr


def test_a_d1_database_holding_the_leading_projects_schema_is_refused_and_left_untouched(home, emulator):
    emulator.add_index()
    database = emulator.add_database()
    _, conn = emulator.databases[database]
    conn.execute("CREATE TABLE memories (id INTEGER PRIMARY KEY AUTOINCREMENT, content_hash TEXT UNIQUE NOT NULL, "
                 "content TEXT NOT NULL, tags TEXT, memory_type TEXT, metadata TEXT, created_at REAL, updated_at REAL, "
                 "created_at_iso TEXT, updated_at_iso TEXT, deleted_at REAL DEFAULT NULL)")
    conn.execute("INSERT INTO memories (content_hash, content) VALUES ('h', 'theirs')")
    conn.commit()
    before = conn.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()
    done = run(home, emulator, "--no-fallback", database=database)
    assert done.returncode == 1
    assert "another program's memories table" in done.stderr and "--create-cloudflare-resources" in done.stderr
    assert conn.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall() == before


def test_an_index_holding_another_programs_vectors_passes_with_a_warning(home, emulator):
    emulator.add_index()
    emulator.indexes["mcp-memory-index"].vectors["theirs"] = {"id": "theirs", "values": [0.1] * 768, "metadata": {}}
    done = run(home, emulator, "--no-fallback", "--skip-smoke-test", database=emulator.add_database())
    assert done.returncode == 0, done.stderr
    assert "already holds 1 vectors while the D1 database holds none of our memories" in done.stderr


def test_error_codes_decide_missing_not_text_a_transient_503_never_creates_a_database(home, emulator):
    emulator.add_index("mem-3000")  # a name holding a code number
    database = "11111111-7404-4000-8000-000000007404"  # an ID holding one too
    _, conn = emulator.databases[emulator.add_database()]
    emulator.databases[database] = emulator.databases.pop(next(iter(emulator.databases)))
    emulator.inject(Fault(path=f"/d1/database/{database}$", status=503, code=7500, message="upstream busy", times=5))
    done = run(home, emulator, "--create-cloudflare-resources", "--no-fallback", "--skip-smoke-test",
               "--cloudflare-vectorize-index", "mem-3000", database=database)
    assert done.returncode == 1, done.stderr
    assert len(emulator.databases) == 1  # nothing was created
    assert "did not answer properly just now" in done.stderr and "D1 Edit" not in done.stderr
    assert "Traceback" not in done.stderr


def test_creating_resources_twice_reuses_what_exists_and_says_so(home, emulator):
    first = run(home, emulator, "--create-cloudflare-resources", "--skip-smoke-test",
                database="00000000-0000-0000-0000-000000000000")
    assert first.returncode == 0, first.stderr
    again = run(home.parent / "other-home", emulator, "--create-cloudflare-resources", "--skip-smoke-test",
                database="00000000-0000-0000-0000-000000000001")
    assert again.returncode == 0, again.stderr
    assert "reusing the existing D1 database mcp-memory" in again.stderr
    assert len(emulator.databases) == 1 and "Traceback" not in again.stderr


def _cloud_trace(emulator: CloudflareEmulator, database: str) -> tuple:
    _, conn = emulator.databases[database]
    count = lambda table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: E731
    return count("memories"), count("tombstones"), count("change_log"), count("memory_tags")


def _local_trace(home: Path) -> tuple:
    import sqlite3

    path = home / ".local" / "share" / "mcp-memory" / "memories.db"
    with sqlite3.connect(path) as conn:
        return tuple(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                     for t in ("memories", "tombstones", "sync_outbox", "memory_tags"))


@pytest.mark.parametrize("backend", ["cloudflare", "hybrid"])
def test_with_vectorize_applying_writes_late_install_and_doctor_pass_and_leave_nothing_behind(home, emulator, backend):
    emulator.mutation_delay = 3.0  # Vectorize serves a write 3 s after it was accepted
    emulator.add_index(dimensions=768)
    database = emulator.add_database()
    done = run(home, emulator, "--storage-backend", backend, database=database)
    assert done.returncode == 0, done.stderr
    assert "ok: connected" in done.stderr
    checked = doctor(home)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "✓ smoke test" in checked.stdout
    assert _cloud_trace(emulator, database) == (0, 0, 0, 0)  # no probe row, tombstone or change-log entry
    if backend == "hybrid":
        assert _local_trace(home) == (0, 0, 0, 0)  # nor a local tombstone or an outbox entry


def test_a_sqlite_vec_smoke_test_leaves_no_tombstone(home):
    env = clean_environ(home)
    done = subprocess.run([sys.executable, "-m", "installer", "--non-interactive", "--no-launch", "--claude-code",
                           "none"], cwd=REPO, env=env, capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert _local_trace(home) == (0, 0, 0, 0)


def test_a_fallback_over_a_cloud_install_removes_the_unused_cloud_settings_unless_asked_to_keep_them(home, emulator):
    emulator.add_index(dimensions=768)
    database = emulator.add_database()
    assert run(home, emulator, "--skip-smoke-test", database=database).returncode == 0
    env_file = home / ".config" / "mcp-memory" / ".env"
    assert f"CLOUDFLARE_API_TOKEN={TOKEN}" in env_file.read_text(encoding="utf-8")
    emulator.outage("503")
    kept = run(home, emulator, "--skip-smoke-test", "--no-forget-cloudflare-token", database=database)
    assert kept.returncode == 0 and "FALLING BACK" in kept.stderr and TOKEN not in kept.stderr
    text = env_file.read_text(encoding="utf-8")
    assert "MCP_MEMORY_STORAGE_BACKEND=sqlite_vec" in text and f"CLOUDFLARE_API_TOKEN={TOKEN}" in text
    emulator.outage(None)
    assert run(home, emulator, "--skip-smoke-test", database=database).returncode == 0
    emulator.outage("503")
    removed = run(home, emulator, "--skip-smoke-test", database=database)
    assert removed.returncode == 0, removed.stderr
    assert "Cloudflare settings of the earlier cloud setup are removed" in removed.stderr
    text = env_file.read_text(encoding="utf-8")
    assert TOKEN not in text and "CLOUDFLARE_" not in text.split("# ")[0] and not [
        line for line in text.splitlines() if line.startswith("CLOUDFLARE_")], text
    backups = list((env_file.parent / "backups").glob("*.env.bak-*"))
    assert backups and not any(TOKEN in b.read_text(encoding="utf-8") for b in backups)  # not in a backup either


def test_a_smoke_test_that_fails_after_storing_its_probe_leaves_nothing_in_d1(home, emulator):
    from tests.support.cloudflare_emulator import Fault

    emulator.add_index(dimensions=768)
    database = emulator.add_database()
    # The probe is stored, then every search fails (all of the server's own retries too).
    emulator.inject(Fault(path=r"/indexes/[^/]+/query$", status=500, message="internal error", times=50))
    done = run(home, emulator, "--no-fallback", database=database)
    assert done.returncode == 1 and "The smoke test failed" in done.stderr, done.stderr
    assert _cloud_trace(emulator, database) == (0, 0, 0, 0)


def test_check_lines_blame_the_right_thing_for_a_missing_database_or_an_address_nobody_answers(home, emulator):
    from installer.cloudflare_checks import CloudflareConfig, run_checks
    from tests.support.net import free_port

    emulator.add_index(dimensions=768)
    missing = run_checks(CloudflareConfig(TOKEN, ACCOUNT, "00000000-0000-0000-0000-000000000000",
                                          base_url=emulator.base_url))
    lines = {r.name: r for r in missing}
    assert lines["D1 database"].status == "fail" and "CLOUDFLARE_D1_DATABASE_ID" in lines["D1 database"].hint
    assert lines["shared settings"].status == "skip"
    assert lines["Vectorize index"].ok  # a missing database is not the index's problem
    assert not any("D1 Edit" in (r.hint or "") for r in missing)
    nobody = f"http://127.0.0.1:{free_port()}/client/v4"
    unreachable = run_checks(CloudflareConfig(TOKEN, ACCOUNT, "x", base_url=nobody))
    assert unreachable[0].status == "fail" and nobody in unreachable[0].hint
    assert "nothing is wrong with the settings" not in unreachable[0].hint


def test_an_api_that_refuses_the_batch_form_is_found_by_the_check_and_every_write_still_lands(home, emulator,
                                                                                              tmp_path, embedder):
    from installer.cloudflare_checks import CloudflareConfig, run_checks
    from server.service import MemoryService
    from tests.support.hybrid import Cloud, device, drained, service, wait_until

    emulator.add_index(dimensions=768)
    database = emulator.add_database()
    emulator.refuse_batch_form = True
    lines = {r.name: r for r in run_checks(CloudflareConfig(TOKEN, ACCOUNT, database, base_url=emulator.base_url))}
    assert lines["D1 database"].ok and "refuses D1's batch form" in lines["D1 database"].detail
    cloud = Cloud.__new__(Cloud)  # the emulator of this test, its database and index
    cloud.emulator, cloud.database = emulator, database
    store = cloud.storage()
    store.open()
    svc = MemoryService(store, 200_000)
    kept, _ = svc.store("stored through the single form, a statement at a time", tags=["one", "two"])
    gone, _ = svc.store("deleted through the single form")
    svc.delete(gone.content_hash)
    svc.update_metadata(kept.content_hash, tags=["three"])
    assert set(cloud.rows()) == {kept.content_hash} and cloud.rows()[kept.content_hash][0] == '["three"]'
    store.close()
    hybrid = device(cloud, tmp_path / "h.db", embedder)
    hybrid.open()
    try:
        service(hybrid).store("a hybrid write through the single form")
        wait_until(lambda: drained(hybrid), what="the sync")
        assert len(cloud.rows()) == 2
    finally:
        hybrid.close()
