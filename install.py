#!/usr/bin/env python3
"""Set up mcp-memory from a fresh clone, then start it. Standard library only.

    python3 install.py              # make/reuse .venv, install, start the HTTP server on 127.0.0.1:8000
    python3 install.py --no-launch  # install only

Works with any Python >= 3.10 on PATH. The full pip output goes to a log file whose path is printed
if a step fails, with the command to retry.
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import threading
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
LOG = ROOT / ".venv-install.log"


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def run_step(title: str, command: list[str]) -> None:
    """Run a long command with a spinner on stderr; its output goes to the log file."""
    done = threading.Event()

    def spin() -> None:
        for frame in itertools.cycle("|/-\\"):
            if done.wait(0.15):
                break
            print(f"\r{frame} {title}...", end="", file=sys.stderr, flush=True)

    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    with LOG.open("a", encoding="utf-8") as log:
        log.write(f"\n$ {' '.join(command)}\n")
        log.flush()
        code = subprocess.call(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    done.set()
    spinner.join()
    if code != 0:
        print(f"\r✗ {title} failed. Full output: {LOG}\n  Retry with: {' '.join(command)}", file=sys.stderr)
        raise SystemExit(1)
    print(f"\r✓ {title}    ", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Install mcp-memory into .venv and start it.")
    parser.add_argument("--no-launch", action="store_true", help="install only; do not start the server")
    args = parser.parse_args(argv)
    if sys.version_info < (3, 10):
        print("mcp-memory needs Python 3.10 or newer; run this script with one.", file=sys.stderr)
        return 1
    if not venv_python().exists():
        print(f"Creating a virtual environment in {VENV}", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(VENV)
    python = str(venv_python())
    run_step("Installing mcp-memory and its dependencies", [python, "-m", "pip", "install", "-e", str(ROOT)])
    if args.no_launch:
        print(f"Installed. Start the server with: {python} -m server --transport http", file=sys.stderr)
        return 0
    print("Starting the memory server (Ctrl-C stops it)", file=sys.stderr)
    try:
        return subprocess.call([python, "-m", "server", "--transport", "http"], cwd=ROOT)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
