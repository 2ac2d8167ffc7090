"""Where the installer talks to the person: stderr, flushed (stdout stays free for what a command prints)."""

from __future__ import annotations

import sys


def say(message: str = "") -> None:
    print(message, file=sys.stderr, flush=True)


def install_command() -> str:
    """How the person started the installer (`python3 install.py`, `py install.py`), for the commands we
    show them; install.py says, since the installer itself runs in .venv's Python."""
    import os

    return os.environ.get("MCP_INSTALL_COMMAND", "").strip() or "python3 install.py"
