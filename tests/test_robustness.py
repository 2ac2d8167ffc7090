"""Bad input per tool and hostile HTTP clients: every case gets a clear answer, nothing partial is written."""

from __future__ import annotations

import sys
import time

import pytest
from mcp import Client

from server.app import build_server
from server.backends import local_store
from tests.support.database import reading, writing

pytestmark = pytest.mark.anyio


async def test_an_oversized_query_is_refused_with_the_limit_and_a_long_one_is_not_echoed_in_full(settings):
    server, _ = build_server(settings)
    async with Client(server) as client:
        huge = await client.call_tool("retrieve_memory", {"query": "x" * 200_000})
        assert huge.is_error and "the limit is 5000" in huge.content[0].text
        assert len(huge.content[0].text) < 500
        recall = await client.call_tool("recall_memory", {"query": "last week " + "y" * 6000})
        assert recall.is_error and "the limit is 5000" in recall.content[0].text
        long = "which memory talks about ducks " * 100  # 3,100 characters: allowed, but not repeated back
        answer = await client.call_tool("retrieve_memory", {"query": long})
        assert not answer.is_error
        assert len(answer.content[0].text) < 400 and len(answer.structured_content["query"]) <= 200


async def test_invisible_content_is_empty_and_an_empty_type_clears_it(settings):
    server, _ = build_server(settings)
    async with Client(server) as client:
        for content in ("\u200b\u200b", "\x00\x00", " \ufeff "):
            refused = await client.call_tool("store_memory", {"content": content})
            assert refused.is_error and "content is empty" in refused.content[0].text
        stored = await client.call_tool("store_memory", {"content": "typed", "memory_type": "note"})
        content_hash = stored.structured_content["content_hash"]
        cleared = await client.call_tool("update_memory_metadata", {"content_hash": content_hash, "memory_type": ""})
        assert not cleared.is_error and cleared.structured_content["memory"]["memory_type"] is None


async def test_the_metadata_limit_holds_for_the_merged_result_not_each_update(settings):
    server, _ = build_server(settings)
    async with Client(server) as client:
        stored = await client.call_tool("store_memory", {"content": "grows"})
        content_hash = stored.structured_content["content_hash"]
        answers = [await client.call_tool("update_memory_metadata", {"content_hash": content_hash,
                                                                     "metadata": {f"k{i}": "v" * 3000}})
                   for i in range(5)]
        assert [a.is_error for a in answers] == [False, False, False, True, True]
        assert "after this update" in answers[3].content[0].text
        listed = await client.call_tool("list_memories", {})
        assert len(str(listed.structured_content["memories"][0]["metadata"])) < 10_000


def test_every_loopback_spelling_gets_host_and_origin_checks_and_port_80_allows_the_bare_name():
    from server.http import transport_security

    for host in ("127.0.0.1", "127.0.0.2", "LOCALHOST", "0:0:0:0:0:0:0:1", "::1", "localhost"):
        security = transport_security(host, 8000)
        assert security is not None and security.enable_dns_rebinding_protection, host
        assert "127.0.0.1:8000" in security.allowed_hosts and "evil.example:8000" not in security.allowed_hosts
        assert "http://localhost:8000" in security.allowed_origins
    assert "127.0.0.2:8000" in transport_security("127.0.0.2", 8000).allowed_hosts
    assert "[::1]:8000" in transport_security("0:0:0:0:0:0:0:1", 8000).allowed_hosts
    assert {"localhost", "localhost:80"} <= set(transport_security("localhost", 80).allowed_hosts)
    assert transport_security("0.0.0.0", 8000) is None  # keyed: the key guards it
    proxied = transport_security("0.0.0.0", 8000, ("memory.example.org",), ("https://memory.example.org",))
    assert proxied.allowed_hosts == ["memory.example.org"]


@pytest.mark.parametrize("bind", ["127.0.0.2", "LOCALHOST"])
def test_a_rebound_host_or_a_foreign_origin_cannot_reach_mcp_on_any_loopback_spelling(tmp_path, bind):
    import httpx

    from tests.conftest import server_env
    from tests.test_processes import HttpServer, free_port

    port = free_port()
    server = HttpServer(server_env(tmp_path), port, tmp_path, "--host", bind)
    server.url = f"http://127.0.0.2:{port}" if bind == "127.0.0.2" else f"http://127.0.0.1:{port}"
    body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "page", "version": "1"}}}
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    try:
        server.wait_ready()
        rebound = httpx.post(f"{server.url}/mcp", json=body, headers={**headers, "Host": f"evil.example:{port}"},
                             timeout=5)
        assert rebound.status_code == 421
        foreign = httpx.post(f"{server.url}/mcp", json=body, headers={**headers, "Origin": "http://evil.example"},
                             timeout=5)
        assert foreign.status_code == 403
        own = httpx.post(f"{server.url}/mcp", json=body, headers={**headers, "Origin": f"http://localhost:{port}",
                                                                  "Host": f"localhost:{port}"}, timeout=5)
        assert own.status_code == 200, own.text
    finally:
        server.stop()


