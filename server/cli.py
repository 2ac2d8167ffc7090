"""`python -m server` / `mcp-memory-server`: start the memory server on stdio or HTTP."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import replace

from server.errors import MemoryServerError, exit_code
from server.commands import COMMANDS
from server.settings import Settings, load_settings
from server.storage.local.identify import require_ours

logger = logging.getLogger("server")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    from server.commands import HELP

    commands = "\n".join(f"  {name:<10} {text}" for name, text in HELP.items())
    parser = argparse.ArgumentParser(
        prog="python -m server", description="Long-term semantic memory over MCP: without a command, serve it.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"commands (python -m server COMMAND --help says more):\n{commands}")
    parser.add_argument("--transport", choices=("stdio", "http"), default="stdio",
                        help="stdio for Claude Desktop / Claude Code (default); http for streamable HTTP at /mcp")
    parser.add_argument("--host", help="HTTP bind address (default: MCP_HTTP_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="HTTP port (default: MCP_HTTP_PORT or 8000)")
    return parser.parse_args(argv)


def configure_logging(level: str) -> None:
    # stderr only: in stdio mode stdout carries the MCP protocol and nothing else.
    logging.basicConfig(stream=sys.stderr, level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        force=True)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in COMMANDS:  # export, import, backup, restore: a command, then exit
        return _command(argv)
    args = parse_args(argv)
    try:
        settings = replace(load_settings(os.environ), transport=args.transport)
        if args.host:
            settings = replace(settings, http_host=args.host)
        if args.port is not None:
            settings = replace(settings, http_port=args.port)
        configure_logging(settings.log_level)
        if settings.has_local_database:
            # Before the server starts: a refusal is one line here, not a traceback out of the lifespan.
            require_ours(settings.database_path)
        if args.transport == "http":
            from server.http_server import serve_http

            return serve_http(settings)
        _run_stdio(settings)
        return 0
    except MemoryServerError as exc:
        print(f"mcp-memory-server: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before BaseException, which would catch it too
        return 130
    except BaseException as exc:  # a failure inside the server's task groups: show its cause in one line
        cause = _our_error(exc)
        if cause is None:
            raise
        print(f"mcp-memory-server: {cause}", file=sys.stderr)
        return 2


def _command(argv: list[str]) -> int:
    from server.commands import run

    try:
        settings = load_settings(os.environ)
        configure_logging("WARNING")
        return run(argv, settings)
    except MemoryServerError as exc:
        print(f"mcp-memory-server: {exc}", file=sys.stderr)
        return exit_code(exc)
    except KeyboardInterrupt:
        print("Interrupted: what was done so far is kept; run the command again to finish.", file=sys.stderr)
        return 130


def _our_error(exc: BaseException) -> MemoryServerError | None:
    """Our error inside (nested) exception groups, e.g. a storage that cannot open in the lifespan."""
    if isinstance(exc, MemoryServerError):
        return exc
    for inner in getattr(exc, "exceptions", ()):
        found = _our_error(inner)
        if found is not None:
            return found
    return _our_error(exc.__cause__) if exc.__cause__ is not None else None


def _run_stdio(settings: Settings) -> None:
    from server.app import build_server

    import anyio

    from server.stdio import serve_stdio

    server, _ = build_server(settings)
    anyio.run(serve_stdio, server)
