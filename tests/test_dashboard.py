"""The web dashboard: its security over real HTTP, and its pages in a real headless Chromium (Playwright)."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import server_env
from tests.support.net import free_port
from tests.test_processes import HttpServer

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path: Path):
    http = HttpServer(server_env(tmp_path), free_port(), tmp_path)
    http.wait_ready()
    yield http
    http.stop()


@pytest.fixture
def keyed(tmp_path: Path):
    http = HttpServer(server_env(tmp_path, MCP_API_KEY="dash-key-123"), free_port(), tmp_path)
    http.wait_ready()
    yield http
    http.stop()


def tool(url: str, name: str, arguments: dict, key: str | None = None) -> dict:
    """Call one MCP tool as a client would (the streamable HTTP transport, JSON-RPC); its structured answer."""
    import anyio
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async def go() -> dict:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        async with httpx.AsyncClient(headers=headers, timeout=30) as http, \
                Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client:
            result = await client.call_tool(name, arguments)
            assert not result.is_error, result.content
            return result.structured_content

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:  # a thread of its own: Playwright's sync API runs a loop in this one
        return pool.submit(anyio.run, go).result()


def store(url: str, content: str, tags: list[str] | None = None, key: str | None = None,
          memory_type: str | None = None) -> str:
    arguments = {"content": content, "tags": tags or [], **({"memory_type": memory_type} if memory_type else {})}
    return tool(url, "store_memory", arguments, key)["content_hash"]


def test_the_page_ships_no_inline_script_and_a_strict_content_security_policy(server):
    page = httpx.get(f"{server.url}/", timeout=10)
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.S)
    assert scripts and all('src="/static/' in attrs and not body.strip() for attrs, body in scripts)
    assert "http://" not in page.text.replace(server.url, "") and "https://" not in page.text  # no CDN
    assert httpx.get(f"{server.url}/static/../app.py", timeout=10).status_code == 404


def test_a_cross_origin_request_or_a_rebound_host_name_is_refused_and_changes_nothing(server):
    hash_ = store(server.url, "keep me safe", ["safe"])
    port = urlsplit(server.url).port
    evil = httpx.request("DELETE", f"{server.url}/api/memories/{hash_}", headers={"Origin": "http://evil.example"},
                         timeout=10)
    assert evil.status_code == 403
    rebound = httpx.get(f"{server.url}/api/memories", headers={"Host": f"evil.example:{port}"}, timeout=10)
    assert rebound.status_code == 421
    form = httpx.post(f"{server.url}/login", headers={"Origin": "null"}, timeout=10)
    assert form.status_code == 403
    assert httpx.get(f"{server.url}/api/memories/{hash_}", timeout=10).json()["content"] == "keep me safe"


def test_with_a_key_the_api_needs_it_or_the_session_the_page_gets_for_it(keyed):
    hash_ = store(keyed.url, "behind the key", key="dash-key-123")
    assert httpx.get(f"{keyed.url}/", timeout=10).status_code == 200  # the page itself, to ask for the key
    assert httpx.get(f"{keyed.url}/api/memories", timeout=10).status_code == 401
    assert httpx.post(f"{keyed.url}/login", json={"key": "wrong"}, timeout=10).status_code == 401
    session = httpx.post(f"{keyed.url}/login", json={"key": "dash-key-123"}, timeout=10)
    assert session.status_code == 200
    cookie = session.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower() and "dash-key-123" not in cookie
    value = cookie.split(";")[0]
    found = httpx.get(f"{keyed.url}/api/memories/{hash_}", headers={"Cookie": value}, timeout=10)
    assert found.status_code == 200 and found.json()["content"] == "behind the key"
    mcp = httpx.post(f"{keyed.url}/mcp", headers={"Cookie": value}, json={}, timeout=10)
    assert mcp.status_code == 401  # the session opens the dashboard's API, not /mcp


# -- in a real browser ---------------------------------------------------------------------------------

@pytest.fixture
def browser():
    executable = os.environ.get("MCP_TEST_CHROMIUM", "")
    if not executable or not Path(executable).exists():
        pytest.skip("no headless Chromium: tests/run installs one from npm (@sparticuz/chromium)")
    from playwright.sync_api import sync_playwright

    args = json.loads(os.environ.get("MCP_TEST_CHROMIUM_ARGS") or "[]")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=args, headless=True)
        yield chromium
        chromium.close()


def opened(browser, server, width: int = 1280, height: int = 800, dark: bool = False):
    """A page on the dashboard, loaded, with its console errors and requests collected."""
    page = browser.new_page(viewport={"width": width, "height": height}, color_scheme="dark" if dark else "light")
    page.errors, page.requests = [], []
    page.on("request", lambda r: page.requests.append(r.url))
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(f"{server.url}/")
    page.wait_for_selector("#app:not([hidden])")
    return page


def unnamed_controls(page) -> list[str]:
    """Visible controls without a name that assistive technology can read (our own axe-style check)."""
    return page.evaluate("""() => {
      const named = (el) => (el.getAttribute('aria-label') || '').trim() ||
        (el.getAttribute('aria-labelledby') || '').split(' ').map((id) => document.getElementById(id)?.textContent || '').join('').trim() ||
        [...(el.labels || [])].map((l) => l.textContent).join('').trim() ||
        (['BUTTON', 'A', 'SUMMARY'].includes(el.tagName) ? el.textContent.trim() : '') || (el.title || '').trim();
      const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
      return [...document.querySelectorAll('button, a[href], input, select, textarea, summary, [tabindex="0"], [role]')]
        .filter((el) => visible(el) && !['tabpanel', 'status', 'alert', 'search', 'img', 'tablist'].includes(el.getAttribute('role')))
        .filter((el) => !named(el)).map((el) => el.outerHTML.slice(0, 120));
    }""")


def test_search_edit_and_delete_with_undo_in_the_browser_with_no_request_leaving_this_machine(server, browser):
    from playwright.sync_api import expect

    wanted = store(server.url, "The spare house key is with the neighbour at number 12.", ["home"])
    kept = store(server.url, "Kubernetes pods are scheduled onto nodes.", ["work"])
    page = opened(browser, server)
    expect(page.locator("#results > li")).to_have_count(2)
    expect(page.locator("#health")).to_have_text("2 memories")
    expect(page.locator("#badge")).to_have_text("Connected")
    expect(page.locator("#login")).to_be_hidden()  # no key on this server: no key prompt
    first_time = page.locator("#results > li time").first
    assert first_time.text_content() in ("just now", "now") or "ago" in first_time.text_content()
    assert first_time.get_attribute("title")  # the exact local time, on hover
    expect(page.locator("#detail")).to_be_hidden()
    page.click("#tab-health")
    expect(page.locator("#health-summary")).to_contain_text("All is well. Everything is saved on this computer (2 memories")
    page.click("#health-panel summary")  # the technical details, one click away
    for shown in ("database size bytes", "journal_mode wal", "all-MiniLM-L6-v2"):
        expect(page.locator("#health-fields")).to_contain_text(shown)
    page.click("#tab-memories")

    page.fill("#q", "who can let me in if I am locked out?")
    page.press("#q", "Enter")
    expect(page.locator("#results > li").first).to_contain_text("neighbour")  # the answer in other words, first
    first = page.locator("#results > li").first
    expect(first.locator(".why")).to_contain_text("meaning")  # why it ranked, in words
    assert first.locator("button.open").get_attribute("title").startswith("Ranked by meaning")
    page.fill("#q", "spare house key neighbour")
    page.press("#q", "Enter")
    expect(page.locator("#results > li").first.locator(".why")).to_contain_text("matched: spare, house, key, neighbour")
    page.click("#results > li button.open")
    expect(page.locator("#detail")).to_be_visible()
    page.fill("#edit-tags", "home, keys")
    page.click("#edit button[type=submit]")
    expect(page.locator("#results > li").first.locator(".chip", has_text="keys")).to_be_visible()  # saved, shown
    assert httpx.get(f"{server.url}/api/memories/{wanted}", timeout=10).json()["tags"] == ["home", "keys"]

    page.click("#delete")  # no dialog: the delete can be undone for a few seconds
    expect(page.locator("#results")).not_to_contain_text("neighbour")
    expect(page.locator("#toast")).to_contain_text("Memory deleted.")
    page.click("#undo")
    expect(page.locator("#results")).to_contain_text("neighbour")
    time.sleep(7)  # longer than the undo window: nothing was deleted
    assert httpx.get(f"{server.url}/api/memories/{wanted}", timeout=10).status_code == 200

    page.locator("#results > li button.open", has_text="neighbour").click()
    page.click("#delete")
    expect(page.locator("#results > li")).to_have_count(1)
    deadline = time.monotonic() + 15
    while httpx.get(f"{server.url}/api/memories/{wanted}", timeout=10).status_code != 404:
        assert time.monotonic() < deadline, "the delete was not sent after the undo window"
        time.sleep(0.2)
    expect(page.locator("#health")).to_have_text("1 memory")  # the header follows
    assert httpx.get(f"{server.url}/api/memories/{kept}", timeout=10).status_code == 200
    assert unnamed_controls(page) == []
    assert page.errors == []
    assert page.requests and all(urlsplit(url).hostname == "127.0.0.1" for url in page.requests)
    page.close()


def test_add_a_memory_then_edit_its_text_and_the_old_hash_says_where_it_went(server, browser):
    from playwright.sync_api import expect

    page = opened(browser, server)
    expect(page.locator("#status")).to_contain_text("No memories yet")
    page.click("#add")
    expect(page.locator("#add-dialog")).to_be_visible()
    page.click("#add-form button[type=submit]")  # empty: the browser asks for text, nothing is sent
    page.fill("#add-content", "The boiler is serviced every October.")
    page.fill("#add-tags", "home, boiler")
    page.fill("#add-type", "note")
    page.click("#add-form button[type=submit]")
    expect(page.locator("#add-dialog")).to_be_hidden()
    expect(page.locator("#results > li")).to_have_count(1)
    expect(page.locator("#detail-content")).to_have_text("The boiler is serviced every October.")
    old = page.locator("#detail-fields dd").last.text_content()
    before = httpx.get(f"{server.url}/api/memories/{old}", timeout=10).json()

    page.click("#edit-text-open")
    page.fill("#edit-content", "The boiler is serviced every November.")
    page.click("#edit-text button[type=submit]")
    expect(page.locator("#detail-content")).to_have_text("The boiler is serviced every November.")
    expect(page.locator("#edit-status")).to_contain_text("new memory")
    new = page.locator("#detail-fields dd").last.text_content()
    assert new != old
    after = httpx.get(f"{server.url}/api/memories/{new}", timeout=10).json()
    for field in ("tags", "memory_type", "metadata", "created_at"):
        assert after[field] == before[field], field  # kept: only the text (and so the hash) changed
    gone = httpx.get(f"{server.url}/api/memories/{old}", timeout=10)
    assert gone.status_code == 404 and gone.json()["moved_to"] == new and "edited" in gone.json()["error"]
    seen = tool(server.url, "retrieve_memory", {"query": "boiler service month", "n_results": 5})["results"]
    assert [r["content_hash"] for r in seen] == [new]  # what the tools see
    page.fill("#edit-tags", "")
    page.click("#add")
    page.fill("#add-content", "The boiler is serviced every November.")  # the same text again
    page.click("#add-form button[type=submit]")
    expect(page.locator("#toast")).to_contain_text("already had this memory")
    assert page.errors == []
    page.close()


def test_every_failure_is_shown_and_the_page_reconnects_by_itself(tmp_path, browser):
    from playwright.sync_api import expect

    port = free_port()
    server = HttpServer(server_env(tmp_path), port, tmp_path)
    server.wait_ready()
    try:
        store(server.url, "A memory written before the server stopped.", ["before"])
        page = opened(browser, server)
        expect(page.locator("#results > li")).to_have_count(1)
        page.click("#results > li button.open")
        page.fill("#edit-tags", "before, after")
        server.stop()
        page.click("#edit button[type=submit]")  # the server is gone: the page says so, in words
        expect(page.locator("#edit-error")).to_contain_text("did not answer")
        expect(page.locator("#badge")).to_have_text("Disconnected: retrying…")
        page.fill("#q", "anything")
        page.press("#q", "Enter")
        expect(page.locator("#status")).to_contain_text("did not answer")
        server = HttpServer(server_env(tmp_path), port, tmp_path)  # back, on the same port and data
        server.wait_ready()
        expect(page.locator("#badge")).to_have_text("Connected", timeout=15000)
        page.fill("#q", "")
        page.press("#q", "Enter")
        expect(page.locator("#results > li")).to_have_count(1)
        page.close()
    finally:
        server.stop()


def test_screenshots_light_and_dark_wide_and_narrow(server, browser, tmp_path):
    """The pictures a person would see, saved for review (MCP_TEST_SCREENSHOTS names a folder to keep them)."""
    from playwright.sync_api import expect

    for n, (text, tags) in enumerate([("The spare house key is with the neighbour at number 12.", ["home"]),
                                      ("Kubernetes pods are scheduled onto nodes by the scheduler.", ["work", "k8s"]),
                                      ("Grandma's lentil soup: onions, carrots, cumin, two hours.", ["recipe"]),
                                      ("Passport renewal is due in March 2027.", ["admin", "travel"])]):
        store(server.url, text, tags, memory_type="note" if n % 2 else None)
    for n in range(8):
        store(server.url, f"Garden note {n}: water the tomatoes and beans in bed {n} at dusk.", ["garden"])
    tool(server.url, "discover_associations", {"min_similarity": 0.3, "max_similarity": 0.995})
    folder = Path(os.environ.get("MCP_TEST_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page = opened(browser, server)  # one page (a single-process Chromium ends with its last page)
    for width, height in ((1280, 800), (390, 844)):
        for dark in (False, True):
            page.set_viewport_size({"width": width, "height": height})
            page.emulate_media(color_scheme="dark" if dark else "light")
            page.reload()
            expect(page.locator("#results > li")).to_have_count(12)
            page.locator("#results > li button.open").first.click()
            expect(page.locator("#detail")).to_be_visible()
            name = f"dashboard-{width}x{height}-{'dark' if dark else 'light'}.png"
            page.screenshot(path=str(folder / name))
            background = page.evaluate("getComputedStyle(document.body).backgroundColor")
            assert (background != "rgb(246, 247, 249)") == dark, background  # dark mode follows the system
            box = page.locator("#detail").bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= width + 1  # on screen, as a sheet when narrow
            assert unnamed_controls(page) == []
            for view, drawn in (("insights", "#graph circle"), ("health", "#health-summary:not(:empty)")):
                page.click(f"#tab-{view}")
                page.locator(drawn).first.wait_for()
                page.wait_for_timeout(300)  # the last of the view's requests
                page.screenshot(path=str(folder / name.replace("dashboard-", f"dashboard-{view}-")))
                assert unnamed_controls(page) == []
    assert page.errors == []
    page.close()


def test_the_key_prompt_opens_a_session_in_the_browser(keyed, browser):
    store(keyed.url, "a memory behind the key", key="dash-key-123")
    page = browser.new_page()
    page.goto(f"{keyed.url}/")
    page.wait_for_selector("#login:not([hidden])")
    page.fill("#key", "dash-key-123")
    page.click("#login button")
    page.wait_for_selector("#results > li")
    assert "a memory behind the key" in page.text_content("#results")
    page.close()


def test_the_dashboard_command_serves_in_the_foreground_when_none_runs_and_leaves_nothing_behind(tmp_path):
    import signal
    import subprocess

    from tests.conftest import PYTHON, REPO

    port = free_port()
    env = server_env(tmp_path, MCP_HTTP_PORT=str(port))
    serving = subprocess.Popen([PYTHON, "-m", "server", "dashboard", "--no-browser"], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        assert serving.stdout.readline().strip() == f"http://127.0.0.1:{port}/"
        for _ in range(300):  # the server holds its port before it prints "Serving"; give it 30 s to answer
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=10).status_code == 200
        again = subprocess.run([PYTHON, "-m", "server", "dashboard", "--no-browser"], cwd=REPO, env=env,
                               capture_output=True, text=True, timeout=60)
        assert again.returncode == 0 and again.stdout.strip() == f"http://127.0.0.1:{port}/"
        assert "Serving" not in again.stderr  # the running one is used; this one ends at once
    finally:
        serving.send_signal(signal.SIGINT)  # Ctrl-C: the server it started stops with it
        _, err = serving.communicate(timeout=30)
    assert serving.returncode == 0 and "Server stopped." in err and "Traceback" not in err
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)


def test_pictures_delete_by_tag_with_a_preview_export_and_backup_in_the_browser(server, browser, tmp_path):
    from playwright.sync_api import expect

    for n in range(3):
        store(server.url, f"Old sprint note number {n} about the retired billing service.", ["old"])
    store(server.url, "The garden tap is behind the shed.", ["keep"])
    page = opened(browser, server)
    errors = page.errors
    page.click("#tab-insights")
    expect(page.locator("#top-tags")).to_contain_text("old")
    count = page.locator("#top-tags text", has_text="3").first  # the largest bar's count: inside the picture
    box, chart = count.bounding_box(), page.locator("#top-tags").bounding_box()
    assert box["x"] + box["width"] <= chart["x"] + chart["width"] + 0.5
    today = page.locator("#per-day rect").last  # today's bar, drawn here (no script from elsewhere)
    box, chart = today.bounding_box(), page.locator("#per-day").bounding_box()
    assert box is not None and chart is not None
    assert chart["x"] <= box["x"] and box["x"] + box["width"] <= chart["x"] + chart["width"] + 0.5  # inside it

    page.click("#tab-data")
    page.fill("#bytag-tags", "old")
    page.click("#bytag button[type=submit]")
    expect(page.locator("#bytag-count")).to_have_text("3 memories would be deleted:")
    assert page.locator("#bytag-list li").count() == 3
    assert len(httpx.get(f"{server.url}/api/memories", timeout=10).json()["results"]) == 4  # a preview deletes nothing
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#bytag-confirm")
    expect(page.locator("#keep-status")).to_have_text("Deleted 3 memories.")
    left = httpx.get(f"{server.url}/api/memories", timeout=10).json()["results"]
    assert [m["content"] for m in left] == ["The garden tap is behind the shed."]

    exported = httpx.get(f"{server.url}/api/export?format=jsonl", timeout=30)
    assert exported.status_code == 200 and len(exported.text.strip().splitlines()) == 1
    page.click("#backup")
    expect(page.locator("#keep-status")).to_contain_text("Backed up to")
    assert Path(page.text_content("#keep-status").removeprefix("Backed up to ")).exists()
    assert errors == []
    page.close()


def test_a_narrow_window_and_the_keyboard_alone_are_enough(server, browser):
    from playwright.sync_api import expect

    store(server.url, "The boiler service contract renews automatically in October.", ["home"])
    page = opened(browser, server, 375, 740)
    expect(page.locator("#results > li")).to_have_count(1)
    views = {"#tab-memories": ("#q", "#search button[type=submit]", "#results > li button"),
             "#tab-insights": ("#per-day", "#top-tags", "#graph-tag"), "#tab-health": ("#health-panel",),
             "#tab-data": ("#bytag-tags", "#backup")}
    for tab, selectors in views.items():
        page.click(tab)
        for selector in selectors:
            box = page.locator(selector).first.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375, selector  # on screen
    assert page.get_by_label("Search").count() == 1  # inputs carry labels
    page.click("#tab-memories")
    page.locator("body").focus()
    page.keyboard.press("/")  # the search, from anywhere
    expect(page.locator("#q")).to_be_focused()
    page.keyboard.type("when does the heating contract renew?")
    page.keyboard.press("Enter")
    expect(page.locator("#results > li").first).to_contain_text("score")  # the search's answer, not the listing
    expect(page.locator("#results > li").first).to_contain_text("boiler")
    first = page.locator("#results > li button.open").first
    for _ in range(4):  # the search button and the filters come first
        page.keyboard.press("Tab")
        if first.evaluate("(el) => el === document.activeElement"):
            break
    expect(first).to_be_focused()  # the first result, by keys
    page.keyboard.press("Enter")
    expect(page.locator("#detail")).to_be_visible()
    expect(page.locator("#detail-title")).to_be_focused()
    page.keyboard.press("Escape")  # closes, and focus goes back to the result
    expect(page.locator("#detail")).to_be_hidden()
    expect(page.locator("#results > li button.open").first).to_be_focused()
    page.locator("#tab-memories").focus()
    page.keyboard.press("ArrowRight")  # tabs move with the arrow keys
    expect(page.locator("#tab-insights")).to_be_focused()
    expect(page.locator("#view-insights")).to_be_visible()
    assert unnamed_controls(page) == []
    page.close()


def test_the_association_graph_is_drawn_in_the_page_and_a_node_opens_its_memory(server, browser):
    import anyio
    from concurrent.futures import ThreadPoolExecutor

    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from playwright.sync_api import expect

    texts = ["Python asyncio runs coroutines on an event loop.", "The asyncio event loop schedules coroutines.",
             "An event loop in Python asyncio drives coroutines and tasks."]
    texts += [f"Garden note {n}: the tomatoes and beans in bed {n} need water and sun." for n in range(12)]
    texts += [f"Kitchen note {n}: the soup with lentils and carrots, batch {n}, simmers for an hour." for n in range(10)]
    for text in texts:
        store(server.url, text, ["python"] if "asyncio" in text else ["home"])

    async def discover() -> None:
        async with httpx.AsyncClient(timeout=60) as http, \
                Client(streamable_http_client(f"{server.url}/mcp", http_client=http)) as client:
            done = await client.call_tool("discover_associations", {"min_similarity": 0.3, "max_similarity": 0.995,
                                                                    "limit": 200})
            assert not done.is_error

    with ThreadPoolExecutor(1) as pool:
        pool.submit(anyio.run, discover).result()
    page = opened(browser, server)
    users = len(texts)
    expect(page.locator("#health")).to_contain_text(f"{users} memories (and ")  # the user's, and the system's apart
    expect(page.locator("#status")).to_have_text(f"{users} memories")
    expect(page.locator("#results")).not_to_contain_text("Association between")  # the list is the user's own
    page.click("#filters summary")
    page.check("#system")
    expect(page.locator("#results")).to_contain_text("Association between")  # shown when asked
    page.click("#tab-insights")
    expect(page.locator("#graph-status")).to_contain_text("associations")
    circles = page.locator("#graph circle")
    assert circles.count() >= 10 and page.locator("#graph line").count() >= 5
    frame = page.locator("#graph").bounding_box()
    boxes = [circles.nth(i).bounding_box() for i in range(circles.count())]
    near_edge = [b for b in boxes if min(b["x"] - frame["x"], b["y"] - frame["y"], frame["x"] + frame["width"] - b["x"]
                                         - b["width"], frame["y"] + frame["height"] - b["y"] - b["height"]) < 4]
    assert len(near_edge) <= len(boxes) // 5, f"{len(near_edge)} of {len(boxes)} nodes on the frame"
    xs, ys = [b["x"] for b in boxes], [b["y"] for b in boxes]
    assert max(xs) - min(xs) > frame["width"] / 3 and max(ys) - min(ys) > frame["height"] / 3  # spread out
    assert page.locator("#graph-list li").count() == page.locator("#graph line").count()  # readable as a list
    page.locator("#graph").focus()  # one Tab stop; arrow keys inside
    page.keyboard.press("ArrowRight")
    expect(page.locator("#graph-focus")).to_contain_text("connection")
    assert page.locator("#graph circle.active").count() == 1
    page.click("#graph-in")
    assert page.locator("#graph").get_attribute("viewBox") != " ".join(map(str, [0, 0, 560, 400]))
    page.fill("#graph-tag", "python")
    page.press("#graph-tag", "Enter")
    page.locator("#graph-tag").blur()
    expect(page.locator("#graph-list")).not_to_contain_text("Kitchen note")  # the tag's memories only
    page.locator("#graph circle").first.click()
    expect(page.locator("#detail")).to_be_visible()
    expect(page.locator("#detail-content")).to_contain_text("coroutines")
    page.click("#close")
    page.click("#tab-insights")
    gone = page.locator("#graph circle").last.get_attribute("data-id")
    assert httpx.delete(f"{server.url}/api/memories/{gone}", timeout=10).status_code == 200  # another client
    page.locator("#graph circle").last.click()  # its node is still drawn: the page says it is gone, and refreshes
    expect(page.locator("#toast")).to_contain_text("That memory is gone")
    expect(page.locator(f"#graph circle[data-id='{gone}']")).to_have_count(0)
    assert [e for e in page.errors if "404 (Not Found)" not in e] == []  # the browser logs the 404 it was told
    page.close()


def test_filters_and_edits_made_in_the_page_are_what_the_mcp_tools_see(server, browser):
    from playwright.sync_api import expect

    both = store(server.url, "Water the tomatoes every evening in July.", ["garden", "summer"], memory_type="task")
    store(server.url, "Harvest the tomatoes when they turn red.", ["garden"], memory_type="note")
    store(server.url, "Summer holiday: book the ferry to the island.", ["summer"], memory_type="task")
    page = opened(browser, server)
    errors = page.errors
    expect(page.locator("#results > li")).to_have_count(3)
    page.locator("#results > li .chip", has_text="summer").first.click()  # a tag chip filters by its tag
    expect(page.locator("#results > li")).to_have_count(2)
    expect(page.locator("#tags")).to_have_value("summer")
    page.click("#clear")
    expect(page.locator("#results > li")).to_have_count(3)
    assert page.locator("#tag-list option").count() == 2 and page.locator("#type-list option").count() == 2  # hints
    page.fill("#tags", "garden, summer")
    page.select_option("#tag-match", "all")
    page.click("#search button[type=submit]")
    expect(page.locator("#results > li")).to_have_count(1)
    expect(page.locator("#results > li")).to_contain_text("Water the tomatoes")
    page.fill("#tags", "")
    page.fill("#type", "task")
    page.click("#search button[type=submit]")
    expect(page.locator("#status")).to_have_text("2 memories")
    yesterday = time.strftime("%Y-%m-%d", time.localtime(time.time() - 86400))
    page.fill("#before", yesterday)  # jump to a date: nothing was stored before today
    page.locator("#before").dispatch_event("change")
    expect(page.locator("#status")).to_contain_text("Nothing matches")
    page.fill("#before", time.strftime("%Y-%m-%d"))
    page.locator("#before").dispatch_event("change")
    expect(page.locator("#status")).to_have_text("2 memories")

    page.locator("#results > li button", has_text="Water the tomatoes").click()
    page.click("#metadata-box summary")
    expect(page.locator("#edit-metadata")).to_have_value("{}")
    page.fill("#edit-metadata", "not json")
    page.click("#edit button[type=submit]")
    expect(page.locator("#edit-error")).to_contain_text("must be a JSON object")
    assert tool(server.url, "search_by_tag", {"tags": ["garden"]})["count"] == 2  # nothing was saved
    page.fill("#edit-tags", "garden, watering")
    page.fill("#edit-type", "chore")
    page.fill("#edit-metadata", '{"bed": "north", "litres": 12}')
    page.click("#edit button[type=submit]")
    expect(page.locator("#edit-status")).to_contain_text("Saved at")
    seen = tool(server.url, "search_by_tag", {"tags": ["watering"]})["memories"]  # through MCP, as Claude sees it
    assert [(m["content_hash"], m["tags"], m["memory_type"], m["metadata"]) for m in seen] == [
        (both, ["garden", "watering"], "chore", {"bed": "north", "litres": 12})]
    page.fill("#edit-metadata", '{"bed": "south"}')  # a key removed in the page is removed
    page.click("#edit button[type=submit]")
    expect(page.locator("#edit-metadata")).to_have_value('{\n  "bed": "south"\n}')
    assert tool(server.url, "search_by_tag", {"tags": ["watering"]})["memories"][0]["metadata"] == {"bed": "south"}

    # A client changes the tags and type while the page is open; saving metadata in the page keeps them.
    tool(server.url, "update_memory_metadata", {"content_hash": both, "tags": ["garden", "by-claude"],
                                                "memory_type": "reminder"})
    page.fill("#edit-metadata", '{"bed": "south", "__proto__": "a key like any other"}')
    page.click("#edit button[type=submit]")
    expect(page.locator("#edit-tags")).to_have_value("garden, by-claude")
    seen = tool(server.url, "search_by_tag", {"tags": ["by-claude"]})["memories"]
    assert [(m["tags"], m["memory_type"], m["metadata"]) for m in seen] == [
        (["garden", "by-claude"], "reminder", {"bed": "south", "__proto__": "a key like any other"})]
    page.fill("#edit-metadata", '{"bed": "south", "__proto__": "edited"}')
    page.click("#edit button[type=submit]")
    expect(page.locator("#edit-metadata")).to_have_value(re.compile('"edited"'))
    assert tool(server.url, "search_by_tag", {"tags": ["by-claude"]})["memories"][0]["metadata"]["__proto__"] == \
        "edited"
    assert errors == []
    page.close()


def test_the_sync_panel_of_a_hybrid_server_shows_a_parked_operation_with_its_reason_and_retries_it(cloud, tmp_path,
                                                                                                   browser):
    from playwright.sync_api import expect

    from tests.support.cloudflare_emulator import Fault
    from tests.support.hybrid import wait_until
    from tests.test_hybrid_processes import hybrid_env

    server = HttpServer(hybrid_env(tmp_path, cloud, tmp_path / "device.db"), free_port(), tmp_path)
    try:
        server.wait_ready()
        status = lambda: httpx.get(f"{server.url}/api/sync", timeout=10).json()  # noqa: E731
        wait_until(lambda: status()["cloud_reachable"] is True, what="the first connection to the cloud")
        # The token lost its D1 permission: a refusal for good, so the write is parked (not retried forever).
        cloud.emulator.inject(Fault(path=r"/query$", status=403, code=10000, message="Authentication error", times=2))
        parked = store(server.url, "Parked until the token is fixed: the heron nests by the weir.", ["birds"])
        wait_until(lambda: status()["parked"] == 1, what="the refused write to be parked")

        page = opened(browser, server)
        expect(page.locator("#badge")).to_have_text("1 not synced")
        page.click("#tab-health")
        panel = page.locator("#sync")
        expect(panel).to_be_visible()
        expect(page.locator("#sync-summary")).to_contain_text("1 change was refused by the cloud")  # in words
        expect(page.locator("#sync-parked li")).to_contain_text("Authentication error")  # the reason, shown
        page.click("#health-panel summary")
        expect(page.locator("#sync-fields")).to_contain_text("cloud reachableyes")
        value = lambda name: page.locator(f"#sync-fields dt:text-is('{name}') + dd")  # noqa: E731
        expect(value("parked")).to_have_text("1")
        assert cloud.emulator.faults[-1].times == 0  # the token is fixed now
        page.click("#sync-retry")
        expect(page.locator("#sync-result")).to_contain_text("Done: 1 change sent")
        expect(value("parked")).to_have_text("0")
        expect(value("queue depth")).to_have_text("0")
        expect(page.locator("#sync-parked li")).to_have_count(0)
        expect(page.locator("#badge")).to_have_text("Connected · synced")
        assert parked in cloud.rows()
        page.close()
    finally:
        server.stop()


def test_malformed_api_requests_get_a_400_that_says_what_is_wrong_and_never_a_traceback(server):
    hash_ = store(server.url, "a memory to poke at", ["poke"])
    api = f"{server.url}/api"
    json_headers = {"Content-Type": "application/json"}
    cases = [("GET", f"{api}/memories?page=abc", None), ("GET", f"{api}/memories?page=0", None),
             ("GET", f"{api}/memories?mode=bogus&q=x", None), ("GET", f"{api}/memories?tag_match=some", None),
             ("GET", f"{api}/memories/not-a-hash", None), ("PATCH", f"{api}/memories/{hash_}", b"{not json"),
             ("PATCH", f"{api}/memories/{hash_}", b"[1, 2]"), ("PATCH", f"{api}/memories/{hash_}", b'{"tags": 5}'),
             ("PATCH", f"{api}/memories/{hash_}", b'{"metadata": "text"}'),
             ("POST", f"{api}/delete-by-tag", b"nonsense"), ("POST", f"{api}/delete-by-tag", b'"poke"'),
             ("GET", f"{api}/export?format=pdf", None), ("GET", f"{api}/memories?time=the%20day%20after%20never", None)]
    for method, url, body in cases:
        answer = httpx.request(method, url, content=body, headers=json_headers, timeout=10)
        assert answer.status_code == 400, (method, url, answer.status_code, answer.text)
        assert answer.json()["error"] and "Traceback" not in answer.text, answer.text
    assert store(server.url, "a memory to poke at", ["poke"]) == hash_  # nothing was changed
    assert httpx.get(f"{api}/memories/{hash_}", timeout=10).json()["tags"] == ["poke"]


def test_wrong_keys_at_login_are_slowed_down_and_the_right_key_still_works_after_the_wait(keyed):
    wrong = [httpx.post(f"{keyed.url}/login", json={"key": f"guess-{n}"}, timeout=10).status_code for n in range(8)]
    assert wrong[:6] == [401] * 6 and 429 in wrong[6:], wrong
    refused = httpx.post(f"{keyed.url}/login", json={"key": "dash-key-123"}, timeout=10)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    import time

    time.sleep(int(refused.headers["Retry-After"]) + 0.2)
    assert httpx.post(f"{keyed.url}/login", json={"key": "dash-key-123"}, timeout=10).status_code == 200
    assert httpx.post(f"{keyed.url}/login", content=b"[]", timeout=10).status_code == 400


def test_a_document_added_in_the_page_is_found_with_its_source_and_deleted_with_all_its_pieces(server, browser,
                                                                                              tmp_path):
    from playwright.sync_api import expect

    from tests.support.documents import docx

    guide = tmp_path / "guide.docx"
    guide.write_bytes(docx([("Heading1", "Setup"), (None, "Install the monitoring agent on every host."),
                            ("Heading1", "Firewall"), (None, "Open port 8443 for the agent's reports.")]))
    page = opened(browser, server)
    page.click("#tab-data")
    expect(page.locator("#documents-empty")).to_be_visible()
    page.set_input_files("#upload-file", str(guide))
    page.fill("#upload-tags", "ops")
    page.click("#upload button[type=submit]")
    expect(page.locator("#documents-status")).to_have_text("Added guide.docx: 2 pieces.")
    expect(page.locator("#documents-list li")).to_have_count(1)
    expect(page.locator("#documents-list li")).to_contain_text("guide.docx 2 pieces")

    page.click("#tab-memories")
    page.fill("#q", "which network port must be reachable?")
    page.press("#q", "Enter")
    expect(page.locator("#results li").first).to_contain_text("[guide.docx › Firewall]")  # where it came from

    page.click("#tab-data")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#documents-list button")
    expect(page.locator("#documents-status")).to_have_text("Deleted guide.docx.")
    expect(page.locator("#documents-empty")).to_be_visible()
    assert httpx.get(f"{server.url}/api/documents", timeout=10).json() == {"documents": []}
    assert page.errors == []
    page.close()
