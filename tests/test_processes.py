"""The real server as a subprocess: stdio with the SDK client, HTTP with auth, two processes on one file."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from mcp import Client, StdioServerParameters

from tests.conftest import PYTHON, REPO, server_env
from tests.support.net import free_port

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def stdio_params(env: dict[str, str]) -> StdioServerParameters:
    return StdioServerParameters(command=PYTHON, args=["-m", "server"], env=env, cwd=str(REPO))




class HttpServer:
    def __init__(self, env: dict[str, str], port: int, tmp_path: Path, *extra: str) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = tmp_path / f"http-{port}.log"
        with self.log.open("wb") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [PYTHON, "-m", "server", "--transport", "http", "--port", str(port), *extra],
                env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=log,
            )

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)  # polling a process we do not control; bounded by the deadline
        raise AssertionError(f"server not ready in {timeout}s: {self.log.read_text()}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def test_stdio_server_answers_a_real_client_and_writes_nothing_else_to_stdout(tmp_path):
    env = server_env(tmp_path)
    async with Client(stdio_params(env)) as client:
        stored = await client.call_tool("store_memory", {"content": "stdio works", "tags": ["t"]})
        assert not stored.is_error
        found = await client.call_tool("retrieve_memory", {"query": "does stdio work?"})
        assert found.structured_content["results"][0]["content"] == "stdio works"
    assert (tmp_path / "data" / "memories.db").exists()


def test_a_bad_setting_stops_start_up_with_one_line(tmp_path):
    env = server_env(tmp_path, MCP_MEMORY_STORAGE_BACKEND="chromadb")
    done = subprocess.run([PYTHON, "-m", "server"], env=env, cwd=REPO, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "MCP_MEMORY_STORAGE_BACKEND='chromadb'" in lines[0] and "sqlite_vec" in lines[0]


def test_a_non_loopback_bind_without_an_api_key_is_refused(tmp_path):
    env = server_env(tmp_path)
    done = subprocess.run([PYTHON, "-m", "server", "--transport", "http", "--host", "0.0.0.0"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert "MCP_API_KEY" in done.stderr


async def test_http_server_serves_mcp_and_health_and_requires_the_api_key(tmp_path):
    port = free_port()
    server = HttpServer(server_env(tmp_path, MCP_API_KEY="test-key-123"), port, tmp_path)
    try:
        server.wait_ready()
        health = httpx.get(f"{server.url}/health", timeout=5).json()
        assert health["status"] == "ok" and health["backend"] == "sqlite_vec"
        denied = httpx.post(f"{server.url}/mcp", json={}, timeout=5)
        assert denied.status_code == 401
        for wrong in ("Bearer test-key-12", "Basic test-key-123", "test-key-123", "Bearer"):
            assert httpx.post(f"{server.url}/mcp", json={}, headers={"Authorization": wrong},
                              timeout=5).status_code == 401, wrong
        for spelling in ("bearer", "BEARER", "BeArEr"):  # RFC 7235: the scheme is case-insensitive
            answer = httpx.post(f"{server.url}/mcp", json={}, timeout=5,
                                headers={"Authorization": f"{spelling} test-key-123"})
            assert answer.status_code != 401, spelling
        auth = httpx.AsyncClient(headers={"Authorization": "Bearer test-key-123"}, timeout=30)
        from mcp.client.streamable_http import streamable_http_client

        async with auth, Client(streamable_http_client(f"{server.url}/mcp", http_client=auth)) as client:
            result = await client.call_tool("store_memory", {"content": "over http"})
            assert not result.is_error
    finally:
        server.stop()
    assert "test-key-123" not in server.log.read_text()


async def test_two_server_processes_and_many_concurrent_writes_lose_nothing(tmp_path):
    """Claude Desktop's stdio server and an HTTP server on one database file, writing at once."""
    env = server_env(tmp_path)
    port = free_port()
    http_server = HttpServer(env, port, tmp_path)
    per_client = 40
    try:
        http_server.wait_ready()

        async def write_all(client: Client, prefix: str) -> list[bool]:
            async def one(n: int) -> bool:
                result = await client.call_tool("store_memory", {"content": f"{prefix} memory {n}", "tags": [prefix]})
                return not result.is_error and result.structured_content["created"]

            return list(await asyncio.gather(*(one(n) for n in range(per_client))))

        async with Client(stdio_params(env)) as stdio_client, Client(f"{http_server.url}/mcp") as http_client:
            results = await asyncio.gather(write_all(stdio_client, "stdio"), write_all(http_client, "http"))
            assert all(all(r) for r in results)
            listing = await stdio_client.call_tool("list_memories", {"page_size": 100})
            contents = [m["content"] for m in listing.structured_content["memories"]]
            via_http = await http_client.call_tool("retrieve_memory", {"query": "stdio memory 7", "n_results": 3})
    finally:
        http_server.stop()
    assert sorted(contents) == sorted(f"{p} memory {n}" for p in ("stdio", "http") for n in range(per_client))
    assert any(r["content"] == "stdio memory 7" for r in via_http.structured_content["results"])
    assert "database is locked" not in http_server.log.read_text()


async def test_connections_to_the_http_socket_have_nagle_off_so_a_kept_alive_request_is_not_held_40_ms():
    import asyncio
    import socket

    from server.http_server import bind_port

    listening = bind_port("127.0.0.1", 0)
    accepted: asyncio.Future = asyncio.get_running_loop().create_future()

    class Probe(asyncio.Protocol):
        def connection_made(self, transport):  # the same asyncio path uvicorn's server takes
            accepted.set_result(transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    server = await asyncio.get_running_loop().create_server(Probe, sock=listening)
    try:
        _, writer = await asyncio.open_connection(*listening.getsockname()[:2])
        assert await asyncio.wait_for(accepted, 10) != 0
        writer.close()
    finally:
        server.close()
