"""`python -m server` / `mcp-memory-server`: start the memory server on stdio or HTTP."""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import socket
import sys
from collections.abc import Sequence
from dataclasses import replace

from server.errors import MemoryServerError, PortInUseError, exit_code
from server.commands import COMMANDS
from server.settings import Settings, load_settings
from server.storage.identify import require_ours

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


def serve_http(settings: Settings) -> int:
    """Serve MCP at /mcp, the dashboard at / and /health, until Ctrl-C or SIGTERM (exit 0)."""
    from server.http_stop import EarlyStop, StoppableServer

    early = EarlyStop()  # from here on, Ctrl-C stops cleanly (server/http_stop.py)
    import uvicorn

    from server.app import build_server
    from server.http import RedactQuery, build_http_app, check_exposure
    from server.slow_clients import LIMIT_CONCURRENCY, GuardedH11Protocol, OncePerMinute, raise_open_file_limit

    check_exposure(settings.http_host, settings.api_key)
    sock = bind_port(settings.http_host, settings.http_port)  # before "Serving": a busy port is one line
    server, state = build_server(settings)
    app = build_http_app(server, state)
    host = f"[{settings.http_host}]" if ":" in settings.http_host else settings.http_host
    logger.info("Serving MCP at http://%s:%d/mcp (health: /health); Ctrl-C stops", host, settings.http_port)
    logging.getLogger("uvicorn.access").addFilter(RedactQuery())
    for name in ("asyncio", "uvicorn.error"):  # a flood of refused connections must not fill the log
        logging.getLogger(name).addFilter(OncePerMinute())
    GuardedH11Protocol.max_connections = raise_open_file_limit()
    GuardedH11Protocol.header_timeout = settings.http_header_timeout
    # log_config=None: uvicorn's own configuration sends its access log to stdout; ours sends every log to stderr.
    config = uvicorn.Config(app, host=settings.http_host, port=settings.http_port, http=GuardedH11Protocol,
                            limit_concurrency=LIMIT_CONCURRENCY, timeout_keep_alive=5, log_config=None,
                            log_level=settings.log_level.lower(), lifespan="on")
    StoppableServer(config, early).run(sockets=[sock])
    early.done()
    print("Server stopped.", file=sys.stderr, flush=True)  # a requested stop: exit 0
    return 0


def bind_port(host: str, port: int) -> socket.socket:
    """The listening socket, held before the server announces itself."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, not 0: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say TCP, and with
    # Nagle on, every request after the first on a kept-alive connection waited 40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    if os.name != "nt":  # lets a restart reuse a port in TIME_WAIT; Windows' flag means something riskier
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(f"port {port} on {host} is already in use (another program, or another "
                                 "mcp-memory server); choose another with --port or MCP_HTTP_PORT") from exc
        raise PortInUseError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock
