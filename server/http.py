"""The HTTP transport: MCP streamable HTTP at /mcp, GET /health, and bearer-token auth.

Binding anything but a loopback address exposes every memory to the network, so it needs MCP_API_KEY;
with a key set, every request except /health must carry `Authorization: Bearer <key>`.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from server import __version__
from server.app import AppState
from server.errors import SettingsError


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def transport_security(host: str, port: int, extra_hosts: tuple[str, ...] = (),
                       extra_origins: tuple[str, ...] = ()) -> TransportSecuritySettings | None:
    """Host and Origin checks (DNS rebinding) for every spelling of a loopback bind, not only the SDK's three.

    Allowed: this machine's loopback names with the bound port (and without it on port 80, which clients
    omit), plus MCP_ALLOWED_HOSTS / MCP_ALLOWED_ORIGINS for a reverse proxy. A page whose host name was
    rebound to 127.0.0.1 sends its own name as Host, and is refused."""
    if not is_loopback(host) and not extra_hosts:
        return None  # a keyed, non-loopback bind: the key guards it (the proxy's names can be listed)
    names = {"127.0.0.1", "localhost", "[::1]", _host_form(host)} if is_loopback(host) else set()
    hosts = {f"{n}:{port}" for n in names} | ({*names} if port == 80 else set())
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=sorted(hosts | set(extra_hosts)),
        allowed_origins=sorted({f"http://{h}" for h in hosts} | set(extra_origins)),
    )


def _host_form(host: str) -> str:
    """How a client writes the bound address in a Host header: lower case, IPv6 compressed in brackets."""
    bare = host.strip("[]").lower()
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        return bare
    return f"[{address.compressed}]" if address.version == 6 else address.compressed


class RedactQuery(logging.Filter):
    """Access-log lines without query strings: a key sent as `?api_key=...` must never reach a log."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0] + "?<redacted>", *args[3:])
        return True


def check_exposure(host: str, api_key: str | None) -> None:
    if not is_loopback(host) and not api_key:
        raise SettingsError(
            "MCP_HTTP_HOST",
            host,
            "binding a non-loopback address exposes your memories to the network; set MCP_API_KEY "
            "(clients send it as 'Authorization: Bearer <key>') or bind 127.0.0.1",
        )


# Without the key: /health, and the dashboard's page, its files and its key prompt (the API is not open).
OPEN_PATHS = ("/health", "/", "/login")
OPEN_PREFIXES = ("/static/",)


class BearerAuth:
    """Pure ASGI middleware, so streamed MCP responses pass through untouched. The dashboard's API also
    takes its session cookie (set by /login after the key was typed); /mcp takes only the key."""

    def __init__(self, app: ASGIApp, api_key: str, session: str | None = None) -> None:
        self.app = app
        self.expected = api_key.encode()
        self.session = session.encode() if session else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path not in OPEN_PATHS and not path.startswith(OPEN_PREFIXES):
            headers = dict(scope.get("headers", []))
            supplied = headers.get(b"authorization", b"")
            scheme, _, credentials = supplied.strip().partition(b" ")
            # RFC 7235: the scheme name is case-insensitive ("bearer", "BEARER" are the same scheme).
            valid = scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), self.expected)
            if not valid and self.session and path.startswith("/api/"):
                valid = hmac.compare_digest(_cookie(headers.get(b"cookie", b""), b"mcp_memory_session"), self.session)
            if not valid:
                response = JSONResponse(
                    {"error": "unauthorized", "hint": "send the API key as 'Authorization: Bearer <MCP_API_KEY>'"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def build_http_app(server: MCPServer[Any], state: AppState) -> ASGIApp:
    @server.custom_route("/health", methods=["GET"])
    async def health(_: Request) -> JSONResponse:
        ready = state.storage is not None
        body: dict[str, Any] = {"status": "ok" if ready else "starting"}
        if is_loopback(state.settings.http_host):  # off loopback, /health answers without a key: say no more
            body.update(version=__version__, backend=state.settings.storage_backend)
        return JSONResponse(body, status_code=200 if ready else 503)

    settings = state.settings
    security = transport_security(settings.http_host, settings.http_port, settings.allowed_hosts,
                                  settings.allowed_origins)
    from server.dashboard import Guard, add_dashboard, new_secret, session_token

    secret = new_secret()
    add_dashboard(server, state, Guard(security.allowed_hosts if security else None,
                                       security.allowed_origins if security else None), secret)
    app: ASGIApp = server.streamable_http_app(host=settings.http_host, transport_security=security)
    if state.settings.api_key:
        app = BearerAuth(app, state.settings.api_key, session_token(state.settings.api_key, secret))
    return app


def _cookie(header: bytes, name: bytes) -> bytes:
    for part in header.split(b";"):
        key, _, value = part.strip().partition(b"=")
        if key == name:
            return value
    return b""
