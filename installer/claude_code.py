"""Configuring Claude Code through its own CLI (`claude mcp add-json`), when it is on PATH.

The CLI owns its config files (~/.claude.json holds much more than servers), so when it exists we let
it write them, after taking the same timestamped backup our own writers take.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from installer.errors import InstallerError
from installer.plan import ClaudeCodeTarget, claude_code_entry_matches

CLI_TIMEOUT = 60


def configure(target: ClaudeCodeTarget, name: str, entry: Mapping[str, Any]) -> str:
    """Add or update our server through the CLI; returns "unchanged", "create" or "update"."""
    assert target.use_cli is not None
    if claude_code_entry_matches(target, name, entry):
        return "unchanged"
    existed = _has_entry(target, name)
    _backup(target.config)
    if existed:
        _run(target, ["mcp", "remove", "-s", target.scope, name])
    _run(target, ["mcp", "add-json", "-s", target.scope, name, json.dumps(dict(entry))])
    return "update" if existed else "create"


def _has_entry(target: ClaudeCodeTarget, name: str) -> bool:
    from installer.files import read_text_or_none
    from installer.jsonconfig import get_server_entry
    from installer.plan import MCP_SERVERS

    return get_server_entry(read_text_or_none(target.config), target.config, MCP_SERVERS, name) is not None


def _backup(path: Path) -> None:
    if path.exists():
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        shutil.copy2(path, path.with_name(f"{path.name}.bak-{stamp}"))


def _run(target: ClaudeCodeTarget, args: list[str]) -> None:
    assert target.use_cli is not None
    command = [target.use_cli, *args]
    try:
        done = subprocess.run(command, cwd=target.project_dir, capture_output=True, text=True,
                              timeout=CLI_TIMEOUT, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InstallerError(f"Running the Claude Code CLI failed: {exc}",
                             "check that `claude --version` works, or pass --claude-code none") from exc
    if done.returncode != 0:
        shown = " ".join(command[:4]) + " ..."
        raise InstallerError(f"`{shown}` failed (exit {done.returncode}): {(done.stderr or done.stdout).strip()}",
                             "configure Claude Code by hand with `claude mcp add`, or pass --claude-code none")
