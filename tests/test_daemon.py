"""The shared memory daemon behind the clients' shims (MCP_MEMORY_DAEMON=on): one process for many clients,
started race-free, private to its user, replaced when its version differs, stopping when idle, and a clear
end (never a hang) when it is killed."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mcp import Client

from tests.conftest import REPO, server_env
from tests.support.database import reading
from tests.test_processes import stdio_params

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform == "win32", reason="Unix sockets")]


def daemon_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return server_env(tmp_path, **{"MCP_MEMORY_DAEMON": "on", "MCP_MEMORY_RUNTIME_DIR": str(tmp_path / "run"),
                                   "MCP_MEMORY_DAEMON_IDLE": "4", **extra})


def daemons(tmp_path: Path) -> list[int]:
    """The daemon processes serving sockets in this test's runtime folder."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"daemon" in command and any(str(tmp_path / "run").encode() in part for part in command):
            found.append(int(entry.name))
    return found


@pytest.fixture
def cleanup(tmp_path):
    yield
    for pid in daemons(tmp_path):
        os.kill(pid, signal.SIGKILL)


def wait_for(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


INITIALIZE = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}}) + "\n"


@pytest.mark.anyio
async def test_five_clients_started_at_once_share_one_daemon_and_see_each_others_writes(tmp_path, cleanup):
    env = daemon_env(tmp_path)
    shims = [subprocess.Popen([sys.executable, "-m", "server"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env, cwd=REPO, text=True) for _ in range(5)]
    for shim in shims:  # all five spawned before any answers: they race to start the daemon
        shim.stdin.write(INITIALIZE)
        shim.stdin.flush()
    for shim in shims:
        assert '"serverInfo"' in shim.stdout.readline()
    assert len(daemons(tmp_path)) == 1  # five shims raced to start it: one daemon
    run = tmp_path / "run"
    assert stat.S_IMODE(run.stat().st_mode) == 0o700  # private to this user
    sockets = [p for p in run.iterdir() if p.suffix == ".sock"]
    assert len(sockets) == 1 and stat.S_IMODE(sockets[0].stat().st_mode) == 0o600
    async with Client(stdio_params(env)) as writer, Client(stdio_params(env)) as reader:
        stored = await writer.call_tool("store_memory", {"content": "The shared daemon holds one index."})
        assert not stored.is_error
        found = await reader.call_tool("retrieve_memory", {"query": "how many indexes does the daemon hold?"})
        assert "shared daemon" in found.content[0].text  # written by one client, found by another at once
    assert len(daemons(tmp_path)) == 1
    for shim in shims:
        shim.communicate(timeout=10)  # the clients go (stdin closed): their shims end
        assert shim.returncode == 0
    wait_for(lambda: not daemons(tmp_path), 20, "the idle daemon to stop")  # no client for 4 s: it ends
    assert not list(run.glob("*.sock"))  # and removes its socket


@pytest.mark.anyio
async def test_a_stale_socket_is_replaced_and_a_daemon_of_another_version_is_asked_to_stop(tmp_path, cleanup):
    env = daemon_env(tmp_path)
    async with Client(stdio_params(env)) as client:  # learn the socket's name
        await client.list_tools()
    path = next((tmp_path / "run").glob("*.sock"))
    for pid in daemons(tmp_path):
        os.kill(pid, signal.SIGKILL)  # killed: its socket file stays behind, nobody listening
    wait_for(lambda: not daemons(tmp_path), 10, "the daemon to die")
    assert path.exists()
    async with Client(stdio_params(env)) as client:
        assert (await client.list_tools()).tools
    for pid in daemons(tmp_path):
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not daemons(tmp_path), 10, "the daemon to die")

    # An old daemon (version 0.0.1) at the socket: the shim asks it to stop and starts its own.
    path.unlink(missing_ok=True)
    old = subprocess.Popen([sys.executable, "-c", OLD_DAEMON, str(path)], stderr=subprocess.PIPE, text=True)
    wait_for(path.exists, 10, "the old daemon's socket")
    async with Client(stdio_params(env)) as client:
        assert (await client.list_tools()).tools
    _, said = old.communicate(timeout=10)
    assert old.returncode == 0 and "asked to stop" in said
    assert len(daemons(tmp_path)) == 1


