"""`python -m server export | import | backup | restore`: take memories out, bring them back, keep copies.

    python -m server export [--format jsonl|markdown] [--output FILE]   # stdout by default
    python -m server import FILE [--dry-run]                           # idempotent, with a progress bar
    python -m server backup [DIR] [--keep N]                           # online backup API, keeps the last N
    python -m server restore BACKUP                                    # the current database is backed up first
    python -m server dashboard [--no-browser]                          # opens it; serves it here if none runs
    python -m server ingest PATH... [--tags T] [--recursive] [--dry-run] # documents into memory (docs/documents.md)
    python -m server documents [--delete NAME_OR_HASH]                 # the ingested documents
"""

from __future__ import annotations

import argparse
import io
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from server.errors import UsageError
from server.settings import Settings

HELP = {
    "export": "write every memory to JSON Lines (default) or Markdown",
    "import": "bring memories back from an export file (idempotent)",
    "backup": "a consistent copy of the local database, even while servers run",
    "restore": "put a backup back (the current database is backed up first)",
    "dashboard": "open the web dashboard (serving it here until Ctrl-C when no HTTP server runs)",
    "ingest": "read documents (PDF, Markdown, text, HTML, .docx, JSON, CSV) into memory, a piece per memory",
    "documents": "list the ingested documents with their piece counts, or delete one (all its pieces)",
    "daemon": "the shared memory process the clients' shims start (MCP_MEMORY_DAEMON=on); not run by hand",
}
COMMANDS = tuple(HELP)


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m server", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    export = sub.add_parser("export", help=HELP["export"])
    export.add_argument("--format", choices=("jsonl", "markdown"), default="jsonl")
    export.add_argument("--output", "-o", type=Path, help="file to write (default: standard output)")
    imported = sub.add_parser("import", help=HELP["import"])
    imported.add_argument("file", type=Path)
    imported.add_argument("--dry-run", action="store_true", help="count what would be imported; write nothing")
    backup = sub.add_parser("backup", help=HELP["backup"])
    backup.add_argument("folder", nargs="?", type=Path, help="where to keep backups (default: <data dir>/backups)")
    backup.add_argument("--keep", type=int, default=7, help="backups kept in that folder (default 7)")
    restore = sub.add_parser("restore", help=HELP["restore"])
    restore.add_argument("backup", type=Path)
    dashboard = sub.add_parser("dashboard", help=HELP["dashboard"])
    dashboard.add_argument("--no-browser", action="store_true", help="print the address instead of opening it")
    ingest = sub.add_parser("ingest", help=HELP["ingest"])
    ingest.add_argument("paths", nargs="+", type=Path, help="files or folders")
    ingest.add_argument("--tags", default="", help="comma-separated tags for every piece")
    ingest.add_argument("--recursive", "-r", action="store_true", help="also the files of subfolders")
    ingest.add_argument("--dry-run", action="store_true", help="read and cut everything; store nothing")
    documents = sub.add_parser("documents", help=HELP["documents"])
    documents.add_argument("--delete", metavar="NAME_OR_HASH", help="delete this document: every piece of it")
    daemon = sub.add_parser("daemon", help=HELP["daemon"])
    daemon.add_argument("--socket", type=Path, required=True, help="the Unix socket to serve at")
    return parser.parse_args(argv)


def run(argv: Sequence[str], settings: Settings) -> int:
    args = parse(argv)
    if args.command == "export":
        return _export(settings, args)
    if args.command == "import":
        return _import(settings, args)
    if args.command == "dashboard":
        return _dashboard(settings, args)
    if args.command in ("ingest", "documents"):
        return _documents(settings, args)
    if args.command == "daemon":
        from server.cli import configure_logging
        from server.daemon import idle_seconds, serve_daemon

        configure_logging(settings.log_level)
        return serve_daemon(settings, args.socket, idle_seconds())
    from server import backup

    if not settings.has_local_database:
        raise UsageError("backup and restore copy the local database; the cloudflare backend has none "
                                "(use export, or D1's Time Travel)")
    if args.command == "backup":
        if args.keep < 1:
            raise UsageError("--keep must be at least 1")
        print(backup.backup(settings, args.folder, args.keep))
        return 0
    safety = backup.restore(settings, args.backup)
    print(f"restored {args.backup} into {settings.database_path}" + (f"; the previous database is in {safety}" if safety
                                                                   else ""), file=sys.stderr)
    return 0


def _export(settings: Settings, args: argparse.Namespace) -> int:
    from server import archive

    with _storage(settings, record=False) as storage:
        if args.output is None:
            if isinstance(sys.stdout, io.TextIOWrapper):  # any text, any OS (a test's capture is not a file)
                sys.stdout.reconfigure(encoding="utf-8", newline="")
            count = archive.write(storage, sys.stdout, args.format)
        else:
            partial = args.output.with_name(f".{args.output.name}.partial")
            # Private like the database (memories are personal), and no half-written export under the real name.
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
                count = archive.write(storage, out, args.format)
            partial.replace(args.output)
    print(f"exported {count} {'memory' if count == 1 else 'memories'}", file=sys.stderr)
    return 0