async def test_a_write_that_fails_for_a_full_disk_or_a_read_only_file_says_why_and_keeps_nothing(tmp_path, embedder):
    from server.settings import settings_from_values

    settings = settings_from_values({"MCP_MEMORY_BASE_DIR": str(tmp_path)})
    store = local_store(settings, embedder=embedder)
    server, _ = build_server(settings, storage=store)
    async with Client(server) as client:
        ok = await client.call_tool("store_memory", {"content": "before the disk filled up"})
        assert not ok.is_error
        with reading(store.path) as conn:
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
        store._conn.execute(f"PRAGMA max_page_count = {pages}")  # the file may not grow: as on a full disk
        full = await client.call_tool("store_memory", {"content": "a long memory " * 300})
        assert full.is_error and "Nothing was stored: the disk holding" in full.content[0].text, full.content[0].text
        store._conn.execute("PRAGMA max_page_count = 1073741823")
        store._conn.execute("PRAGMA query_only = 1")  # as a read-only file would (root ignores file modes)
        read_only = await client.call_tool("store_memory", {"content": "on a read-only file"})
        assert read_only.is_error and "cannot be written" in read_only.content[0].text
        store._conn.execute("PRAGMA query_only = 0")
        listed = await client.call_tool("list_memories", {})
        assert listed.structured_content["total"] == 1  # nothing partial was kept