OLD_DAEMON = """
import json, os, socket, sys
path = sys.argv[1]
server = socket.socket(socket.AF_UNIX)
server.bind(path)
server.listen()
while True:
    conn, _ = server.accept()
    hello = json.loads(conn.makefile().readline())
    conn.sendall(json.dumps({"mcp-memory-daemon": "0.0.1"}).encode() + b"\\n")
    conn.close()
    if hello.get("stop"):
        os.unlink(path)
        print("asked to stop", file=sys.stderr)
        break
"""


@pytest.mark.anyio
async def test_a_daemon_killed_during_a_burst_of_stores_loses_no_acknowledged_write_and_the_session_goes_on(
        tmp_path, cleanup):
    env = daemon_env(tmp_path)
    acknowledged, refused = [], []
    async with Client(stdio_params(env)) as client:
        for n in range(40):
            if n == 15:
                for pid in daemons(tmp_path):
                    os.kill(pid, signal.SIGKILL)
            try:
                answer = await asyncio.wait_for(client.call_tool("store_memory", {"content": f"burst memory {n}"}), 60)
            except Exception as exc:  # noqa: BLE001 - the call the daemon died on: an error that says so
                refused.append(str(exc))
                continue
            if not answer.is_error:
                acknowledged.append(f"burst memory {n}")
        found = await client.call_tool("retrieve_memory", {"query": "burst memory 39"})  # the same session
        assert "burst memory 39" in found.content[0].text
    assert len(refused) <= 1 and all("restarted" in why for why in refused), refused
    assert len(acknowledged) >= 39 - len(refused)
    assert len(daemons(tmp_path)) == 1  # a new daemon took over
    with reading(tmp_path / "data" / "memories.db") as conn:
        stored = {r[0] for r in conn.execute("SELECT content FROM memories")}
    assert set(acknowledged) <= stored  # every write the client was told about is in the file


def test_without_a_private_runtime_folder_the_shim_serves_in_process_and_says_why(tmp_path, cleanup):
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    run.chmod(0o777)  # another user could reach a socket here: no daemon
    request = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
    done = subprocess.run([sys.executable, "-m", "server"], input=request + "\n", capture_output=True, text=True,
                          env=daemon_env(tmp_path), cwd=REPO, timeout=60)
    assert '"serverInfo"' in done.stdout  # answered, in this process
    assert "not private to this user" in done.stderr and not daemons(tmp_path)


@pytest.mark.anyio
async def test_an_idle_hybrid_daemon_sends_its_outbox_before_it_stops(tmp_path, cloud, cleanup):
    from tests.test_hybrid_processes import hybrid_env, outbox_depth

    db = tmp_path / "device.db"
    env = {**hybrid_env(tmp_path, cloud, db), "MCP_MEMORY_DAEMON": "on", "MCP_MEMORY_RUNTIME_DIR": str(tmp_path / "run"),
           "MCP_MEMORY_DAEMON_IDLE": "3", "MCP_HYBRID_SYNC_INTERVAL": "3600"}
    cloud.emulator.outage("503")  # the cloud is down while the client works: the change waits in the outbox
    async with Client(stdio_params(env)) as client:
        stored = await client.call_tool("store_memory", {"content": "Written while the cloud was down."})
        assert not stored.is_error
    assert outbox_depth(db) == 1
    cloud.emulator.outage(None)  # back; the client is gone and the daemon idles out
    wait_for(lambda: not daemons(tmp_path), 60, "the idle daemon to stop")
    assert outbox_depth(db) == 0 and len(cloud.rows()) == 1  # sent before it stopped


