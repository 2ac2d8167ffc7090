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


def test_the_real_cli_runs_the_hooks_we_write_and_a_session_record_is_kept(tmp_path, claude_bin):
    """Our hooks in ~/.claude/settings.json, beside the person's own: the real CLI (not logged in, so it stops
    after starting the session) runs the session-start hook, then the session-end hook, which keeps the
    session (its one prompt) from the transcript the CLI wrote."""
    home, project = tmp_path / "home", tmp_path / "project"
    (home / ".claude").mkdir(parents=True)
    (project / ".git").mkdir(parents=True)
    theirs = {"hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "true"}]}]}}
    (home / ".claude" / "settings.json").write_text(json.dumps(theirs), encoding="utf-8")
    env = environment(home, claude_bin)
    done = install(env, "--claude-code", "user", "--hooks")
    assert done.returncode == 0, done.stderr
    settings = json.loads((home / ".claude" / "settings.json").read_text(encoding="utf-8"))
    assert settings["hooks"]["PreToolUse"] == theirs["hooks"]["PreToolUse"]
    assert {"SessionStart", "SessionEnd", "PreCompact"} <= set(settings["hooks"])

    claude(env, "-p", "Remember that the release train leaves on Thursdays.", cwd=project)
    log = next((home / ".cache" / "mcp-memory" / "mcp-memory-daemon").glob("hooks.log")).read_text()
    assert "claude-code start (project): ok" in log and "claude-code end (project): ok" in log, log
    from tests.support.database import reading

    with reading(home / ".local" / "share" / "mcp-memory" / "memories.db") as conn:
        contents = [row[0] for row in conn.execute("SELECT content FROM memories")]
    assert any(c.startswith("Session in project") for c in contents), contents
    assert "The release train leaves on Thursdays." in contents

    removed = subprocess.run([sys.executable, "-m", "installer", "--uninstall", "--yes"], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert removed.returncode == 0, removed.stderr
    assert json.loads((home / ".claude" / "settings.json").read_text(encoding="utf-8")) == theirs
