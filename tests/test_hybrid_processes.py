"""The hybrid backend in real server processes: SIGKILL in the middle of a sync loses nothing; a stdio and
an HTTP server on one database share the outbox and one sync owner."""

from __future__ import annotations

import signal
import sqlite3
import time

import anyio
import pytest

from server.service import content_hash
from server.record import Memory, iso_utc
from tests.support.cloudflare_emulator import ACCOUNT
from tests.conftest import server_env
from tests.support.hybrid import MODEL, Cloud, device, local_rows, wait_until
from tests.support.net import free_port
from tests.test_processes import HttpServer

pytestmark = pytest.mark.slow

COUNT = 600


def hybrid_env(tmp_path, cloud: Cloud, db) -> dict[str, str]:
    return server_env(
        tmp_path, MCP_MEMORY_STORAGE_BACKEND="hybrid", MCP_MEMORY_SQLITE_PATH=str(db),
        CLOUDFLARE_API_TOKEN="good-token", CLOUDFLARE_ACCOUNT_ID=ACCOUNT, CLOUDFLARE_D1_DATABASE_ID=cloud.database,
        CLOUDFLARE_VECTORIZE_INDEX="mcp-memory-index", CLOUDFLARE_EMBEDDING_MODEL=MODEL,
        CLOUDFLARE_API_BASE_URL=cloud.emulator.base_url, MCP_HYBRID_BATCH_SIZE="5",
    )


def outbox_depth(db) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM sync_outbox").fetchone()[0]


def test_sigkill_in_the_middle_of_a_sync_loses_nothing_and_the_restart_finishes_the_job(cloud, tmp_path, embedder):
    db = tmp_path / "device.db"
    # Queue COUNT memories locally while the server is not running (an offline device).
    offline = device(cloud, db, embedder)
    offline.local.open()
    now = time.time()
    memories = [Memory(content=f"memory {i} about rivers, bridges and {i * 13} boats", content_hash="",
                       tags=(f"batch{i % 7}",), created_at=now + i / 1000, created_at_iso=iso_utc(now),
                       updated_at=now + i / 1000, updated_at_iso=iso_utc(now)) for i in range(COUNT)]
    memories = [Memory(**{**m.__dict__, "content_hash": content_hash(m.content)}) for m in memories]
    assert offline.local.store_many(memories, record=True) == COUNT
    offline.local.close()
    assert outbox_depth(db) == COUNT

    env = hybrid_env(tmp_path, cloud, db)
    server = HttpServer(env, free_port(), tmp_path)
    server.wait_ready()
    wait_until(lambda: 0 < len(cloud.rows()) < COUNT - 100, timeout=60, what="the sync to be under way")
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(timeout=10)
    sent_before_kill = len(cloud.rows())
    assert 0 < sent_before_kill < COUNT
    assert outbox_depth(db) >= COUNT - sent_before_kill - 5  # at most the batch in flight was done

    restarted = HttpServer(env, free_port(), tmp_path)
    restarted.wait_ready()
    try:
        wait_until(lambda: outbox_depth(db) == 0 and len(cloud.rows()) == COUNT, timeout=120,
                   what="the restarted server to finish the sync")
    finally:
        restarted.stop()
    store = device(cloud, db, embedder)
    store.local.open()
    try:
        assert local_rows(store) == cloud.rows()
    finally:
        store.local.close()
    assert cloud.vector_ids() == set(cloud.rows())
    d1 = cloud.emulator.databases[cloud.database][1]
    assert d1.execute("SELECT count(*), count(DISTINCT content_hash) FROM memories").fetchone() == (COUNT, COUNT)
    assert d1.execute("SELECT count(*) FROM memory_tags").fetchone()[0] == COUNT  # one tag each, none twice


@pytest.mark.anyio
async def test_a_stdio_and_an_http_server_share_one_outbox_and_only_the_http_one_syncs(cloud, tmp_path):
    from mcp import Client

    from tests.test_processes import stdio_params

    db = tmp_path / "shared.db"
    env = {**hybrid_env(tmp_path, cloud, db), "MCP_HYBRID_SYNC_OWNER": "http"}
    http = HttpServer(env, free_port(), tmp_path)
    try:
        http.wait_ready()
        async with Client(stdio_params(env)) as stdio:
            for i in range(20):
                await stdio.call_tool("store_memory", {"content": f"from the stdio server {i}: harbours"})
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and (outbox_depth(db) or len(cloud.rows()) < 20):
                await anyio.sleep(0.1)
            status = (await stdio.call_tool("sync_status", {})).structured_content
        assert len(cloud.rows()) == 20 and outbox_depth(db) == 0
        assert status["owner_pid"] == http.proc.pid and status["this_process_owns_sync"] is False
        assert status["may_own_sync"] is False  # MCP_HYBRID_SYNC_OWNER=http: the stdio server never syncs
        d1 = cloud.emulator.databases[cloud.database][1]
        assert d1.execute("SELECT count(*) FROM memory_tags").fetchone()[0] == 0
        assert d1.execute("SELECT count(*), count(DISTINCT content_hash) FROM memories").fetchone() == (20, 20)
    finally:
        http.stop()
