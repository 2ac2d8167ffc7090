"""The table of mcp-memory-service 12.4.0's 26 tools in docs/coming-from-mcp-memory-service.md is the truth
about both profiles: each tool it names here is listed by that profile, and each listed tool is in it."""

from __future__ import annotations

import re

import pytest
from mcp import Client

from server.app import build_server
from server.settings import settings_from_values
from tests.conftest import REPO

pytestmark = pytest.mark.anyio

PAGE = REPO / "docs" / "coming-from-mcp-memory-service.md"
# The machine-facts list of mcp-memory-service 12.4.0's tools (measured on its release).
LEADER_TOOLS = {
    "memory_store", "memory_store_session", "memory_search", "memory_list", "memory_update", "memory_delete",
    "memory_cleanup", "memory_health", "memory_stats", "memory_consolidate", "memory_ingest", "memory_harvest",
    "memory_quality", "memory_distill", "memory_review", "memory_graph", "memory_explore", "memory_detail",
    "memory_analysis", "memory_conflicts", "memory_resolve", "get_bootstrap_profile", "mistake_note_add",
    "mistake_note_search", "mistake_note_update", "mistake_note_delete",
}
OURS_IN_BOTH = {"discover_associations", "rebuild_graph", "summarize_clusters", "sync_status", "force_sync"}


def table() -> dict[str, tuple[set[str], set[str]]]:
    """leader tool -> (its name in unified, its equivalents in classic)."""
    rows = {}
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"`\w+`", cells[0]):
            names = [set(re.findall(r"`(\w+)`", cell)) for cell in cells[1:3]]
            rows[cells[0].strip("`")] = (names[0], names[1])
    return rows


async def listed(tmp_path, profile: str) -> set[str]:
    settings = settings_from_values({"MCP_MEMORY_BASE_DIR": str(tmp_path / profile), "MCP_MEMORY_TOOL_PROFILE": profile})
    server, _ = build_server(settings)
    async with Client(server) as client:
        return {tool.name for tool in (await client.list_tools()).tools}


async def test_the_table_lists_all_26_of_its_tools_and_each_profile_exactly(tmp_path):
    rows = table()
    assert set(rows) == LEADER_TOOLS and len(rows) == 26
    unified, classic = await listed(tmp_path, "unified"), await listed(tmp_path, "classic")
    said_unified = set().union(*(u for u, _ in rows.values()))
    said_classic = set().union(*(c for _, c in rows.values()))
    for leader, (here, _) in rows.items():
        assert here <= {leader}, f"{leader}: the unified profile keeps its name"
    assert unified == said_unified | OURS_IN_BOTH
    assert said_classic <= classic
    assert classic - said_classic <= OURS_IN_BOTH  # every classic tool has its row, or is ours in both
    assert len(said_unified) == 16  # the README says 16 of 26
