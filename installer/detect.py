"""What the installer finds before asking anything: OS, Python, an existing installation, the clients."""

from __future__ import annotations

import platform as platform_module
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from installer.clients import (
    Platform, claude_code_user_config_path, claude_desktop_config_path, find_claude_cli,
)
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
        return found


def detect(platform: Platform, python: Path | None = None) -> Detected:
    env_file = _env_file(platform.env)
    text = read_text_or_none(env_file)
    user_config = claude_code_user_config_path(platform)
    return Detected(
        platform=platform,
        python=python or Path(sys.executable),
        env_file=env_file,
        env_file_text=text,
        env_file_values=read_env_values(text),
        desktop_config=claude_desktop_config_path(platform),
        claude_cli=find_claude_cli(platform.env),
        claude_code_config=user_config if user_config.exists() else None,
    )


def _env_file(environ: Mapping[str, str]) -> Path:
    # The server reads the file named by MCP_MEMORY_ENV_FILE, else its default location: write the same one.
    named = environ.get("MCP_MEMORY_ENV_FILE", "").strip()
    return Path(named).expanduser() if named else default_env_file()
