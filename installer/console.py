"""Where the installer talks to the person: stderr, flushed (stdout stays free for what a command prints)."""

from __future__ import annotations

import sys


def say(message: str = "") -> None:
    print(message, file=sys.stderr, flush=True)
