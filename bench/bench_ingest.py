"""Documents into memory: how fast, and whether the pieces answer questions.

    .venv/bin/python bench/bench_ingest.py            # speed and quality at the defaults (about 5 minutes)
    .venv/bin/python bench/bench_ingest.py --sizes    # also other piece sizes and overlaps

Speed: `python -m server ingest` (the real command, a new store each time) on a 300-page PDF and on a folder of
500 Markdown files, both made here from the standard library's docstrings (bench/distractors.py): wall time,
and pieces stored per second.

Quality: bench/sets/documents.json, three documents (Markdown, HTML, text) ingested among that 300-page PDF;
21 questions asked in other words than the text. R@5: the share of questions with a piece holding the
answer's exact phrase among the first five results (hybrid search, the default).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.distractors import sentences  # noqa: E402
from tests.support.documents import pdf  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", action="store_true", help="also other piece sizes and overlaps")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        files = make_files(Path(tmp))
        print("\nSpeed (python -m server ingest, a new store each time):")
        for label, target in (("300-page PDF", files["pdf"]), ("500 Markdown files", files["markdown"])):
            seconds, stored = ingest(Path(tmp) / label.replace(" ", "-"), target)
            print(f"  {label:20s} {seconds:7.1f} s  {stored:6d} pieces  {stored / seconds:6.1f} pieces/s")
        print("\nQuality: R@5 on 21 questions in other words, the documents among the 300-page PDF")
        settings = [(1000, 150)] + ([(600, 100), (1500, 200), (1000, 0)] if args.sizes else [])
        for size, overlap in settings:
            print(f"  pieces of {size} characters, overlap {overlap}: R@5 {quality(files['pdf'], size, overlap):.2f}",
                  flush=True)
    return 0


def make_files(tmp: Path) -> dict[str, Path]:
    text = sentences(6000)
    pages = [" ".join(text[i * 18:(i + 1) * 18]) for i in range(300)]
    wrapped = ["\n".join(re.findall(r".{1,90}(?:\s|$)", page)) for page in pages]
    (tmp / "book.pdf").write_bytes(pdf([page[:3000] for page in wrapped]))
    folder = tmp / "notes"
    folder.mkdir()
    for n in range(500):
        chunk = text[(n * 12) % 5900:(n * 12) % 5900 + 12]
        (folder / f"note-{n:03d}.md").write_text(f"# Note {n}\n\n## Part one\n\n{' '.join(chunk[:6])}\n\n"
                                                 f"## Part two\n\n{' '.join(chunk[6:])}\n", encoding="utf-8")
    return {"pdf": tmp / "book.pdf", "markdown": folder}


def ingest(store: Path, target: Path) -> tuple[float, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_")}
    env.update(MCP_MEMORY_BASE_DIR=str(store), HF_HUB_OFFLINE="1")
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "server", "ingest", str(target)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=3600)
    seconds = time.perf_counter() - began
    found = re.search(r"(\d+) pieces stored", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"ingest failed: {done.stderr[-2000:]}")
    return seconds, int(found.group(1))


def quality(book: Path, size: int, overlap: int) -> float:
    from server.backends import local_store
    from server.documents.ingest import ingest_bytes
    from server.service import MemoryService
    from server.settings import settings_from_values

    data = json.loads((REPO / "bench" / "sets" / "documents.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_from_values({"MCP_MEMORY_BASE_DIR": tmp})
        store = local_store(settings)
        store.open()
        service = MemoryService(store, settings.max_content_length)
        ingest_bytes(service, book.read_bytes(), "book.pdf", str(book), size=size, overlap=overlap)
        for document in data["documents"]:
            report = ingest_bytes(service, document["text"].encode(), document["name"], document["name"],
                                  size=size, overlap=overlap)
            assert report.status == "added", report.reason
        found = 0
        for item in data["questions"]:
            hits = service.search(item["question"], 5)
            found += any(item["answer"] in " ".join(h.memory.content.split()) for h in hits)
        store.close()
    return found / len(data["questions"])


if __name__ == "__main__":
    sys.exit(main())
