"""What the installer finds before asking anything: OS, Python, an existing installation, the clients."""

from __future__ import annotations

import platform as platform_module
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from installer.clients import (
    OTHER_CLIENTS, Client, Platform, claude_code_user_config_path, claude_desktop_config_path, find_claude_cli,
)
from installer.errors import ConfigFileError
from installer.jsonconfig import get_servers
from installer.envfile import read_env_values
from installer.files import MASK, is_secret_key, read_text_or_none
from server.settings import default_env_file

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Detected:
    platform: Platform
    python: Path  # the product environment's interpreter: client configs point at it
    env_file: Path
    env_file_text: str | None
    env_file_values: Mapping[str, str] = field(default_factory=dict)
    desktop_config: Path | None = None  # None when Claude Desktop is not installed
    claude_cli: str | None = None
    claude_code_config: Path | None = None  # ~/.claude.json when it exists
    other_clients: tuple[Client, ...] = ()  # the other MCP clients installed here
    broken: Mapping[Path, str] = field(default_factory=dict)  # client configs we cannot read: why

    def problem(self, config: Path | None) -> str | None:
        """Why this client config cannot be configured (found before any question), or None."""
        return self.broken.get(config) if config is not None else None

    def lines(self) -> list[str]:
        """What was found, for the wizard's opening."""
        found = [
            f"System:          {self.platform.system} {platform_module.release()}",
            f"Python:          {sys.version.split()[0]} ({self.python})",
        ]
        if self.env_file_text is None:
            found.append(f"Installation:    none yet (settings will go to {self.env_file})")
        else:
            keys = ", ".join(f"{k}={MASK if is_secret_key(k) else v}" for k, v in self.env_file_values.items()
                             if k.startswith("MCP_")) or "no settings"
            found.append(f"Installation:    {self.env_file} ({keys})")
        found.append(f"Claude Desktop:  {self.desktop_config or 'not found'}")
        code = self.claude_cli or (f"config {self.claude_code_config}" if self.claude_code_config else "not found")
        found.append(f"Claude Code:     {code}")
        if self.other_clients:
            found.append(f"Other clients:   {', '.join(c.title for c in self.other_clients)}")
        for config, why in self.broken.items():
            found.append(f"Cannot use:      {why}")
        return found


def detect(platform: Platform, python: Path | None = None) -> Detected:
    env_file = _env_file(platform.env)
    text = read_text_or_none(env_file)
    user_config = claude_code_user_config_path(platform)
    desktop = claude_desktop_config_path(platform)
    others = tuple(c for c in OTHER_CLIENTS if c.detected(platform))
    configs = [(desktop, ("mcpServers",)), (user_config, ("mcpServers",)),
               *((c.config_path(platform, "user"), c.container) for c in others)]
    return Detected(
        platform=platform,
        python=python or Path(sys.executable),
        env_file=env_file,
        env_file_text=text,
        env_file_values=read_env_values(text),
        desktop_config=desktop,
        claude_cli=find_claude_cli(platform.env),
        claude_code_config=user_config if user_config.exists() else None,
        other_clients=others,
        broken=_unreadable(configs),
    )


def _unreadable(configs: list[tuple[Path | None, tuple[str, ...]]]) -> dict[Path, str]:
    """Each client config that cannot be parsed, with the reason: known before the first question."""
    broken = {}
    for path, container in configs:
        if path is None:
            continue
        try:
            get_servers(read_text_or_none(path), path, container)
        except ConfigFileError as exc:
            broken[path] = exc.message.replace("; it was left untouched.", "")
    return broken


def _env_file(environ: Mapping[str, str]) -> Path:
    # The server reads the file named by MCP_MEMORY_ENV_FILE, else its default location: write the same one.
    named = environ.get("MCP_MEMORY_ENV_FILE", "").strip()
    return Path(named).expanduser() if named else default_env_file()
