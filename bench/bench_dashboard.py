"""How fast the dashboard answers with 1k and 100k memories: its API over HTTP, and the whole page in a
real headless Chromium when one is installed (tests/run puts one in the user cache; MCP_TEST_CHROMIUM).

    .venv/bin/python bench/bench_dashboard.py                  # 1,000 and 100,000 memories
    .venv/bin/python bench/bench_dashboard.py --sizes 1000     # a quick run

The databases are the ones bench/bench.py builds (real sentence embeddings, cached under bench/.cache).
One HTTP server per size (`python -m server --transport http`), warmed up by one request of each kind;
then medians of RUNS requests each. Figures are printed; nothing here asserts a target.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import bench  # noqa: E402  (the corpus and the database builder)

RUNS = 15
CORPUS = 10_000  # the cached corpus smaller sizes are cut from (sentences are generated in order)


def requests_to_time(n: int) -> dict[str, str]:
    last = max(1, -(-n // 20))
    return {
        "page (/)": "/",
        "script": "/static/app.js",
        "newest (page 1)": "/api/memories",
        f"oldest (page {last:,})": f"/api/memories?page={last}",
        "search, meaning and words": "/api/memories?q=who+fixed+the+billing+service&mode=hybrid",
        "search, meaning only": "/api/memories?q=who+fixed+the+billing+service&mode=semantic",
        "search, all memories (system ones too)": "/api/memories?q=who+fixed+the+billing+service&system=1",
        "one tag": "/api/memories?tags=t7",
        "two tags, all": "/api/memories?tags=t7,t8&tag_match=all",
        "last week": "/api/memories?time=last+week",
        "charts (/api/stats)": "/api/stats",
        "graph (/api/graph)": "/api/graph",
        "health": "/api/health",
    }


def corpus(n: int) -> tuple[list[str], object]:
    texts, vectors = bench.embedded_corpus(max(n, CORPUS))
    return texts[:n], vectors[:n]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(path: Path, port: int, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_")}
    env.update(MCP_MEMORY_SQLITE_PATH=str(path), MCP_LOG_LEVEL="WARNING")
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "server", "--transport", "http", "--port", str(port)],
                                env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=out)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"the server did not start: {log.read_text()}")


def time_requests(url: str, paths: dict[str, str]) -> dict[str, float]:
    medians = {}
    with httpx.Client(base_url=url, timeout=60) as client:
        for name, path in paths.items():
            client.get(path).raise_for_status()  # warm-up: the vector index, the page cache
            times = []
            for _ in range(RUNS):
                t = time.perf_counter()
                client.get(path).raise_for_status()
                times.append((time.perf_counter() - t) * 1000)
            medians[name] = statistics.median(times)
    return medians


def time_browser(url: str) -> dict[str, float]:
    """Navigation to the first results drawn, and to the charts and graph drawn, in headless Chromium."""
    executable = os.environ.get("MCP_TEST_CHROMIUM", "")
    if not executable or not Path(executable).exists():
        return {}
    from playwright.sync_api import sync_playwright

    first_screen, after_enter, drawn = [], [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True,
                                             args=json.loads(os.environ.get("MCP_TEST_CHROMIUM_ARGS") or "[]"))
        page = browser.new_page(viewport={"width": 1280, "height": 800})  # one page: the npm build runs as
        page.add_init_script(WATCH_FIRST)                                  # one process, ended by a close
        for run in range(6):
            page.goto(f"{url}/?run={run}")
            # Timed by the page itself (performance.now() from the navigation's start), not by this driver's polls.
            first = until(page, "() => window.__first")
            page.fill("#q", f"who fixed the billing service {run}")
            page.evaluate(WATCH_ENTER)
            page.press("#q", "Enter")
            enter = until(page, "() => window.__shown && window.__shown - window.__enter")
            t = time.perf_counter()
            page.click("#tab-insights")
            page.wait_for_selector("#top-tags rect")
            page.locator("#graph-status").filter(has_text="o").wait_for()
            if run:  # the first load warms the browser's own caches
                first_screen.append(first)
                after_enter.append(enter)
                drawn.append((time.perf_counter() - t) * 1000)
        browser.close()
    return {"browser: first screen (load to results)": statistics.median(first_screen),
            "browser: results after Enter (a new question)": statistics.median(after_enter),
            "browser: Insights tab drawn": statistics.median(drawn)}


def until(page, expression: str, timeout: float = 30.0) -> float:
    """Poll a value the page records (the page's CSP forbids the driver's own eval-based waits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = page.evaluate(expression)
        if value:
            return float(value)
        time.sleep(0.01)
    raise SystemExit(f"the page never recorded {expression}")


# From the navigation's start to the first memory in the list, recorded by the page.
WATCH_FIRST = """
new MutationObserver((_, seen) => {
  if (!window.__first && document.querySelector('#results > li')) { window.__first = performance.now(); seen.disconnect(); }
}).observe(document, { childList: true, subtree: true });
"""

# From the Enter key to the search's results in the list (a result with its "why" line), timed by the page.
WATCH_ENTER = """() => {
  window.__enter = 0; window.__shown = 0;
  document.addEventListener('keydown', (e) => { if (e.key === 'Enter') window.__enter = performance.now(); },
                            { capture: true, once: true });
  const list = document.getElementById('results');
  const seen = new MutationObserver(() => {
    if (window.__enter && list.querySelector('.why')) { window.__shown = performance.now(); seen.disconnect(); }
  });
  seen.observe(list, { childList: true });
}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,100000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    columns: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="mcp-memory-bench-") as tmp:
        for n in sizes:
            print(f"size {n}:", file=sys.stderr)
            path = Path(tmp) / f"dashboard-{n}.db"
            bench.build_database(path, *corpus(n))
            port = free_port()
            proc = start(path, port, Path(tmp) / f"server-{n}.log")
            try:
                url = f"http://127.0.0.1:{port}"
                columns[n] = {**time_requests(url, requests_to_time(n)), **time_browser(url)}
            finally:
                proc.terminate()
                proc.wait(timeout=15)
    print(f"\nmachine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}; "
          f"medians of {RUNS} requests after a warm-up (browser: 5 loads)\n")
    print("| request | " + " | ".join(f"{n:,} memories" for n in sizes) + " |")
    print("|---|" + "---:|" * len(sizes))
    names = list(dict.fromkeys(name.split(" (page")[0] for n in sizes for name in columns[n]))
    for name in names:
        cells = []
        for n in sizes:
            value = next((v for k, v in columns[n].items() if k.split(" (page")[0] == name), None)
            cells.append("" if value is None else f"{value:.1f} ms")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
