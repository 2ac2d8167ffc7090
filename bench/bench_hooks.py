"""The clients' hooks: how fast they answer, what they inject, and where the injection bar (RELEVANT) sits.

    .venv/bin/python bench/bench_hooks.py                 # latency and tokens (about 1 minute)
    .venv/bin/python bench/bench_hooks.py --threshold     # also the bar, on every hand-written set (5-10 min)

Latency: `python -I -m server hook ...` run as a client runs it (a new process, its JSON on stdin), against a
store holding a 300-turn session record and 2,000 other memories: session start, a prompt, and the session's
end with its 300-turn transcript; warm (the shared daemon up), cold (no daemon: the first hook starts it) and
in-process (MCP_MEMORY_DAEMON=off). Printed: the median and the slowest of each, and the tokens injected
(characters / 4).

Threshold: for each question of bench/sets (in other words, with rare words, identifiers; two of them among
2,400 distractors), the hybrid score of its answer and the best score of anything else among the top 5.
Injecting above a bar T finds the answer when its score is >= T, and injects noise when something else
scores >= T; the table gives both for each T, per set and over all.
"""

from __future__ import annotations

import argparse
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
sys.path.insert(0, str(REPO))

from tests.support.transcripts import claude_code_events, write_jsonl  # noqa: E402

RUNS = 15
BARS = (0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", action="store_true", help="also measure the injection bar")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        latency(Path(tmp))
    if args.threshold:
        threshold()
    return 0


def hook(env: dict[str, str], event: str, payload: dict, cwd: Path) -> tuple[float, str]:
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-I", "-m", "server", "hook", event, "--client", "claude-code"],
                          input=json.dumps(payload), env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    elapsed = 1000 * (time.perf_counter() - began)
    assert done.returncode == 0, done.stderr
    text = json.loads(done.stdout)["hookSpecificOutput"]["additionalContext"] if done.stdout.strip() else ""
    return elapsed, text


def latency(tmp: Path) -> None:
    from bench.distractors import sentences

    project = tmp / "atlas-api"
    (project / ".git").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "XDG_"))}
    env.update(MCP_MEMORY_BASE_DIR=str(tmp / "data"), MCP_MEMORY_RUNTIME_DIR=str(tmp / "run"), HF_HUB_OFFLINE="1",
               MCP_MEMORY_DAEMON_IDLE="600")
    _fill(env, sentences(2000))
    transcript = write_jsonl(tmp / "t.jsonl", claude_code_events(300, "s-1", str(project)))
    end = {"session_id": "s-1", "transcript_path": str(transcript), "cwd": str(project), "hook_event_name": "SessionEnd"}
    start = {"session_id": "s-2", "cwd": str(project), "hook_event_name": "SessionStart", "source": "startup"}
    prompt = {"session_id": "s-2", "cwd": str(project), "prompt": "What is the staging database called?"}
    cold_end, _ = hook(env, "end", end, project)  # starts the daemon
    rows = [("end, 300 turns (cold: starts the daemon)", [cold_end], 0)]
    for label, event, payload in (("session start (warm)", "start", start), ("prompt (warm)", "prompt", prompt),
                                  ("end, 300 turns (warm)", "end", end)):
        runs = [hook(env, event, payload, project) for _ in range(RUNS)]
        rows.append((label, [ms for ms, _ in runs], len(runs[-1][1]) // 4))
    _stop_daemons(env)
    cold = []
    for _ in range(3):
        cold.append(hook(env, "start", start, project))
        _stop_daemons(env)
    rows.append(("session start (cold: starts the daemon; no model yet)", [ms for ms, _ in cold],
                 len(cold[-1][1]) // 4))
    off = {**env, "MCP_MEMORY_DAEMON": "off"}
    runs = [hook(off, "start", start, project) for _ in range(5)]
    rows.append(("session start (MCP_MEMORY_DAEMON=off, no model)", [ms for ms, _ in runs], len(runs[-1][1]) // 4))
    print("\nHook latency (a new process each time, its JSON on stdin), 2,000 memories + a 300-turn session:")
    print(f"  {'':50s} {'p50 ms':>8s} {'max ms':>8s} {'tokens':>7s}")
    for label, times, tokens in rows:
        print(f"  {label:50s} {statistics.median(times):8.0f} {max(times):8.0f} {tokens:7d}")


def _fill(env: dict[str, str], texts: list[str]) -> None:
    """The store's other memories, written once through the library (faster than 2,000 tool calls)."""
    code = ("import json,sys;from server.settings import load_settings;from server.backends import create_storage;"
            "from server.service import MemoryService;s=load_settings(dict(__import__('os').environ));"
            "st=create_storage(s);st.open();m=MemoryService(st,s.max_content_length);"
            "[m.store(t) for t in json.load(sys.stdin)];st.close()")
    subprocess.run([sys.executable, "-c", code], input=json.dumps(texts), env=env, cwd=REPO, check=True,
                   text=True, timeout=900)


def _stop_daemons(env: dict[str, str]) -> None:
    from server import shim

    shim.stop_daemons(env)
    deadline = time.monotonic() + 20
    while shim.running_daemons(env) and time.monotonic() < deadline:
        time.sleep(0.1)


def threshold() -> None:
    from bench.bench_search import handwritten
    from server.backends import local_store
    from server.service import MemoryService
    from server.settings import settings_from_values

    found: dict[str, list[tuple[float, float]]] = {}
    cases = [*handwritten(), *handwritten(among_distractors=True)]
    for case in cases:
        with tempfile.TemporaryDirectory() as tmp:
            settings = settings_from_values({"MCP_MEMORY_BASE_DIR": tmp})
            store = local_store(settings)
            store.open()
            service = MemoryService(store, settings.max_content_length)
            keys = {}
            for text, key in case.memories:
                memory, _ = service.store(text)
                keys[memory.content_hash] = key
            pairs = []
            for question, answers, _ in case.questions:
                hits = service.search(question, 5, mode="hybrid")
                right = max((h.similarity for h in hits if keys[h.memory.content_hash] in answers), default=0.0)
                other = max((h.similarity for h in hits if keys[h.memory.content_hash] not in answers), default=0.0)
                pairs.append((right, other))
            store.close()
        found[case.name] = pairs
        print(f"  measured {case.name}: {len(pairs)} questions", flush=True)
    found["all"] = [pair for name in list(found) for pair in found[name]]
    print("\nInjection bar (hybrid score): answer injected / something unrelated injected, % of questions")
    print(f"  {'set':34s} " + " ".join(f"{bar:>11.2f}" for bar in BARS))
    for name, pairs in found.items():
        cells = []
        for bar in BARS:
            hit = 100 * sum(r >= bar for r, _ in pairs) / len(pairs)
            noise = 100 * sum(o >= bar for _, o in pairs) / len(pairs)
            cells.append(f"{hit:4.0f} / {noise:3.0f}")
        print(f"  {name:34s} " + " ".join(f"{c:>11s}" for c in cells))


if __name__ == "__main__":
    sys.exit(main())