def started(tmp_path: Path) -> Path:
    """A daemon started by one shim's session (which then ends); its socket."""
    done = subprocess.run([sys.executable, "-m", "server"], input=INITIALIZE, capture_output=True, text=True,
                          env=daemon_env(tmp_path, MCP_MEMORY_DAEMON_IDLE="60"), cwd=REPO, timeout=60)
    assert '"serverInfo"' in done.stdout, done.stderr
    return next((tmp_path / "run").glob("*.sock"))


def test_doctor_sees_the_daemon_without_disturbing_it_and_uninstall_stops_it(tmp_path, cleanup):
    from server import shim

    path = started(tmp_path)
    env = {"MCP_MEMORY_RUNTIME_DIR": str(tmp_path / "run")}
    assert shim.running_daemons(env) == [(path, shim.Answer(shim.__version__, None))]
    assert len(daemons(tmp_path)) == 1  # a look does not stop it
    older = shim.connect(path)  # an older shim: told the daemon's version, and the daemon stays for the others
    assert older is not None
    older.sendall(json.dumps({"mcp-memory-shim": "0.0.1"}).encode() + b"\n")
    assert json.loads(older.makefile().readline())["mcp-memory-daemon"] == shim.__version__
    older.close()
    time.sleep(0.5)
    assert len(daemons(tmp_path)) == 1
    assert shim.stop_daemons(env) == 1
    wait_for(lambda: not daemons(tmp_path), 20, "the daemon to stop when asked")
    assert not path.exists() and shim.running_daemons(env) == []


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("python3", path="/usr/bin:/bin"),
                    reason="needs root (to act as a second user) and a system python3")
def test_another_user_cannot_connect_to_the_daemon(tmp_path, cleanup):
    import tempfile

    open_parent = Path(tempfile.mkdtemp(prefix="mcp-memory-uid-test-"))
    try:
        open_parent.chmod(0o755)  # anyone may pass through here: only the daemon's own folder is private
        run = open_parent / "run"
        done = subprocess.run([sys.executable, "-m", "server"], input=INITIALIZE, capture_output=True, text=True,
                              env=daemon_env(tmp_path, MCP_MEMORY_RUNTIME_DIR=str(run)), cwd=REPO, timeout=60)
        assert '"serverInfo"' in done.stdout, done.stderr
        path = next(run.glob("*.sock"))
        attempt = ("import socket, sys\ns = socket.socket(socket.AF_UNIX)\ntry:\n    s.connect(sys.argv[1])\n"
                   "except PermissionError:\n    print('refused')\nelse:\n    print('connected')\n")
        other = subprocess.run([shutil.which("python3", path="/usr/bin:/bin"), "-c", attempt, str(path)],
                               capture_output=True, text=True, timeout=30, user=65534, group=65534)  # nobody
        assert other.stdout.strip() == "refused", other.stdout + other.stderr
    finally:
        for pid in daemons(open_parent):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(open_parent, ignore_errors=True)


def test_a_daemon_that_cannot_start_is_reported_at_once_and_the_client_gets_the_servers_own_answer(tmp_path, cleanup):
    from tests.support.mms_fixtures import real_database, sha256

    database = real_database(tmp_path / "theirs")
    before = sha256(database)
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "server"], input=INITIALIZE, capture_output=True, text=True,
                          env=daemon_env(tmp_path, MCP_MEMORY_SQLITE_PATH=str(database)), cwd=REPO, timeout=90)
    assert time.monotonic() - began < 30  # not the whole start timeout: the daemon's exit is noticed
    assert "the daemon stopped at start" in done.stderr
    assert "an mcp-memory-service 12.x database" in done.stderr.splitlines()[-1]  # then the server's one line
    assert done.returncode == 2 and sha256(database) == before and not daemons(tmp_path)


