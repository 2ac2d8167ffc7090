"""The smoke test: start the server exactly as a client will, and store, find and delete a probe memory."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anyio

from installer.errors import InstallerError
from server.record import PROBE_TAG

SMOKE_TIMEOUT = 120.0
# What a client such as Claude Desktop passes on: little more than the entry's own env.
# The shared daemon's own settings pass too: whether to use it, its idle time and its folder are the user's.
_PASSED_THROUGH = ("PATH", "HOME", "USERPROFILE", "APPDATA", "LOCALAPPDATA", "SYSTEMROOT", "TEMP", "TMP", "LANG",
                   "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR", "MCP_MEMORY_DAEMON", "MCP_MEMORY_DAEMON_IDLE",
                   "MCP_MEMORY_RUNTIME_DIR")


# (store, search, delete) in each tool profile the server may list (MCP_MEMORY_TOOL_PROFILE).
PROFILE_CALLS = {"classic": ("store_memory", "retrieve_memory", "delete_memory"),
                 "unified": ("memory_store", "memory_search", "memory_delete")}


@dataclass(frozen=True)
class SmokeResult:
    connect_seconds: float
    total_seconds: float


def smoke_test(entry: Mapping[str, Any]) -> SmokeResult:
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as errlog:
        try:
            return anyio.run(_probe, entry, errlog)
        except Exception as exc:  # any failure of the probe is reported with the server's own words
            errlog.seek(0)
            stderr = errlog.read().strip()[-3000:]
            cause = _root_cause(exc)
            raise InstallerError(
                f"The smoke test failed: {cause or type(cause).__name__}" + (f"\nServer stderr:\n{stderr}" if stderr else ""),
                f"run the server by hand to see more: {entry['command']} {' '.join(entry['args'])}",
            ) from exc


async def _probe(entry: Mapping[str, Any], errlog: Any) -> SmokeResult:
    from mcp import Client, StdioServerParameters
    from mcp.client.stdio import stdio_client

    env = {k: v for k, v in os.environ.items() if k in _PASSED_THROUGH}
    env.update(entry.get("env", {}))
    params = StdioServerParameters(command=entry["command"], args=list(entry["args"]), env=env)
    probe = f"mcp-memory installer probe {uuid.uuid4()}"
    start = time.perf_counter()
    with anyio.fail_after(SMOKE_TIMEOUT):
        async with Client(stdio_client(params, errlog=errlog)) as client:
            connected = time.perf_counter() - start
            names = {tool.name for tool in (await client.list_tools()).tools}
            store, search, delete = PROFILE_CALLS["unified" if "memory_store" in names else "classic"]
            stored = await client.call_tool(store, {"content": probe, "tags": [PROBE_TAG]})
            _check(stored, store)
            hash_ = stored.structured_content["content_hash"]
            try:
                found = await client.call_tool(search, {"query": probe, **(
                    {"n_results": 1} if search == "retrieve_memory" else {"limit": 1})})
                _check(found, search)
                results = found.structured_content["results"]
                if not results or results[0]["content"] != probe:
                    raise RuntimeError(f"{search} did not find the probe memory it had just stored")
            except BaseException:
                # A failed check leaves nothing behind in the user's store (their D1, on the cloud backends).
                with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                    await client.call_tool(delete, {"content_hash": hash_})
                raise
            _check(await client.call_tool(delete, {"content_hash": hash_}), delete)
    return SmokeResult(connected, time.perf_counter() - start)


def _root_cause(exc: BaseException) -> BaseException:
    """The first real error inside task-group wrappers ("unhandled errors in a TaskGroup" says nothing)."""
    inner = getattr(exc, "exceptions", None)  # (Base)ExceptionGroup, also from the 3.10 backport
    while inner:
        exc = inner[0]
        inner = getattr(exc, "exceptions", None)
    return exc


def _check(result: Any, tool: str) -> None:
    if result.is_error:
        raise RuntimeError(f"{tool} answered an error: {result.content[0].text}")
