"""The official MCP conformance suite (npm @modelcontextprotocol/conformance, 2025-06-18 to 2026-07-28 revisions)
against the real HTTP server: every scenario that applies to a server of tools, and every check in them that does
not need the suite's own test tools, prompts or resources, passes."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import server_env
from tests.support.net import free_port
from tests.test_processes import HttpServer

pytestmark = pytest.mark.slow

CONFORMANCE = os.environ.get("MCP_TEST_CONFORMANCE", "")
NODE = os.environ.get("MCP_TEST_NODE22", "")

# A server of tools only: no prompts, resources, completions or logging are declared, so the scenarios about them
# do not apply, nor those that call the suite's own test tools (test_image_content, test_sampling, ...).
SCENARIOS = ["server-initialize", "server-session-lifecycle", "server-stateless", "ping", "tools-list",
             "tools-call-error", "server-sse-multiple-streams", "dns-rebinding-protection", "caching",
             "http-header-validation", "sep-2164-resource-not-found", "input-required-result-unsupported-methods"]
# Checks inside those scenarios that need what this server rightly does not have.
NOT_APPLICABLE = {
    "sep-2575-server-rejects-undeclared-capability",  # calls the suite's test_missing_capability tool
    "sep-2575-missing-capability-http-400",  # the same tool's answer over HTTP
    "sep-2549-prompts-list-caching-hints",  # no prompts are declared
    "sep-2549-resources-list-caching-hints",  # no resources are declared
    "sep-2549-resources-templates-list-caching-hints",
}


@pytest.mark.skipif(not (CONFORMANCE and NODE), reason="no MCP conformance suite: tests/run installs it from npm")
def test_the_official_conformance_suite_passes_every_check_that_applies(tmp_path):
    server = HttpServer(server_env(tmp_path), free_port(), tmp_path)
    env = {**os.environ, "PATH": f"{NODE}{os.pathsep}{os.environ.get('PATH', '')}"}
    try:
        server.wait_ready()
        failed = []
        for scenario in SCENARIOS:
            out = tmp_path / "results" / scenario
            subprocess.run([CONFORMANCE, "server", "--url", f"{server.url}/mcp", "--scenario", scenario, "-o",
                            str(out)], env=env, capture_output=True, text=True, timeout=120)
            files = list(Path(out).rglob("checks.json"))
            assert files, f"{scenario}: the suite wrote no results"
            checks = json.loads(files[0].read_text(encoding="utf-8"))
            assert checks, scenario
            failed += [f"{scenario}/{c['id']}: {c.get('errorMessage', '')}" for c in checks
                       if c["status"] == "FAILURE" and c["id"] not in NOT_APPLICABLE]
        assert failed == []
    finally:
        server.stop()