@pytest.mark.parametrize(("case", "expected"), [
    ("damaged header", "not a SQLite database"),
    ("a folder at the database path", "a folder"),
    ("a text file at the database path", "not a SQLite database"),
    (".env not UTF-8", "not UTF-8"),
    ("MCP_MEMORY_ENV_FILE is a folder", "that is a folder"),
    ("MCP_MEMORY_ENV_FILE is /dev/null", "not a regular file"),
    (".env with an unbalanced quote", "unbalanced quote"),
    ("a migration that cannot run", "Cannot prepare the database"),
])
def test_a_start_up_failure_is_one_line_and_exit_2(tmp_path, case, expected):
    import sqlite3
    import subprocess

    from tests.conftest import PYTHON, REPO, server_env

    db = tmp_path / "data" / "memories.db"
    db.parent.mkdir(parents=True)
    env = server_env(tmp_path, MCP_LOG_LEVEL="WARNING")  # the INFO log lines are not the failure
    env_file = tmp_path / "server.env"
    if case == "damaged header":
        db.write_bytes(b"SQLite format 2\x00" + b"\x00" * 200)
    elif case == "a folder at the database path":
        db.mkdir()
    elif case == "a text file at the database path":
        db.write_text("my notes\n", encoding="utf-8")
    elif case == ".env not UTF-8":
        env_file.write_bytes(b"MCP_LOG_LEVEL=INFO\nMCP_API_KEY=caf\xe9\n")
        env["MCP_MEMORY_ENV_FILE"] = str(env_file)
    elif case == "MCP_MEMORY_ENV_FILE is a folder":
        env["MCP_MEMORY_ENV_FILE"] = str(tmp_path)
    elif case == "MCP_MEMORY_ENV_FILE is /dev/null":
        env["MCP_MEMORY_ENV_FILE"] = "/dev/null"
    elif case == ".env with an unbalanced quote":
        env_file.write_text('MCP_LOG_LEVEL="INFO\nMCP_MEMORY_STORAGE_BACKEND=sqlite_vec\n', encoding="utf-8")
        env["MCP_MEMORY_ENV_FILE"] = str(env_file)
    else:  # ours, but a table our migration creates is already there
        with sqlite3.connect(db) as conn:
            conn.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
            conn.execute("INSERT INTO schema_migrations VALUES ('0001_memories', 0)")
            conn.execute("CREATE TABLE sync_outbox (x)")
    done = subprocess.run([PYTHON, "-m", "server"], env=env, cwd=REPO, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and expected in lines[0], done.stderr


async def test_a_misspelled_argument_is_refused_naming_the_known_ones(settings):
    server, _ = build_server(settings)
    async with Client(server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert tools["retrieve_memory"].input_schema.get("additionalProperties") is False
        wrong = await client.call_tool("retrieve_memory", {"query": "ducks", "n_result": 3})
        assert wrong.is_error
        text = wrong.content[0].text
        assert "'n_result'" in text and "n_results" in text and "min_similarity" in text
        right = await client.call_tool("retrieve_memory", {"query": "ducks", "n_results": 3})
        assert not right.is_error
        none = await client.call_tool("check_database_health", {"verbose": True})
        assert none.is_error and "no arguments" in none.content[0].text


async def test_health_says_no_more_than_its_status_off_loopback(tmp_path):
    import httpx

    from server.http import build_http_app
    from server.settings import settings_from_values

    for host, fields in (("0.0.0.0", {"status"}), ("127.0.0.1", {"status", "version", "backend"})):
        settings = settings_from_values({"MCP_MEMORY_BASE_DIR": str(tmp_path), "MCP_HTTP_HOST": host,
                                         "MCP_API_KEY": "k" * 32})
        server, state = build_server(settings)
        state.storage = object()  # open: only readiness is read here
        transport = httpx.ASGITransport(app=build_http_app(server, state))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
            answer = (await client.get("/health")).json()
        assert set(answer) == fields, host


def test_a_key_in_a_query_string_never_reaches_the_log(tmp_path):
    import subprocess
    import time

    import httpx

    from tests.conftest import PYTHON, REPO, server_env
    from tests.test_processes import free_port

    port = free_port()
    log, stdout = tmp_path / "server.log", tmp_path / "stdout.log"
    with log.open("wb") as err, stdout.open("wb") as out:  # every log line, the access log too, on stderr
        proc = subprocess.Popen([PYTHON, "-m", "server", "--transport", "http", "--port", str(port)], cwd=REPO,
                                env=server_env(tmp_path, MCP_API_KEY="the-real-key-0123456789"), stdout=out,
                                stderr=err)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)  # a process we do not control; bounded by the deadline
        for path in ("/mcp?api_key=leaked-secret-1", "/health?token=leaked-secret-2"):
            httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    text = log.read_text()
    assert "GET /health?<redacted>" in text, text  # the access log is on, and redacted
    assert stdout.read_text() == ""
    assert "leaked-secret" not in text and "the-real-key" not in text


async def test_a_database_deleted_or_replaced_under_a_running_server_refuses_writes_and_says_so(tmp_path, embedder):
    import shutil

    from server.settings import settings_from_values
    from server.storage.local.sqlite_vec import SqliteVecStorage

    settings = settings_from_values({"MCP_MEMORY_BASE_DIR": str(tmp_path / "data")})
    store = local_store(settings, embedder=embedder)
    server, _ = build_server(settings, storage=store)
    async with Client(server) as client:
        await client.call_tool("store_memory", {"content": "the original file's memory"})
        healthy = await client.call_tool("check_database_health", {})
        assert healthy.structured_content["status"] == "healthy"
        # Replaced: another database moved into its place (`mv`), as a restore might do.
        other = tmp_path / "other"
        other_store = SqliteVecStorage(other / "memories.db", settings.sqlite_pragmas, embedder)
        other_store.open()
        other_store.close()
        shutil.move(str(settings.database_path), str(tmp_path / "moved-away.db"))
        shutil.move(str(other / "memories.db"), str(settings.database_path))
        refused = await client.call_tool("store_memory", {"content": "would be lost at the next start"})
        assert refused.is_error and "was replaced while this server was running" in refused.content[0].text
        search = await client.call_tool("retrieve_memory", {"query": "original"})
        assert search.is_error and "Restart the server" in search.content[0].text
        health = await client.call_tool("check_database_health", {})
        assert health.structured_content["status"] == "failing"
        assert "replaced" in health.content[0].text
        settings.database_path.unlink()  # and deleted
        gone = await client.call_tool("store_memory", {"content": "into a deleted file"})
        assert gone.is_error and "was deleted while this server was running" in gone.content[0].text


def test_the_vector_index_starts_over_when_the_log_goes_backwards(storage):
    """An older copy of the file put back in place: the in-memory index must not keep vectors it lost."""
    from server.storage.local import vector_mirror

    from server.record import Memory, iso_utc

    now = 1.8e9
    for text in ("kept memory", "memory only in the newer file"):
        storage.store(Memory(text, text.replace(" ", "-"), created_at=now, created_at_iso=iso_utc(now),
                             updated_at=now, updated_at_iso=iso_utc(now)))
    storage.warm_up()
    index_before = len(storage._index)
    with writing(storage.path) as conn:  # the older file: its log ends before the second memory
        newest = conn.execute("SELECT max(seq) FROM vector_log").fetchone()[0]
        conn.execute("DELETE FROM vector_log WHERE seq = ?", (newest,))
        conn.execute("DELETE FROM memory_vectors WHERE memory_id = (SELECT max(memory_id) FROM memory_vectors)")
    with reading(storage.path) as conn:
        vector_mirror.catch_up(conn, storage._index)
    assert index_before == 2 and len(storage._index) == 1


def test_doctor_fails_a_damaged_database_instead_of_saying_it_opens(tmp_path):
    from tests.test_installer_noninteractive import BASE, Sandbox

    box = Sandbox(tmp_path)
    (box.home / ".config" / "Claude").mkdir(parents=True)
    assert box.run(*BASE, "--data-dir", str(tmp_path / "data")).returncode == 0
    good = box.run("doctor")
    assert "✓ database:" in good.stdout and "is intact" in good.stdout, good.stdout
    import sqlite3

    db = tmp_path / "data" / "memories.db"
    with sqlite3.connect(db) as conn:  # everything into the main file, so the damage below is what is read
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = bytearray(db.read_bytes())
    page = 4096
    for n in range(1, len(raw) // page):  # scribble over every page's cell pointers past the first
        raw[n * page + 8:n * page + 200] = b"\xff" * 192
    db.write_bytes(bytes(raw))
    bad = box.run("doctor")
    assert bad.returncode == 1 and "✗ database:" in bad.stdout and "damaged" in bad.stdout, bad.stdout


def test_slow_clients_holding_half_sent_headers_are_dropped_and_health_keeps_answering(tmp_path):
    import socket
    import time

    import httpx

    from tests.conftest import server_env
    from tests.test_processes import HttpServer, free_port

    port = free_port()
    env = server_env(tmp_path, MCP_API_KEY="k" * 32, MCP_HTTP_HEADER_TIMEOUT="2")
    server = HttpServer(env, port, tmp_path)
    slow: list[socket.socket] = []
    try:
        server.wait_ready()
        for _ in range(300):  # each sends part of a request head, then nothing
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            slow.append(sock)
        started = time.monotonic()
        assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200
        assert time.monotonic() - started < 2.0
        time.sleep(3.0)  # past the 2 s header bound
        closed = 0
        for sock in slow:
            sock.settimeout(0.2)  # a closed socket answers at once
            try:
                closed += sock.recv(1) == b""
            except (ConnectionError, socket.timeout):
                closed += 1
        assert closed == len(slow)
    finally:
        for sock in slow:
            sock.close()
        server.stop()


def test_every_stdio_line_gets_an_answer_even_one_that_cannot_be_read(tmp_path):
    import json
    import subprocess

    from tests.conftest import PYTHON, REPO, server_env

    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "probe", "version": "1"}}}
    lines = [json.dumps(init), json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
             '{"jsonrpc": "2.0", "id": 1, "method": "ping"',  # truncated
             '{"jsonrpc":"2.0","id":2,"method":"ping","params":{"x":"\\ud800"}}',  # a lone surrogate
             "[" * 198 + "]" * 198,  # nested deeper than the SDK reads
             json.dumps({"jsonrpc": "2.0", "id": 3, "method": "ping"})]
    import threading

    proc = subprocess.Popen([PYTHON, "-m", "server"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            cwd=REPO, env=server_env(tmp_path, MCP_LOG_LEVEL="WARNING"))
    guard = threading.Timer(60, proc.kill)  # a server that stops answering fails the test, never hangs it
    guard.start()
    try:
        proc.stdin.write("\n".join(lines) + "\n")
        proc.stdin.flush()
        answers = [json.loads(proc.stdout.readline()) for _ in range(5)]  # 1 result, 3 errors, 1 result
    finally:
        guard.cancel()
        proc.stdin.close()
        proc.wait(timeout=30)
        proc.stdout.close()
    errors = [a for a in answers if "error" in a]
    assert len(errors) == 3 and all(a["id"] is None for a in errors), answers
    # Not JSON (truncated, a lone surrogate): parse errors; JSON that is no request (nested lists): invalid request.
    assert sorted(a["error"]["code"] for a in errors) == [-32700, -32700, -32600], answers
    assert {a.get("id") for a in answers if "result" in a} == {0, 3}  # and it went on serving


# Started in place of `python -m server`: a smaller line limit, and a thread that prints to stdout once the
# server has taken the wire (fd 1 no longer the pipe it started on), as a library or a child process might.
_STRAY_OUTPUT_SERVER = """
import os, sys, threading, time
import server.stdio
server.stdio.LINE_LIMIT = 4096
started_on = os.fstat(1).st_ino

def stray():
    for _ in range(600):  # bounded: 60 s at most
        if os.fstat(1).st_ino != started_on:
            print("stray print", flush=True)
            os.write(1, b"stray write\\n")
            return
        time.sleep(0.1)

threading.Thread(target=stray, daemon=True).start()
from server.cli import main
sys.exit(main())
"""


def test_the_stdio_wire_carries_only_answers_and_a_line_too_long_gets_one(tmp_path):
    """On pipes the lines are read and written on the event loop: a line over the limit gets a parse error
    and the server goes on; prints to fd 1 while serving go to stderr, never onto the wire."""
    import json
    import subprocess
    import threading

    from tests.conftest import PYTHON, REPO, server_env

    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "probe", "version": "1"}}}
    proc = subprocess.Popen([PYTHON, "-c", _STRAY_OUTPUT_SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=REPO,
                            env=server_env(tmp_path, MCP_LOG_LEVEL="WARNING"))
    guard = threading.Timer(60, proc.kill)
    guard.start()
    try:
        proc.stdin.write(json.dumps(init) + "\n")
        proc.stdin.flush()
        assert json.loads(proc.stdout.readline())["id"] == 0
        long_ping = {"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": "x" * 10_000}}
        for line in (json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}), json.dumps(long_ping),
                     json.dumps({"jsonrpc": "2.0", "id": 2, "method": "ping"})):
            proc.stdin.write(line + "\n")
        proc.stdin.flush()
        too_long, pong = json.loads(proc.stdout.readline()), json.loads(proc.stdout.readline())
        proc.stdin.close()
        rest, errors = proc.stdout.read(), proc.stderr.read()
        proc.wait(timeout=30)
    finally:
        guard.cancel()
        proc.kill()
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            pipe.close()
    assert too_long["id"] is None and too_long["error"]["code"] == -32700
    assert "longer than 4096 bytes" in too_long["error"]["message"]
    assert pong == {"jsonrpc": "2.0", "id": 2, "result": {}}
    assert rest == "", rest  # nothing but the answers on the wire
    assert "stray print" in errors and "stray write" in errors


