"""The composition root: `build_server(settings)` wires settings, storage, service and tools together.

The lifespan opens the storage (connect + migrate: quick) and starts loading the embedding model and the
vector index in the background, so a client's `initialize` is answered at once; the first tool call that
needs the model waits for it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
from mcp.server.mcpserver import MCPServer

from server import __version__
from server.errors import StorageError
from server.service import MemoryService
from server.settings import Settings
from server.storage.base import MemoryStorage
from server.backends import create_storage
from server.tools import refuse_unknown_arguments, register_tools

logger = logging.getLogger(__name__)

INSTRUCTIONS = {
    "classic": "Long-term memory. Use store_memory to remember facts, decisions and preferences worth keeping; "
               "retrieve_memory to find memories by meaning; recall_memory for a time period (\"last week\"); "
               "search_by_tag and list_memories to browse.",
    "unified": "Long-term memory. Use memory_store to remember facts, decisions and preferences worth keeping; "
               "memory_search to find memories by meaning, tags or time (time_expr: \"last week\"); memory_list "
               "to browse.",
}


@dataclass
class AppState:
    """What the lifespan opens; tools and HTTP routes read it through `service()`."""

    settings: Settings
    storage: MemoryStorage | None = None
    _service: MemoryService | None = field(default=None, repr=False)

    def service(self) -> MemoryService:
        if self._service is None:
            raise StorageError("The memory store is not open yet; retry in a moment.")
        return self._service


def build_server(settings: Settings, storage: MemoryStorage | None = None) -> tuple[MCPServer[Any], AppState]:
    state = AppState(settings=settings, storage=storage)

    @asynccontextmanager
    async def lifespan(_: MCPServer[Any]) -> AsyncIterator[AppState]:
        store = state.storage or create_storage(settings)
        await anyio.to_thread.run_sync(store.open)
        state.storage = store
        state._service = MemoryService(store, settings.max_content_length)
        warm = threading.Thread(target=_warm_up, args=(store,), name="warm-up", daemon=True)
        warm.start()
        logger.info("Memory server ready (backend %s, %s)", store.backend_name, settings.database_path)
        try:
            yield state
        finally:
            state._service = None
            await anyio.to_thread.run_sync(store.close)

    server: MCPServer[Any] = MCPServer(
        "mcp-memory", version=__version__, instructions=INSTRUCTIONS[settings.tool_profile], lifespan=lifespan,
        log_level=settings.log_level,  # type: ignore[arg-type]
    )
    register_tools(server, state.service, settings.tool_profile)
    refuse_unknown_arguments(server)
    _serve_only_tools(server)
    return server, state


def _serve_only_tools(server: MCPServer[Any]) -> None:
    """This server has tools and nothing else. The SDK serves the prompt and resource methods anyway, which
    declares both in the capabilities, and answered prompts/get for any name with an internal error and a
    traceback in the log (a client could fill the log). Without them those methods are "not found" (-32601)."""
    handlers = server._lowlevel_server._request_handlers  # noqa: SLF001 - mcp 2.x has no public way to drop one
    for method in [m for m in handlers if m.startswith(("prompts/", "resources/", "completion/"))]:
        del handlers[method]


def _warm_up(store: MemoryStorage) -> None:
    try:
        store.warm_up()
    except Exception:  # a failed warm-up only costs speed; the first call reports the real error
        logger.exception("Background warm-up failed")