def _import(settings: Settings, args: argparse.Namespace) -> int:
    from server import archive
    from server.imports.run import import_candidates

    try:
        candidates = archive.read(args.file)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"cannot read {args.file}: {exc}") from exc
    with _storage(settings, record=True) as storage:
        report = import_candidates(storage, candidates, args.dry_run, content_limit=settings.max_content_length)
    for line in report.lines(args.dry_run):
        print(line, file=sys.stderr)
    return 1 if report.failed else 0


def _documents(settings: Settings, args: argparse.Namespace) -> int:
    from server.documents import ingest
    from server.service import MemoryService

    with _storage(settings, record=True) as storage:
        service = MemoryService(storage, settings.max_content_length)
        if args.command == "documents":
            if args.delete:
                gone = ingest.delete_document(service, args.delete)
                print(f"deleted {gone.name} ({gone.pieces} pieces, {gone.source})", file=sys.stderr)
                return 0
            for doc in ingest.documents(service):
                print(f"{doc.hash[:12]}  {doc.pieces:5d} pieces  {doc.ingested[:16]}  {doc.name}  ({doc.source})")
            return 0
        return _ingest(service, args)


def _ingest(service: Any, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from server.documents import ingest

    paths, skipped = ingest.files(args.paths, args.recursive)
    tags = [t for t in args.tags.split(",") if t.strip()]
    reports = []
    with tqdm(paths, unit="file", desc="Reading and storing", file=sys.stderr, disable=not paths,
              dynamic_ncols=True) as progress:
        for path in progress:
            progress.set_postfix_str(path.name[-30:], refresh=False)
            reports.append(ingest.ingest_file(service, path, tags, args.dry_run))
    for report in reports:
        reason = f": {report.reason.removeprefix(f'{report.name}: ')}" if report.reason else ""
        pieces = "" if report.status == "failed" else f" ({report.pieces} piece{'' if report.pieces == 1 else 's'})"
        print(f"  {report.status:13s} {report.source}{pieces}{reason}", file=sys.stderr)
    for line in skipped:
        print(f"  {'skipped':13s} {line}", file=sys.stderr)
    counts: dict[str, int] = {}
    for report in reports:
        counts[report.status] = counts.get(report.status, 0) + 1
    stored = sum(r.pieces for r in reports if r.status in ("added", "replaced"))
    said = ", ".join(f"{n} {status}" for status, n in counts.items()) or "nothing to read"
    print(f"{len(reports)} file(s): {said}; {stored} piece{'' if stored == 1 else 's'} stored" + (f"; {len(skipped)} skipped" if skipped else "")
          + (" (dry run: nothing was stored)" if args.dry_run else ""), file=sys.stderr)
    return 1 if counts.get("failed") or skipped else 0


def _dashboard(settings: Settings, args: argparse.Namespace) -> int:
    """The dashboard lives in the HTTP server: open the one running, or serve one here, in the foreground,
    until Ctrl-C (a server started in the background would outlive the command, unnoticed)."""
    import threading
    import time
    import webbrowser

    import httpx

    from server.http_server import base_url

    url = _daemon_url() or base_url(settings.http_host, settings.http_port)

    def running() -> bool:
        try:
            return httpx.get(f"{url}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def open_when_up() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if running():
                if not args.no_browser:
                    webbrowser.open(url + "/")
                return
            time.sleep(0.2)

    if running():
        print(url + "/")
        if not args.no_browser:
            webbrowser.open(url + "/")
        return 0
    from server.http_server import serve_http
    from server.storage.local.identify import require_ours

    if settings.has_local_database:
        require_ours(settings.database_path)
    print(url + "/", flush=True)
    print(f"Serving the dashboard at {url}/ (and MCP at {url}/mcp) until Ctrl-C.", file=sys.stderr, flush=True)
    threading.Thread(target=open_when_up, name="open-browser", daemon=True).start()
    return serve_http(settings)


def _daemon_url() -> str | None:
    """The HTTP server of the shared daemon for these settings, when one runs with MCP_HTTP_ENABLED."""
    from server import shim

    try:
        path = shim.endpoint()
    except (shim.NoDaemon, OSError):
        return None
    return next((said.http for found, said in shim.running_daemons() if found == path and said.http), None)


@contextlib.contextmanager
def _storage(settings: Settings, record: bool) -> Iterator[Any]:
    """The store to read or import into. With hybrid it is the local one, its changes queued in the sync
    outbox (`record`), which the running server sends: this command starts no sync of its own."""
    from server.backends import create_storage, local_store

    if settings.has_local_database:
        storage: Any = local_store(settings, outbox=record and settings.storage_backend == "hybrid")
    else:
        storage = create_storage(settings)
    storage.open()
    try:
        yield storage
    finally:
        storage.close()