@pytest.mark.anyio
async def test_the_daemon_serves_the_dashboard_and_url_clients_from_the_same_store(tmp_path, cleanup):
    """MCP_HTTP_ENABLED=true: the daemon's HTTP server (port 0: a free one, said in the handshake) shares the
    socket clients' one lifespan: what one kind of client stores, the other finds, and the store opened once."""
    import httpx
    from mcp.client.streamable_http import streamable_http_client

    from server import shim

    env = daemon_env(tmp_path, MCP_HTTP_ENABLED="true", MCP_HTTP_PORT="0")
    async with Client(stdio_params(env)) as client:
        stored = await client.call_tool("store_memory", {"content": "Stored through the socket shim."})
        assert not stored.is_error
        [(path, said)] = shim.running_daemons(env)
        assert said.http and said.http.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient(timeout=30) as http:
            listed = (await http.get(f"{said.http}/api/memories")).json()
            assert [m["content"] for m in listed["results"]] == ["Stored through the socket shim."]
            async with Client(streamable_http_client(f"{said.http}/mcp", http_client=http)) as url_client:
                added = await url_client.call_tool("store_memory", {"content": "Stored by a URL client."})
                assert not added.is_error
        found = await client.call_tool("retrieve_memory", {"query": "Stored by a URL client."})
        assert "Stored by a URL client." in found.content[0].text
    dashboard = subprocess.run([sys.executable, "-m", "server", "dashboard", "--no-browser"], env=env, cwd=REPO,
                               capture_output=True, text=True, timeout=30)
    assert dashboard.stdout.strip() == f"{said.http}/"  # the command opens the daemon's, serving none itself
    log = path.with_suffix(".log").read_text()
    assert log.count("Memory server ready") == 1  # one store, one model for both kinds of client
    wait_for(lambda: not daemons(tmp_path), 20, "the idle daemon to stop its HTTP server too")


@pytest.mark.anyio
async def test_the_loopback_transport_shares_one_daemon_and_refuses_a_connection_without_the_users_secret(
        tmp_path, cleanup):
    """What Windows uses (MCP_MEMORY_DAEMON_TRANSPORT=tcp elsewhere): a loopback port named, with a new secret,
    in a 0600 file of the private folder. Shims started at once make one daemon; a process that only knows the
    port gets nothing; a file left by a killed daemon is replaced."""
    import socket

    from server import shim

    env = daemon_env(tmp_path, MCP_MEMORY_DAEMON_TRANSPORT="tcp")
    shims = [subprocess.Popen([sys.executable, "-m", "server"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env, cwd=REPO, text=True) for _ in range(3)]
    for one in shims:
        one.stdin.write(INITIALIZE)
        one.stdin.flush()
    for one in shims:
        assert '"serverInfo"' in one.stdout.readline()
    assert len(daemons(tmp_path)) == 1
    [named] = list((tmp_path / "run").glob("*.tcp"))
    assert stat.S_IMODE(named.stat().st_mode) == 0o600
    said = json.loads(named.read_text())
    for opening in (b'{"mcp-memory-shim": "0.1.0", "probe": true}\n', b'{"secret": "guessed"}\n'):
        intruder = socket.create_connection(("127.0.0.1", said["port"]), timeout=10)
        intruder.sendall(opening + b'{"mcp-memory-shim": "0.1.0", "probe": true}\n')
        assert intruder.recv(4096) == b""  # closed without a word: no version, no session
        intruder.close()
    assert [answer.version for _, answer in shim.running_daemons(env)] == [shim.__version__]
    async with Client(stdio_params(env)) as client:
        assert not (await client.call_tool("store_memory", {"content": "Over loopback, with the secret."})).is_error
    for one in shims:
        one.communicate(timeout=10)
    for pid in daemons(tmp_path):
        os.kill(pid, signal.SIGKILL)  # its file stays, naming a port nobody listens on
    wait_for(lambda: not daemons(tmp_path), 10, "the daemon to die")
    async with Client(stdio_params(env)) as client:
        assert (await client.list_tools()).tools
    assert json.loads(named.read_text())["secret"] != said["secret"]  # a new daemon, a new secret
