"""How fast an mcp-memory-service database imports: builds one of N memories (the 10.30+ shape), runs
`python -m installer import` into a fresh home, and prints memories per second (median of --runs).

    .venv/bin/python bench/bench_import.py --memories 2000 --runs 3
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support.mms_fixtures import build, row  # noqa: E402

WORDS = ("deploy backup python billing network calendar recipe dentist vault webhook standup review "
         "invoice laptop budget travel").split()


def source(path: Path, count: int) -> Path:
    rows = [row(f"Note {i}: the {WORDS[i % 16]} {WORDS[(i * 7) % 16]} item {i * 31 % 997} was discussed "
                f"with {WORDS[(i * 3) % 16]} in mind", f"t{i % 9},{WORDS[i % 16]}", created=1.7e9 + i)
            for i in range(count)]
    return build(path, "10.30", rows)


def one_run(db: Path, work: Path) -> float:
    home = work / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "CLOUDFLARE_"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local/share"))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "installer", "import", str(db)], cwd=REPO, env=env, check=True,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--memories", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    seconds = []
    with tempfile.TemporaryDirectory() as tmp:
        db = source(Path(tmp) / "theirs" / "sqlite_vec.db", args.memories)
        for n in range(args.runs):
            seconds.append(one_run(db, Path(tmp) / f"run{n}"))
    median = statistics.median(seconds)
    print(f"{args.memories} memories imported: median {median:.1f} s end to end (process start included), "
          f"{args.memories / median:.0f} memories/s; runs: {', '.join(f'{s:.1f}' for s in seconds)}")


if __name__ == "__main__":
    main()
