"""From a clean copy of the repository and a fresh HOME, the README's unattended install command works."""

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

# A full pip install of the project into a new environment: minutes, not the suite's 300 s default.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

README_COMMAND = ["install.py", "--non-interactive", "--no-launch", "--storage-backend", "sqlite_vec",
                  "--claude-code", "none"]


def _copy_repository(target: Path) -> None:
    """The tracked files as they are in the working tree: what a fresh clone of this commit would hold."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def test_the_readme_install_command_succeeds_from_a_fresh_copy_with_a_fresh_home(tmp_path):
    assert " ".join(README_COMMAND) in (REPO / "README.md").read_text(encoding="utf-8")
    clone, home = tmp_path / "clone", tmp_path / "home"
    clone.mkdir()
    home.mkdir()
    (home / ".config" / "Claude").mkdir(parents=True)
    _copy_repository(clone)
    env = without_our_settings("VIRTUAL_ENV")
    # A fresh HOME, but pip may reuse its download cache: what is measured is our install, not the network.
    env.update(HOME=str(home), PIP_CACHE_DIR=os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip")))
    done = subprocess.run([sys.executable, *README_COMMAND], cwd=clone, env=env, capture_output=True, text=True,
                          timeout=1200, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    assert "Smoke test" in done.stderr and "ok: connected" in done.stderr
    env_file = home / ".config" / "mcp-memory" / ".env"
    assert "MCP_MEMORY_STORAGE_BACKEND=sqlite_vec" in env_file.read_text(encoding="utf-8")
    entry = json.loads((home / ".config" / "Claude" / "claude_desktop_config.json").read_text())["mcpServers"]["memory"]
    assert entry["command"] == str(clone / ".venv" / "bin" / "python")
    assert (home / ".local" / "share" / "mcp-memory" / "memories.db").exists()
    again = subprocess.run([sys.executable, *README_COMMAND, "--skip-smoke-test"], cwd=clone, env=env,
                           capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert again.returncode == 0, again.stderr
    assert "nothing was changed" in again.stderr
    assert "Installing" not in again.stderr and "already installed" not in again.stderr  # no pip, and no noise


def _python_without_the_packages() -> str | None:
    """A Python on this machine that cannot import the server's packages (the system's, usually)."""
    for candidate in ("/usr/bin/python3", shutil.which("python3") or ""):
        if candidate and os.path.exists(candidate):
            probe = subprocess.run([candidate, "-I", "-c", "import mcp"], capture_output=True, timeout=60)
            if probe.returncode != 0:
                return candidate
    return None


@pytest.mark.parametrize("with_venv", [True, False], ids=["the clone's .venv", "no .venv yet"])
def test_python_m_server_from_a_python_without_the_packages_hands_over_or_says_what_to_run(tmp_path, with_venv):
    python = _python_without_the_packages()
    if python is None:
        pytest.skip("every Python here has the server's packages")
    clone = tmp_path / "clone"
    shutil.copytree(REPO / "server", clone / "server", ignore=shutil.ignore_patterns("__pycache__"))
    if with_venv:
        (clone / ".venv").symlink_to(REPO / ".venv")
    done = subprocess.run([python, "-m", "server", "--help"], cwd=clone, capture_output=True, text=True, timeout=120)
    if with_venv:
        assert done.returncode == 0 and "dashboard" in done.stdout, done.stderr
    else:
        assert done.returncode == 2 and "install first with: python3 install.py" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
