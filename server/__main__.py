"""`python -m server`: from a clone, any Python reaches the server of the clone's .venv (made by install.py),
as install.py does; a Python without the server's packages and no .venv gets one line saying what to run."""

import importlib.util
import os
import sys
from pathlib import Path

NEEDED = ("mcp", "dotenv", "httpx")  # the server cannot start without these


def _venv_python() -> Path | None:
    root = Path(__file__).resolve().parent.parent
    for candidate in (root / ".venv" / "bin" / "python", root / ".venv" / "Scripts" / "python.exe"):
        if candidate.exists():
            return candidate
    return None


def _hand_over() -> None:
    """Re-run this command with the .venv's Python when this one lacks the packages."""
    missing = [name for name in NEEDED if importlib.util.find_spec(name) is None]
    if not missing:
        return
    venv = _venv_python()
    if venv is not None and Path(sys.prefix).resolve() != venv.parent.parent.resolve():
        os.execv(str(venv), [str(venv), "-m", "server", *sys.argv[1:]])
    print(f"mcp-memory-server: this Python ({sys.executable}) lacks the server's packages ({', '.join(missing)}); "
          "install first with: python3 install.py", file=sys.stderr)
    sys.exit(2)


def _through_daemon() -> None:
    """A client's stdio server goes through the shared daemon (server/shim.py) unless MCP_MEMORY_DAEMON=off.
    Anything else (a command, --transport http, the daemon off or unavailable) is served here."""
    from server import shim

    if sys.argv[1:] not in ([], ["--transport", "stdio"]) or not shim.daemon_wanted():
        return

    code = shim.run()
    if code is not None:
        sys.exit(code)


def _hook() -> None:
    """A client's hook (server/hooks/command.py): answered before the server's modules are imported."""
    if sys.argv[1:2] == ["hook"]:
        from server.hooks.command import main as hook

        sys.exit(hook(sys.argv[2:]))


_hand_over()
_hook()
_through_daemon()

from server.cli import main  # noqa: E402  (after the hand-over: it imports the packages)

sys.exit(main())
