"""`python -m server export | import | backup | restore`: take memories out, bring them back, keep copies.

    python -m server export [--format jsonl|markdown] [--output FILE]   # stdout by default
    python -m server import FILE [--dry-run]                           # idempotent, with a progress bar
    python -m server backup [DIR] [--keep N]                           # online backup API, keeps the last N
    python -m server restore BACKUP                                    # the current database is backed up first
    python -m server dashboard                                         # starts the HTTP server if needed, opens it
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from server.errors import MemoryServerError, UsageError
from server.settings import Settings

COMMANDS = ("export", "import", "backup", "restore", "dashboard")


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m server", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    export = sub.add_parser("export", help="write every memory to JSON Lines (default) or Markdown")
    export.add_argument("--format", choices=("jsonl", "markdown"), default="jsonl")
    export.add_argument("--output", "-o", type=Path, help="file to write (default: standard output)")
    imported = sub.add_parser("import", help="bring memories back from an export file (idempotent)")
    imported.add_argument("file", type=Path)
    imported.add_argument("--dry-run", action="store_true", help="count what would be imported; write nothing")
    backup = sub.add_parser("backup", help="a consistent copy of the local database, even while servers run")
    backup.add_argument("folder", nargs="?", type=Path, help="where to keep backups (default: <data dir>/backups)")
    backup.add_argument("--keep", type=int, default=7, help="backups kept in that folder (default 7)")
    restore = sub.add_parser("restore", help="put a backup back (the current database is backed up first)")
    restore.add_argument("backup", type=Path)
    dashboard = sub.add_parser("dashboard", help="open the web dashboard (starting the HTTP server if needed)")
    dashboard.add_argument("--no-browser", action="store_true", help="print the address instead of opening it")
    return parser.parse_args(argv)


def run(argv: Sequence[str], settings: Settings) -> int:
    args = parse(argv)
    if args.command == "export":
        return _export(settings, args)
    if args.command == "import":
        return _import(settings, args)
    if args.command == "dashboard":
        return _dashboard(settings, args)
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
            sys.stdout.reconfigure(encoding="utf-8", newline="")  # type: ignore[attr-defined]  # any text, any OS
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


def _dashboard(settings: Settings, args: argparse.Namespace) -> int:
    """The dashboard lives in the HTTP server: use the one running, or start one that outlives this command."""
    import subprocess
    import time
    import webbrowser

    import httpx

    host = f"[{settings.http_host}]" if ":" in settings.http_host else settings.http_host
    url = f"http://{host}:{settings.http_port}"

    def running() -> bool:
        try:
            return httpx.get(f"{url}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    if not running():
        log = settings.database_path.parent / "http-server.log"
        log.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # the data folder is private, like the database
        with open(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab") as out:
            child = subprocess.Popen([sys.executable, "-I", "-m", "server", "--transport", "http"],
                                     stdout=subprocess.DEVNULL, stderr=out, stdin=subprocess.DEVNULL,
                                     start_new_session=True)  # its own session: it outlives this command
        deadline = time.monotonic() + 30
        while not running():
            if time.monotonic() > deadline:
                raise MemoryServerError(f"the HTTP server did not start within 30 s; see {log}")
            time.sleep(0.2)
        print(f"started the HTTP server, process {child.pid} (log: {log}); stop it with: kill {child.pid}",
              file=sys.stderr)
    print(url + "/")
    if not args.no_browser:
        webbrowser.open(url + "/")
    return 0


@contextlib.contextmanager
def _storage(settings: Settings, record: bool) -> Iterator[Any]:
    """The store to read or import into. With hybrid it is the local one, its changes queued in the sync
    outbox (`record`), which the running server sends: this command starts no sync of its own."""
    if settings.has_local_database:
        from server.embeddings.background import BackgroundEmbedder
        from server.storage.sqlite_vec import SqliteVecStorage

        storage: Any = SqliteVecStorage(settings.database_path, settings.sqlite_pragmas,
                                        BackgroundEmbedder(settings.embedding_engine, settings.embedding_model))
        storage.record_changes = record and settings.storage_backend == "hybrid"
    else:
        from server.backends import create_storage

        storage = create_storage(settings)
    storage.open()
    try:
        yield storage
    finally:
        storage.close()
