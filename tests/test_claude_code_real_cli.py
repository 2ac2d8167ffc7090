"""The real Claude Code CLI (npm @anthropic-ai/claude-code): the installer configures it, and
`claude mcp list` starts our server and reports it connected."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.support.environment import without_our_settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def claude_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("npm") is None:
        pytest.skip("npm is not on PATH, so the Claude Code CLI cannot be installed here")
    venv = REPO / ".venv"
    prefix = venv / "claude-code-cli" if venv.is_dir() else tmp_path_factory.mktemp("claude-code-cli")
    binary = prefix / "node_modules" / ".bin" / "claude"
    if not binary.exists():
        done = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(prefix),
                               "@anthropic-ai/claude-code"], capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"npm could not install the Claude Code CLI: {done.stderr[-2000:]}"
    return binary


def environment(home: Path, claude_bin: Path) -> dict[str, str]:
    env = without_our_settings()
    env.update(HOME=str(home), PATH=f"{claude_bin.parent}{os.pathsep}{env.get('PATH', '')}")
    return env


def install(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "installer", "--non-interactive", "--no-launch", "--skip-smoke-test",
                           "--no-claude-desktop", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL)


def claude(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([env["PATH"].split(os.pathsep)[0] + "/claude", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)


def test_the_installer_configures_claude_code_through_its_cli_and_the_server_connects(tmp_path, claude_bin):
    home = tmp_path / "home"
    home.mkdir()
    env = environment(home, claude_bin)
    assert claude(env, "mcp", "add", "-s", "user", "other", "--", "/bin/cat").returncode == 0

    done = install(env, "--claude-code", "user")
    assert done.returncode == 0, done.stderr
    assert "claude mcp add-json" in done.stderr and "Claude Code: create (user scope)" in done.stderr
    servers = json.loads((home / ".claude.json").read_text(encoding="utf-8"))["mcpServers"]
    assert set(servers) == {"other", "memory"}
    assert Path(servers["memory"]["command"]).is_absolute()
    assert servers["memory"]["env"] == {"MCP_MEMORY_ENV_FILE": str(home / ".config" / "mcp-memory" / ".env")}

    listed = claude(env, "mcp", "list")
    line = next(line for line in listed.stdout.splitlines() if line.startswith("memory:"))
    assert "✔ Connected" in line, listed.stdout + listed.stderr

    again = install(env, "--claude-code", "user")
    assert again.returncode == 0 and "nothing was changed" in again.stderr

    removed = subprocess.run([sys.executable, "-m", "installer", "--uninstall", "--yes"], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert removed.returncode == 0, removed.stderr
    servers = json.loads((home / ".claude.json").read_text(encoding="utf-8"))["mcpServers"]
    assert set(servers) == {"other"}
    assert "memory:" not in claude(env, "mcp", "list").stdout


def test_project_scope_writes_the_projects_mcp_json(tmp_path, claude_bin):
    home, project = tmp_path / "home", tmp_path / "project"
    home.mkdir()
    project.mkdir()
    env = environment(home, claude_bin)
    done = install(env, "--claude-code", "project", "--project-dir", str(project))
    assert done.returncode == 0, done.stderr
    servers = json.loads((project / ".mcp.json").read_text(encoding="utf-8"))["mcpServers"]
    assert Path(servers["memory"]["command"]).is_absolute()
