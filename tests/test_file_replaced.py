"""A database file replaced under a running server (`mv` or `cp` of another database over it): the server stops
using it and says so, and the next start opens exactly the file that was put there; the old write-ahead log is
never applied to it, whether the server stopped cleanly or was killed."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from tests.conftest import PYTHON, REPO, server_env

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

MOVED_IN = ["moved-in memory one", "moved-in memory two", "moved-in memory three"]


def params(env: dict[str, str]) -> StdioServerParameters:
    return StdioServerParameters(command=PYTHON, args=["-m", "server"], env=env, cwd=str(REPO))


async def _contents(env: dict[str, str]) -> list[str]:
    async with Client(params(env)) as client:
        listed = await client.call_tool("list_memories", {"page_size": 50})
        assert not listed.is_error, listed.content[0].text
        health = await client.call_tool("check_database_health", {})
        assert health.structured_content["status"] == "healthy", health.content[0].text
        return sorted(m["content"] for m in listed.structured_content["memories"])


async def _other_database(tmp_path: Path) -> Path:
    """Another database of ours, made by the real server, closed cleanly (no log beside it)."""
    env = server_env(tmp_path / "other")
    async with Client(params(env)) as client:
        for text in MOVED_IN:
            assert not (await client.call_tool("store_memory", {"content": text})).is_error
    path = tmp_path / "other" / "data" / "memories.db"
    assert not Path(f"{path}-wal").exists()
    return path


def _replace(how: str, source: Path, target: Path) -> None:
    if how == "mv":
        os.replace(source, target)
    else:
        shutil.copyfile(source, target)


@pytest.mark.parametrize("how", ["mv", "cp"])
async def test_a_running_server_stops_using_a_replaced_file_and_the_next_start_opens_the_new_one(tmp_path, how):
    other = await _other_database(tmp_path)
    env = server_env(tmp_path)
    live = tmp_path / "data" / "memories.db"
    async with Client(params(env)) as client:
        for n in range(5):
            assert not (await client.call_tool("store_memory", {"content": f"original memory {n}"})).is_error
        assert Path(f"{live}-wal").stat().st_size > 0  # commits not yet in the file itself
        _replace(how, other, live)
        health = await client.call_tool("check_database_health", {})
        assert health.structured_content["status"] == "failing"
        assert ("replaced" if how == "mv" else "overwritten (copied over)") in health.content[0].text
        listed = await client.call_tool("list_memories", {})
        assert listed.is_error and "Restart the server" in listed.content[0].text
        refused = await client.call_tool("store_memory", {"content": "would be lost"})
        assert refused.is_error
    assert await _contents(env) == sorted(MOVED_IN)
    aside = sorted(p.name.split(".replaced-")[0] for p in live.parent.iterdir() if ".replaced-" in p.name)
    assert aside == ["memories.db-shm", "memories.db-wal"]  # kept, not deleted, and never applied


HOLDER = """
import sys, time
from pathlib import Path
from server.embeddings.factory import load_embedder
from server.service import MemoryService
from server.settings import settings_from_values
from server.storage.local.sqlite_vec import SqliteVecStorage

settings = settings_from_values({"MCP_MEMORY_BASE_DIR": sys.argv[1]})
store = SqliteVecStorage(settings.database_path, settings.sqlite_pragmas, load_embedder("onnx"))
store.open()
service = MemoryService(store, 200000)
for n in range(5):
    service.store(f"original memory {n}")
print("ready", flush=True)
time.sleep(120)
"""


@pytest.mark.parametrize("how", ["mv", "cp"])
async def test_after_a_kill_the_old_log_is_not_written_into_the_file_put_in_its_place(tmp_path, how):
    other = await _other_database(tmp_path)
    env = server_env(tmp_path)
    live = tmp_path / "data" / "memories.db"
    holder = subprocess.Popen([PYTHON, "-c", HOLDER, str(live.parent)], env=env, cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        assert Path(f"{live}-wal").stat().st_size > 0
        _replace(how, other, live)
        holder.send_signal(signal.SIGKILL)  # no chance to notice: the log stays beside the new file
        holder.wait(timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=30)
        holder.stdout.close()
    assert Path(f"{live}-wal").exists()
    assert await _contents(env) == sorted(MOVED_IN)
