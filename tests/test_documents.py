"""Documents into memory, with files the tests make (PDF, .docx, Markdown, HTML, text, JSON, CSV): the command,
the tool over stdio, the dashboard's upload over HTTP (where no tool reads a path), one document one unit, and
hostile files refused with nothing stored."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from mcp import Client

from tests.conftest import REPO, server_env
from tests.support.database import reading
from tests.support.documents import docx, docx_bomb, docx_with_entities, pdf
from tests.support.net import free_port
from tests.test_processes import HttpServer, stdio_params

pytestmark = pytest.mark.slow

DESIGN = """# Atlas API

## Authentication

Every request carries a bearer token issued by the auth service. Tokens expire after fifteen minutes.

## Rate limits

Clients may send 600 requests per minute. Above that they get HTTP 429 and a Retry-After header.
"""


def folder(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    (docs / "more").mkdir(parents=True)
    (docs / "design.md").write_text(DESIGN, encoding="utf-8")
    (docs / "spec.pdf").write_bytes(pdf(["Cooling\nThe reactor is cooled with heavy water pumped from the lake.",
                                         None, "Maintenance\nThe yearly shutdown for maintenance starts in March."]))
    (docs / "guide.docx").write_bytes(docx([("Heading1", "Setup"), (None, "Install the monitoring agent on every host."),
                                            ("Heading2", "Firewall"), (None, "Open port 8443 for the agent.")]))
    (docs / "more" / "onboarding.html").write_text(
        "<html><head><script>steal()</script></head><body><h1>Onboarding</h1><p>New engineers receive their "
        "laptop on the first morning.</p></body></html>", encoding="utf-8")
    (docs / "more" / "notes.txt").write_text("Standup notes\n\nThe release freeze begins on the 12th.\n\n" +
                                             " ".join(f"Item {n} of the long log was checked and closed." for n in
                                                      range(120)), encoding="utf-8")
    (docs / "more" / "people.csv").write_text("name,role\nDana,release manager\nOmar,on-call lead\n", encoding="utf-8")
    (docs / "more" / "services.json").write_text(json.dumps([{"service": "billing", "owner": "Omar"}]), encoding="utf-8")
    return docs


def ingest(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "server", "ingest", *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=300)


def pieces(tmp_path: Path) -> list[tuple[str, dict]]:
    with reading(tmp_path / "data" / "memories.db") as conn:
        return [(row[0], json.loads(row[1])["document"]) for row in
                conn.execute("SELECT content, metadata FROM memories WHERE memory_type = 'document' ORDER BY id")]


def test_a_folder_of_every_format_becomes_pieces_with_their_source_once(tmp_path):
    env = server_env(tmp_path)
    docs = folder(tmp_path)
    done = ingest(env, str(docs), "--recursive", "--tags", "atlas")
    assert done.returncode == 0, done.stderr
    assert "7 file(s): 7 added" in done.stderr
    assert "1 page(s) without text (scans?): 2" in done.stderr  # the PDF's empty page is said, not hidden
    stored = pieces(tmp_path)
    texts = "\n".join(content for content, _ in stored)
    assert "[design.md › Atlas API › Rate limits]\nClients may send 600 requests" in texts  # the heading trail
    assert "[spec.pdf, page 3]\nMaintenance" in texts  # the page
    assert "[guide.docx › Setup › Firewall]\nOpen port 8443" in texts
    assert "steal()" not in texts and "[onboarding.html › Onboarding]" in texts  # no script text
    assert "role: release manager" in texts and "owner: Omar" in texts  # CSV rows and JSON records
    long_log = [content for content, about in stored if about["name"] == "notes.txt"]
    assert len(long_log) >= 7 and max(len(c) for c in long_log) <= 1000  # pieces the model reads whole
    overlapping = [n for n in range(len(long_log) - 1) if long_log[n].split()[-1] in long_log[n + 1]]
    assert len(overlapping) == len(long_log) - 1  # each piece starts with the end of the one before
    spec = [about for _, about in stored if about["name"] == "spec.pdf"]
    assert [(a["piece"], a["pieces"], a["pages"]) for a in spec] == [(1, 2, [1, 1]), (2, 2, [3, 3])]

    again = ingest(env, str(docs), "--recursive")
    assert "7 unchanged" in again.stderr and "0 pieces stored" in again.stderr
    assert len(pieces(tmp_path)) == len(stored)  # the same files again: nothing added

    (docs / "design.md").write_text(DESIGN.replace("600 requests", "900 requests"), encoding="utf-8")
    changed = ingest(env, str(docs / "design.md"))
    assert "replaced" in changed.stderr
    after = "\n".join(content for content, _ in pieces(tmp_path))
    assert "900 requests" in after and "600 requests" not in after  # no stale piece left
    assert len(pieces(tmp_path)) == len(stored)

    listed = subprocess.run([sys.executable, "-m", "server", "documents"], env=env, cwd=REPO, capture_output=True,
                            text=True, timeout=60)
    assert "spec.pdf" in listed.stdout and "2 pieces" in listed.stdout
    gone = subprocess.run([sys.executable, "-m", "server", "documents", "--delete", "spec.pdf"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert gone.returncode == 0 and "deleted spec.pdf (2 pieces" in gone.stderr
    assert not [a for _, a in pieces(tmp_path) if a["name"] == "spec.pdf"]


def test_hostile_files_are_refused_one_by_one_and_nothing_of_them_is_stored(tmp_path):
    env = server_env(tmp_path)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 9 0 R >>\ntrailer garbage")
    (bad / "binary.txt").write_bytes(bytes(range(256)) * 40)
    (bad / "bomb.docx").write_bytes(docx_bomb())
    (bad / "liar.docx").write_bytes(docx_bomb(lying=True))
    (bad / "deep.json").write_text("[" * 100_000, encoding="utf-8")
    (bad / "entities.docx").write_bytes(docx_with_entities())
    (bad / "scan.pdf").write_bytes(pdf([None, None]))
    (bad / "fine.md").write_text("# Fine\n\nThe only file here that can be read.\n", encoding="utf-8")
    done = ingest(env, str(bad))
    assert done.returncode == 1  # some failed: said in the exit code too
    report = done.stderr
    assert "broken.pdf: not a readable PDF" in report
    assert "binary.txt: binary data, not text" in report
    assert "bomb.docx: its text part unpacks to more than 40,768,600 bytes; refused" in report
    assert "liar.docx: not a Word .docx file (Bad CRC-32" in report  # its header lied: read no further than it
    assert "deep.json: not valid JSON" in report or "deep.json: cannot be read as json" in report
    assert "entities.docx: the document declares a DOCTYPE or entities; refused" in report
    assert "scan.pdf: no text found (2 page(s) without a text layer: a scan needs OCR first)" in report
    assert "Traceback" not in report
    assert [about["name"] for _, about in pieces(tmp_path)] == ["fine.md"]


@pytest.mark.anyio
async def test_the_tool_reads_files_over_stdio_and_search_results_say_where_each_piece_came_from(tmp_path):
    env = server_env(tmp_path, MCP_MEMORY_TOOL_PROFILE="unified")
    docs = folder(tmp_path)
    async with Client(stdio_params(env)) as client:
        result = await client.call_tool("memory_ingest", {"directory_path": str(docs), "tags": "atlas"})
        assert not result.is_error, result.content[0].text
        assert result.structured_content["stored"] == 6 and len(result.structured_content["documents"]) == 3  # not more/
        found = await client.call_tool("memory_search", {"query": "How long is an access credential valid?",
                                                         "limit": 3})
        first = found.structured_content["results"][0]
        assert first["content"].startswith("[design.md › Atlas API › Authentication]")  # asked in other words
        assert first["metadata"]["document"]["source"] == str((docs / "design.md").resolve())


def tool_error(url: str, name: str, arguments: dict) -> str:
    """Call a tool over the streamable HTTP transport; the text of the error it must answer with."""
    import anyio
    from mcp.client.streamable_http import streamable_http_client

    async def go() -> str:
        async with httpx.AsyncClient(timeout=30) as http, \
                Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client:
            result = await client.call_tool(name, arguments)
            assert result.is_error, result.content
            return result.content[0].text

    return anyio.run(go)


def test_over_http_no_path_is_read_and_the_dashboard_takes_uploads_within_its_limits(tmp_path):
    http = HttpServer(server_env(tmp_path), free_port(), tmp_path)
    http.wait_ready()
    try:
        secret = tmp_path / "secret.md"
        secret.write_text("# Private\n\nThe vault combination is 12-34-56.\n", encoding="utf-8")
        refused = tool_error(http.url, "ingest_document", {"file_path": str(secret)})
        assert "Over HTTP no path on the server is read" in refused
        own = {"Origin": http.url}
        with httpx.Client(base_url=http.url, timeout=60) as client:
            guide = docx([("Heading1", "Setup"), (None, "Install the agent on every host.")])  # one file: same bytes
            added = client.post("/api/documents?name=../../etc/guide.docx&tags=ops", headers=own, content=guide)
            assert added.status_code == 201 and added.json()["status"] == "added", added.text
            assert added.json()["source"] == "upload:guide.docx"  # a name, never a path
            assert client.post("/api/documents?name=guide.docx", headers=own,
                               content=guide).json()["status"] == "unchanged"
            listed = client.get("/api/documents").json()["documents"]
            assert [(d["name"], d["pieces"]) for d in listed] == [("guide.docx", 1)]
            too_big = client.post("/api/documents?name=big.txt", headers=own, content=b"a" * (20 * 1024 * 1024 + 1))
            assert too_big.status_code == 413
            foreign = client.post("/api/documents?name=x.md", headers={"Origin": "https://evil.example"},
                                  content=b"# x\n\ny\n")
            assert foreign.status_code == 403
            hostile = client.post("/api/documents?name=b.docx", headers=own, content=docx_bomb())
            assert hostile.status_code == 400 and "refused" in hostile.json()["reason"]
            liar = client.post("/api/documents?name=l.docx", headers=own, content=docx_bomb(lying=True))
            assert liar.status_code == 400 and "Bad CRC-32" in liar.json()["reason"]
            deleted = client.delete(f"/api/documents/{listed[0]['hash']}", headers=own)
            assert deleted.json() == {"deleted": "guide.docx", "pieces": 1}
            assert client.get("/api/documents").json()["documents"] == []
        assert "12-34-56" not in json.dumps(pieces(tmp_path))
    finally:
        http.stop()


def test_a_revision_that_keeps_every_pieces_text_and_a_copy_under_another_name_stay_one_unit_each(tmp_path):
    """The pieces of a revision whose texts did not change now say they belong to it (the next run is
    "unchanged"); a file with the same text elsewhere shares the pieces, and deleting one leaves the other whole."""
    from server.backends import local_store
    from server.documents import ingest as documents
    from server.service import MemoryService
    from server.settings import settings_from_values

    settings = settings_from_values({"MCP_MEMORY_BASE_DIR": str(tmp_path / "data")})
    store = local_store(settings)
    store.open()
    try:
        service = MemoryService(store, settings.max_content_length)
        first = documents.ingest_bytes(service, DESIGN.encode(), "design.md", "/a/design.md")
        revised = DESIGN + "\n## Changelog\n"  # a heading without text: no piece's text changes
        assert documents.ingest_bytes(service, revised.encode(), "design.md", "/a/design.md").status == "replaced"
        again = documents.ingest_bytes(service, revised.encode(), "design.md", "/a/design.md")
        assert again.status == "unchanged" and sorted(again.hashes) == sorted(first.hashes)
        copy = documents.ingest_bytes(service, revised.encode(), "design.md", "/b/design.md")
        assert copy.status == "added" and copy.hashes == first.hashes  # the same text: the same pieces, shared
        assert documents.ingest_bytes(service, revised.encode(), "design.md", "/b/design.md").status == "unchanged"
        assert sorted((d.source, d.pieces) for d in documents.documents(service)) == [("/a/design.md", 2),
                                                                                      ("/b/design.md", 2)]
        documents.delete_document(service, "/a/design.md")
        assert [(d.source, d.pieces) for d in documents.documents(service)] == [("/b/design.md", 2)]
        assert all(store.get(h) is not None for h in copy.hashes)  # the copy keeps every piece
        documents.delete_document(service, "/b/design.md")
        assert all(store.get(h) is None for h in copy.hashes)
    finally:
        store.close()
