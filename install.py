#!/usr/bin/env python3
"""Set up mcp-memory from a fresh clone, then hand over to the installer. Standard library only.

    python3 install.py                                   # the wizard
    python3 install.py --non-interactive --no-launch     # CI: flags only, never prompts

Works with any Python >= 3.10 on PATH. The arguments are checked first, so `--help` and a mistyped flag
answer before anything is installed. The full pip output goes to a log file; a failed step shows pip's
own reason and the command to retry.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from installer.pins import TORCH  # no imports of its own: readable before anything is installed

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
LOG = VENV / "install.log"


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def run_step(title: str, command: list[str]) -> None:
    """Run a long command with a spinner and the seconds so far; its output goes to the log file."""
    done = threading.Event()

    def spin() -> None:
        for tick, frame in enumerate(itertools.cycle("|/-\\")):
            if done.wait(0.15):
                break
            print(f"\r{frame} {title}... {tick * 0.15:.0f} s", end="", file=sys.stderr, flush=True)

    spinner = threading.Thread(target=spin, daemon=True)
    if sys.stderr.isatty():
        spinner.start()
    else:  # a log or CI: one line per step, no animation
        print(f"{title}...", file=sys.stderr, flush=True)
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with LOG.open("a", encoding="utf-8") as log:
        start = log.tell()
        log.write(f"\n$ {' '.join(command)}\n")
        log.flush()
        code = subprocess.call(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    done.set()
    if spinner.is_alive():
        spinner.join()
    if code != 0:
        print(f"\r✗ {title} failed:" + " " * 12, file=sys.stderr)
        for reason in failure_reasons(start):
            print(f"    {reason}", file=sys.stderr)
        print(f"  Full output: {LOG}\n  Fix that, then run the installer again: python3 install.py", file=sys.stderr)
        raise SystemExit(1)
    print(f"\r✓ {title}" + " " * 12, file=sys.stderr)


def failure_reasons(offset: int, limit: int = 4) -> list[str]:
    """pip's own error lines from this step's part of the log (e.g. "No matching distribution found")."""
    with LOG.open(encoding="utf-8", errors="replace") as log:
        log.seek(offset)
        lines = [line.strip() for line in log]
    errors = [line for line in lines if line.startswith("ERROR:") or "Error:" in line]
    return (errors or [line for line in lines if line][-limit:])[:limit]


def ensure_environment(extras: str) -> str:
    """The product's virtual environment with the project installed in it; its Python."""
    if not venv_python().exists():
        run_step(f"Creating a virtual environment in {VENV}", [sys.executable, "-m", "venv", str(VENV)])
    python = str(venv_python())
    stamp = VENV / ".mcp-memory-installed"
    wanted = f"{(ROOT / 'pyproject.toml').stat().st_mtime_ns} {extras}"
    if not (stamp.exists() and stamp.read_text(encoding="utf-8") == wanted):
        if extras:
            run_step("Installing torch (CPU build)", [python, "-m", "pip", "install", TORCH])
        run_step("Installing mcp-memory and its dependencies", [python, "-m", "pip", "install", "-e", f"{ROOT}{extras}"])
        stamp.write_text(wanted, encoding="utf-8")
    return python


def hand_over(command: list[str]) -> int:
    """Run the installer in the product's environment and return its exit code.

    The terminal sends Ctrl-C to the whole foreground group: the installer (and a server it launched)
    handle it themselves and say how they ended, so this process waits for their word. Its handler does
    nothing, but it is not SIG_IGN: an ignored signal stays ignored across exec, and then Ctrl-C could
    not interrupt the installer at all.
    """
    previous = signal.signal(signal.SIGINT, lambda signum, frame: None)
    try:
        return subprocess.call(command)
    finally:
        signal.signal(signal.SIGINT, previous)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if sys.version_info < (3, 10):
        print("mcp-memory needs Python 3.10 or newer; run this script with one.", file=sys.stderr)
        return 1
    sys.path.insert(0, str(ROOT))
    from installer.arguments import parse_args  # the standard library only: no venv needed yet

    parsed = parse_args(args)  # --help and bad flags end here, before anything is installed
    extras = "[sentence-transformers]" if parsed.embedding_engine == "sentence-transformers" else ""
    try:
        python = ensure_environment(extras)
    except KeyboardInterrupt:
        print("\nInterrupted while setting up .venv; run the installer again to finish.", file=sys.stderr)
        return 130
    # -I keeps a folder named `installer` in the person's current folder from shadowing ours; that current
    # folder is kept, so relative paths in flags mean what the person meant.
    # The commands the installer shows name the Python and the path the person used, not .venv's.
    os.environ["MCP_INSTALL_COMMAND"] = f"{Path(sys.executable).name} {sys.argv[0] if argv is None else 'install.py'}"
    return hand_over([python, "-I", "-m", "installer", *args])


if __name__ == "__main__":
    sys.exit(main())
