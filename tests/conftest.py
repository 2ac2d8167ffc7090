"""Shared fixtures: real SQLite files in tmp dirs, the real default embedding engine, real MCP clients."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.embeddings.base import Embedder
from server.embeddings.factory import load_embedder
from server.settings import Settings, settings_from_values
from server.storage.local.sqlite_vec import SqliteVecStorage
from server.backends import local_store
from tests.support.cloudflare_emulator import CloudflareEmulator
from tests.support.environment import without_our_settings
from tests.support.hybrid import Cloud

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real onnx engine, loaded once per test session (0.3-0.5 s)."""
    return load_embedder("onnx")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_from_values({"MCP_MEMORY_BASE_DIR": str(tmp_path / "data")})


@pytest.fixture
def storage(settings: Settings, embedder: Embedder) -> Iterator[SqliteVecStorage]:
    store = local_store(settings, embedder=embedder)
    store.open()
    yield store
    store.close()


def server_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """An environment for a server subprocess: isolated data dir and HOME, nothing from the developer's."""
    env = without_our_settings()
    env.update(HOME=str(tmp_path / "home"), MCP_MEMORY_BASE_DIR=str(tmp_path / "data"), XDG_CONFIG_HOME=str(tmp_path / "cfg"),
               MCP_MEMORY_DAEMON="off")  # a server of its own, as a test of the server expects (tests/test_daemon.py: on)
    env.update(extra)
    return env


PYTHON = sys.executable


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[CloudflareEmulator]:
    """The Cloudflare API on 127.0.0.1, with no database or index yet."""
    emu = CloudflareEmulator(tmp_path).start()
    yield emu
    emu.stop()


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    """One emulated Cloudflare account with a D1 database and a 768-dimension Vectorize index."""
    c = Cloud(tmp_path)
    yield c
    c.stop()


@pytest.fixture
def anyio_backend() -> str:
    """Every async test runs on asyncio (the server's own loop)."""
    return "asyncio"
