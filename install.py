#!/usr/bin/env python3
"""Set up mcp-memory from a fresh clone, then hand over to the installer. Standard library only.

    python3 install.py                                   # the wizard
    python3 install.py --non-interactive --no-launch     # CI: flags only, never prompts

Works with any Python >= 3.10 on PATH. The full pip output goes to a log file whose path is printed
if a step fails, with the command to retry.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
LOG = VENV / "install.log"


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
    if sys.stderr.isatty():
        spinner.start()
    else:  # a log or CI: one line per step, no animation
        print(f"{title}...", file=sys.stderr, flush=True)
    with LOG.open("a", encoding="utf-8") as log:
        log.write(f"\n$ {' '.join(command)}\n")
        log.flush()
        code = subprocess.call(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    done.set()
    if spinner.is_alive():
        spinner.join()
    if code != 0:
        print(f"\r✗ {title} failed. Full output: {LOG}\n  Retry with: {' '.join(command)}", file=sys.stderr)
        raise SystemExit(1)
    print(f"\r✓ {title}    ", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if sys.version_info < (3, 10):
        print("mcp-memory needs Python 3.10 or newer; run this script with one.", file=sys.stderr)
        return 1
    try:
        if not venv_python().exists():
            print(f"Creating a virtual environment in {VENV}", file=sys.stderr)
            venv.EnvBuilder(with_pip=True).create(VENV)
        python = str(venv_python())
        extras = "[sentence-transformers]" if "sentence-transformers" in " ".join(args) else ""
        stamp = VENV / ".mcp-memory-installed"
        wanted = f"{(ROOT / 'pyproject.toml').stat().st_mtime_ns} {extras}"
        if stamp.exists() and stamp.read_text(encoding="utf-8") == wanted:
            print("mcp-memory is already installed in .venv", file=sys.stderr)
        else:
            if extras:  # the CPU build first: left alone, pip picks a multi-GB CUDA torch
                run_step("Installing torch (CPU build)", [python, "-m", "pip", "install", "torch==2.13.0"])
            run_step("Installing mcp-memory and its dependencies",
                     [python, "-m", "pip", "install", "-e", f"{ROOT}{extras}"])
            stamp.write_text(wanted, encoding="utf-8")
        # Hand over to the installer inside the product's environment, with every argument.
        return subprocess.call([python, "-m", "installer", *args], cwd=ROOT)
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