def test_a_long_answer_is_written_whole_when_the_client_closes_stdin_before_reading_it(tmp_path):
    """The answer (~95 KB: more than a pipe holds, less than twice that) is still being written when stdin
    closes: the server finishes writing it before it exits."""
    import fcntl
    import json
    import subprocess
    import termios
    import threading

    from tests.conftest import PYTHON, REPO, server_env

    def send(proc, message):
        proc.stdin.write((json.dumps(message) + "\n").encode())
        proc.stdin.flush()

    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "probe", "version": "1"}}}
    proc = subprocess.Popen([PYTHON, "-m", "server"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=REPO,
                            stderr=subprocess.DEVNULL, env=server_env(tmp_path, MCP_LOG_LEVEL="WARNING"))
    guard = threading.Timer(60, proc.kill)
    guard.start()
    try:
        send(proc, init)
        proc.stdout.readline()
        send(proc, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        send(proc, {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "name": "store_memory", "arguments": {"content": "long " * 9_000}}})
        proc.stdout.readline()
        send(proc, {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
            "name": "list_memories", "arguments": {}}})
        waiting = bytearray(4)
        for _ in range(300):  # until the pipe is full (bounded: 30 s)
            fcntl.ioctl(proc.stdout.fileno(), termios.FIONREAD, waiting)
            if int.from_bytes(waiting, sys.byteorder) >= 65536:
                break
            time.sleep(0.1)
        proc.stdin.close()
        try:  # an answer left in the server's buffers would be lost if it exited now
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            pass  # still writing: it waits for us to read
        answer = proc.stdout.read()
        proc.wait(timeout=30)
    finally:
        guard.cancel()
        proc.kill()
        proc.stdout.close()
    assert len(answer) > 90_000
    assert json.loads(answer)["id"] == 2


