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


# -- the other MCP clients: one description each, one mechanism for all ---------------------------------
# Locations and formats from each client's own documentation:
#   Cursor     cursor.com/docs/mcp: ~/.cursor/mcp.json, <project>/.cursor/mcp.json, "mcpServers"
#   VS Code    code.visualstudio.com/docs/copilot/reference/mcp-configuration: mcp.json in the user profile
#              folder (beside settings.json), <workspace>/.vscode/mcp.json; "servers", "type": "stdio"
#   Windsurf   docs.windsurf.com/windsurf/cascade/mcp: ~/.codeium/windsurf/mcp_config.json, "mcpServers"
#   Codex CLI  developers.openai.com/codex/mcp: $CODEX_HOME/config.toml (default ~/.codex), [mcp_servers.NAME]
#   Gemini CLI geminicli.com/docs/tools/mcp-server: ~/.gemini/settings.json, <project>/.gemini/settings.json,
#              "mcpServers"


@dataclass(frozen=True)
class Client:
    key: str  # the answer's name and the flag's: --cursor, --vscode, ...
    title: str
    scopes: tuple[str, ...]  # "user" first; a second scope lives in a project folder
    container: tuple[str, ...]  # where the server entries live in the file
    template: str  # templates/<name>: the entry this client gets

    def config_path(self, p: Platform, scope: str, project: Path | None = None) -> Path | None:
        if scope != "user":
            return None if project is None else project / _PROJECT_FILES[self.key]
        return _USER_FILES[self.key](p)

    def detected(self, p: Platform) -> bool:
        """Installed here: its config folder exists, or its command is on PATH."""
        path = self.config_path(p, "user")
        command = _COMMANDS.get(self.key)
        return bool(path is not None and path.parent.is_dir()) or bool(
            command and shutil.which(command, path=p.env.get("PATH", os.defpath)))


def _vscode_user_folder(p: Platform) -> Path:
    if p.system == "Darwin":
        return p.home / "Library" / "Application Support" / "Code" / "User"
    if p.system == "Windows":
        return Path(p.env.get("APPDATA") or p.home / "AppData" / "Roaming") / "Code" / "User"
    xdg = p.env.get("XDG_CONFIG_HOME", "")
    return (Path(xdg) if xdg and os.path.isabs(xdg) else p.home / ".config") / "Code" / "User"


def _codex_home(p: Platform) -> Path:
    named = p.env.get("CODEX_HOME", "").strip()
    return Path(named).expanduser() if named else p.home / ".codex"


_USER_FILES = {
    "cursor": lambda p: p.home / ".cursor" / "mcp.json",
    "vscode": lambda p: _vscode_user_folder(p) / "mcp.json",
    "windsurf": lambda p: p.home / ".codeium" / "windsurf" / "mcp_config.json",
    "codex": lambda p: _codex_home(p) / "config.toml",
    "gemini": lambda p: p.home / ".gemini" / "settings.json",
}
_PROJECT_FILES = {"cursor": ".cursor/mcp.json", "vscode": ".vscode/mcp.json", "gemini": ".gemini/settings.json"}
_COMMANDS = {"vscode": "code", "codex": "codex", "gemini": "gemini", "cursor": "cursor", "windsurf": "windsurf"}

OTHER_CLIENTS = (
    Client("cursor", "Cursor", ("user", "project"), ("mcpServers",), "entry.json"),
    Client("vscode", "VS Code", ("user", "workspace"), ("servers",), "entry-vscode.json"),
    Client("windsurf", "Windsurf", ("user",), ("mcpServers",), "entry.json"),
    Client("codex", "Codex CLI", ("user",), ("mcp_servers",), "entry-codex.toml"),
    Client("gemini", "Gemini CLI", ("user", "project"), ("mcpServers",), "entry.json"),
)
