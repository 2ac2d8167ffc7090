"""Where the MCP clients keep their configs (prior-art.md section 4).

Paths are computed from a ``Platform`` value rather than from the running process, so every OS's
layout can be tested on any machine with a fake home and environment.
"""

from __future__ import annotations

import os
import platform
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DESKTOP_CONFIG_NAME = "claude_desktop_config.json"


@dataclass(frozen=True)
class Platform:
    system: str  # "Darwin" | "Windows" | "Linux" (anything else is treated like Linux)
    home: Path
    env: Mapping[str, str]

    @classmethod
    def current(cls) -> Platform:
        return cls(system=platform.system(), home=Path.home(), env=dict(os.environ))


def claude_desktop_config_path(p: Platform) -> Path | None:
    """The Claude Desktop config file, when the app's folder exists (the file itself may not)."""
    folder = _desktop_folder(p)
    return folder / DESKTOP_CONFIG_NAME if folder.is_dir() else None


def claude_code_user_config_path(p: Platform) -> Path:
    """Claude Code keeps user- and local-scope servers in one file in the home folder."""
    return p.home / ".claude.json"


def claude_code_project_config_path(project: Path) -> Path:
    """Project-scope servers, meant to be committed with the project."""
    return project / ".mcp.json"


def find_claude_cli(env: Mapping[str, str]) -> str | None:
    """The Claude Code CLI on the given PATH (not necessarily this process's)."""
    return shutil.which("claude", path=env.get("PATH", os.defpath))


def _desktop_folder(p: Platform) -> Path:
    if p.system == "Darwin":
        return p.home / "Library" / "Application Support" / "Claude"
    if p.system == "Windows":
        # The MSIX (Store) build virtualises %APPDATA% into its package folder; when it is installed,
        # that copy is the one the app reads, so it wins over a leftover classic folder.
        local = Path(p.env.get("LOCALAPPDATA") or p.home / "AppData" / "Local")
        for package in sorted((local / "Packages").glob("Claude_*")):
            msix = package / "LocalCache" / "Roaming" / "Claude"
            if msix.is_dir():
                return msix
        return Path(p.env.get("APPDATA") or p.home / "AppData" / "Roaming") / "Claude"
    xdg = p.env.get("XDG_CONFIG_HOME", "")
    # The XDG spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
    base = Path(xdg) if xdg and os.path.isabs(xdg) else p.home / ".config"
    return base / "Claude"