def test_requests_from_a_file_are_answered_through_the_sdk_transport(tmp_path):
    """stdin a regular file (not a pipe): the SDK's own transport serves, with the same parse errors."""
    import json
    import subprocess

    from tests.conftest import PYTHON, REPO, server_env

    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "probe", "version": "1"}}}
    requests = tmp_path / "requests.jsonl"
    requests.write_text("\n".join([json.dumps(init), json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
                                   "not json", json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"})]) + "\n")
    with requests.open() as stdin:
        done = subprocess.run([PYTHON, "-m", "server"], stdin=stdin, capture_output=True, text=True, cwd=REPO,
                              env=server_env(tmp_path, MCP_LOG_LEVEL="WARNING"), timeout=60)
    answers = [json.loads(line) for line in done.stdout.splitlines()]  # in any order
    assert any(a["id"] == 0 and "serverInfo" in a["result"] for a in answers if "result" in a), answers
    assert any(a.get("error", {}).get("code") == -32700 for a in answers), answers


def test_only_tools_are_declared_and_prompts_or_a_request_without_a_method_get_their_json_rpc_codes(tmp_path):
    """prompts/get for any name was an internal error with a traceback in the log each time; JSON that is no
    request got -32700 (parse error) instead of -32600 (invalid request)."""
    import json
    import subprocess

    from tests.conftest import PYTHON, REPO, server_env

    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "probe", "version": "1"}}}
    requests = [init, {"jsonrpc": "2.0", "method": "notifications/initialized"},
                *({"jsonrpc": "2.0", "id": 10 + n, "method": "prompts/get", "params": {"name": f"p{n}"}} for n in range(20)),
                {"jsonrpc": "2.0", "id": 40, "method": "resources/read", "params": {"uri": "test://x"}},
                {"jsonrpc": "2.0", "id": 41, "params": {}}, {"id": "forty-two"}]
    proc = subprocess.Popen([PYTHON, "-m", "server"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=REPO, env=server_env(tmp_path))
    try:
        proc.stdin.write("".join(json.dumps(r) + "\n" for r in requests))
        proc.stdin.flush()
        answers = {}
        while len(answers) < 24:
            answer = json.loads(proc.stdout.readline())
            answers[answer["id"]] = answer
        proc.stdin.close()
        err = proc.stderr.read()
    finally:
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
    assert answers[1]["result"]["capabilities"].keys() == {"tools"}
    assert {answers[10 + n]["error"]["code"] for n in range(20)} == {-32601}
    assert answers[40]["error"]["code"] == -32601
    assert answers[41]["error"]["code"] == -32600 and answers["forty-two"]["error"]["code"] == -32600
    assert "ERROR" not in err and "Traceback" not in err, err


def test_at_a_low_open_file_limit_a_flood_of_slow_heads_and_bodies_never_shuts_out_health_or_floods_the_log(
        tmp_path):
    """At `ulimit -n 1024`, /health answered 0 of 12 probes for 60 s and "too many open files" filled the log at
    ~100 MB a minute. Slow bodies had no bound at all."""
    import socket
    import subprocess
    import time

    import httpx

    from tests.conftest import PYTHON, REPO, server_env
    from tests.support.net import free_port

    port = free_port()
    env = server_env(tmp_path, MCP_HTTP_HEADER_TIMEOUT="2")
    log = tmp_path / "server.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(["bash", "-c", f"ulimit -n 256; exec {PYTHON} -m server --transport http --port "
                                 f"{port}"], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=err)
    held: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)  # a process we do not control; bounded by the deadline
        for n in range(400):  # more than the process may hold open: half slow heads, half slow bodies
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                if n % 2:
                    sock.sendall(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n{\"jsonrpc\"")
                else:
                    sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                held.append(sock)
            except OSError:
                break
        answered = 0
        for _ in range(12):
            try:
                answered += httpx.get(f"http://127.0.0.1:{port}/health", timeout=3).status_code == 200
            except httpx.TransportError:
                pass
        assert answered == 12
        time.sleep(3.0)  # past the 2 s bound for heads and then for bodies
        still_open = 0
        for sock in held:
            sock.settimeout(0.2)  # a closed socket answers at once
            try:
                still_open += sock.recv(1) != b""
            except socket.timeout:
                still_open += 1
            except OSError:
                pass
        assert still_open == 0
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=3).status_code == 200
    finally:
        for sock in held:
            sock.close()
        proc.terminate()
        proc.wait(timeout=15)
    assert log.stat().st_size < 100_000, log.stat().st_size
