"""One process for many clients: resident memory with 1, 3 and 5 clients, and spawn -> initialize, for
today's per-client servers and for the shared daemon behind its shims (MCP_MEMORY_DAEMON=on), in one run.

    .venv/bin/python bench/bench_daemon.py

Each client is what an MCP client spawns (`python -m server`), given one search so the model and the index
are loaded; memory is the sum of the resident set sizes of every process involved (servers, or shims plus the
daemon), read from /proc. Figures are printed; nothing here asserts a target.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
INITIALIZE = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}}) + "\n"
SEARCH = json.dumps({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
    "name": "retrieve_memory", "arguments": {"query": "what did we decide about the database?"}}}) + "\n"
INITIALIZED = json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}) + "\n"


def env_for(root: Path, daemon: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "CLOUDFLARE_"))}
    env.update(MCP_MEMORY_BASE_DIR=str(root / "data"), HOME=str(root / "home"), MCP_LOG_LEVEL="WARNING",  # one store
               MCP_MEMORY_DAEMON="on" if daemon else "off", MCP_MEMORY_RUNTIME_DIR=str(root / "run"),
               MCP_MEMORY_DAEMON_IDLE="30")
    return env


def spawn(env: dict[str, str]) -> tuple[subprocess.Popen, float]:
    """A client's server (or shim), initialized; returns it and the milliseconds to the initialize answer."""
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "server"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env, cwd=REPO, text=True, bufsize=1)
    proc.stdin.write(INITIALIZE)
    proc.stdin.flush()
    proc.stdout.readline()
    elapsed = (time.perf_counter() - t) * 1000
    proc.stdin.write(INITIALIZED + SEARCH)
    proc.stdin.flush()
    proc.stdout.readline()  # the search: model and index loaded
    return proc, elapsed


def round_trip(proc: subprocess.Popen, tool: str, arguments: dict[str, str], runs: int = 30) -> float:
    """Median milliseconds of a tool call, written to the client's pipe and answered on it."""
    times = []
    for n in range(runs):
        args = {k: v.format(n=n) for k, v in arguments.items()}
        line = json.dumps({"jsonrpc": "2.0", "id": 100 + n, "method": "tools/call",
                           "params": {"name": tool, "arguments": args}}) + "\n"
        t = time.perf_counter()
        proc.stdin.write(line)
        proc.stdin.flush()
        proc.stdout.readline()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def daemon_pids(root: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"daemon" in command and str(root / "run").encode() in command:
                found.append(int(entry.name))
    return found


def measure(daemon: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        env = env_for(root, daemon)
        figures: dict[str, float] = {}
        cold, warm, procs = [], [], []
        for n in range(5):
            proc, ms = spawn(env)
            (cold if n == 0 else warm).append(ms)
            procs.append(proc)
            if n + 1 in (1, 3, 5):
                time.sleep(1.0)  # the background model load settles
                figures[f"memory, {n + 1} client(s) (MB)"] = rss_mb([p.pid for p in procs] + daemon_pids(root))
        figures["store round trip, p50 (ms)"] = round_trip(procs[1], "store_memory", {"content": "round trip {n}"})
        figures["retrieve round trip, p50 (ms)"] = round_trip(procs[1], "retrieve_memory", {"query": "round trip"})
        figures["spawn -> initialize, first client (ms)"] = cold[0]
        figures["spawn -> initialize, later clients, p50 (ms)"] = statistics.median(warm)
        for proc in procs:
            proc.stdin.close()
            proc.wait(timeout=30)
            proc.stdout.close()
        for pid in daemon_pids(root):
            os.kill(pid, 15)
        return figures


def main() -> None:
    import argparse

    argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0]).parse_args()
    if sys.platform == "win32":
        raise SystemExit("this benchmark reads resident memory from /proc: run it on Linux")
    today, shared = measure(daemon=False), measure(daemon=True)
    print(f"machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}; "
          "an empty store, one search per client\n")
    print("| | per-client servers (today) | one daemon behind shims |\n|---|---:|---:|")
    for name in today:
        print(f"| {name} | {today[name]:.1f} | {shared[name]:.1f} |")


if __name__ == "__main__":
    main()
