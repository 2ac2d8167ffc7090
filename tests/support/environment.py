"""Environments for the processes tests start: the developer's own settings never leak into a test."""

from __future__ import annotations

import os
from pathlib import Path

# Our settings, Cloudflare's, the XDG folders (a test gives its own) and the Codex CLI's home.
OUR_PREFIXES = ("MCP_", "CLOUDFLARE_", "XDG_", "CODEX_")


def without_our_settings(*also: str) -> dict[str, str]:
    """This process's environment without our settings (nor variables starting with `also`). A shared daemon
    that a test's client starts (the installer's smoke test, a real CLI) stops 3 s after its last client,
    not after the default 10 minutes: tests must not leave servers holding memory behind them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith((*OUR_PREFIXES, *also))}
    env["MCP_MEMORY_DAEMON_IDLE"] = "3"
    return env


def clean_environ(home: Path, **extra: str) -> dict[str, str]:
    """A user whose home is `home` (HOME and the XDG folders in it), with a plain PATH and nothing of ours."""
    env = without_our_settings()
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local" / "share"),
               PATH="/usr/bin:/bin")
    env.update(extra)
    return env
