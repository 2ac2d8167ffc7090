"""The web dashboard: served at `/` by the HTTP server itself (the same process as /mcp), offline (every
file ships in this package), under the same rules as /mcp.

Security, in one place (`Guard`):
- Host: on a loopback bind only this machine's names with the bound port (a DNS-rebound name is refused,
  so a page on another site cannot read memories through a rebound host name);
- Origin: a request that changes anything must come from the dashboard's own origin (a form or fetch
  from another site gets 403), and reads with a foreign Origin are refused too;
- the key: with MCP_API_KEY the page asks for it once and keeps a session in an HttpOnly, SameSite=Strict
  cookie; the API answers nothing without the key or that session (BearerAuth checks both);
- a Content-Security-Policy without inline script, and no file from anywhere else.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import secrets
import time
from pathlib import Path
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from server.errors import MemoryServerError

logger = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
FILES = {"app.js": "text/javascript", "app.css": "text/css"}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
SESSION_COOKIE = "mcp_memory_session"
PAGE_SIZE = 20


def session_token(api_key: str, secret: bytes) -> str:
    """The session cookie's value: derived from the key and a secret made at start (a restart logs out)."""
    return hmac.new(secret, api_key.encode(), hashlib.sha256).hexdigest()


class Guard:
    def __init__(self, allowed_hosts: list[str] | None, allowed_origins: list[str] | None) -> None:
        self.hosts = set(allowed_hosts) if allowed_hosts is not None else None  # None: keyed, off loopback
        self.origins = set(allowed_origins or ())

    def refusal(self, request: Request) -> Response | None:
        host = request.headers.get("host", "")
        if self.hosts is not None and host not in self.hosts:
            return JSONResponse({"error": "this host name is not allowed"}, status_code=421)
        origin = request.headers.get("origin")
        own = f"{request.url.scheme}://{host}"
        if origin is not None and origin != own and origin not in self.origins:
            return JSONResponse({"error": "cross-origin request refused"}, status_code=403)
        if request.method not in ("GET", "HEAD") and origin is None and \
                request.headers.get("sec-fetch-site") not in ("same-origin", None):
            return JSONResponse({"error": "cross-site request refused"}, status_code=403)
        return None


def add_dashboard(server: Any, state: Any, guard: Guard, secret: bytes) -> None:
    throttle = LoginThrottle()
    def route(path: str, methods: list[str]) -> Any:
        def wrap(handler: Any) -> Any:
            async def guarded(request: Request) -> Response:
                refused = guard.refusal(request)
                if refused is not None:
                    return refused
                try:
                    response = await handler(request)
                except (MemoryServerError, BadRequest) as exc:
                    response = JSONResponse({"error": str(exc)}, status_code=400)
                except Exception:  # a bug of ours: said in one line to the page, the traceback once to the log
                    logger.exception("The dashboard's %s %s failed", request.method, request.url.path)
                    response = JSONResponse({"error": "the server failed to answer this request; its log says why"},
                                            status_code=500)
                response.headers["Content-Security-Policy"] = CSP
                response.headers["X-Content-Type-Options"] = "nosniff"
                response.headers["Referrer-Policy"] = "no-referrer"
                return response

            server.custom_route(path, methods=methods)(guarded)
            return guarded
        return wrap

    async def call(function: Any, *args: Any) -> Any:
        return await anyio.to_thread.run_sync(lambda: function(*args))

    @route("/", ["GET"])
    async def index(_: Request) -> Response:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @route("/static/{name}", ["GET"])
    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in FILES:
            return JSONResponse({"error": "not found"}, status_code=404)
        return FileResponse(STATIC / name, media_type=FILES[name])

    @route("/login", ["POST"])
    async def login(request: Request) -> Response:
        key = state.settings.api_key
        wait = throttle.wait()
        if wait:
            return JSONResponse({"error": f"too many wrong keys; try again in {wait} s"}, status_code=429,
                                headers={"Retry-After": str(wait)})
        supplied = (await _json_object(request)).get("key", "") if key else ""
        if key and not hmac.compare_digest(str(supplied).encode(), key.encode()):
            throttle.failed()
            return JSONResponse({"error": "wrong key"}, status_code=401)
        throttle.failures = 0
        response = JSONResponse({"ok": True})
        if key:
            response.set_cookie(SESSION_COOKIE, session_token(key, secret), httponly=True, samesite="strict",
                                path="/")
        return response

    @route("/api/memories", ["GET"])
    async def listing(request: Request) -> Response:
        q = request.query_params
        service = state.service()
        page = _number(q.get("page", "1") or "1", "page")
        tags = [t for t in q.get("tags", "").split(",") if t.strip()] or None
        query = q.get("q", "").strip()
        if query:
            hits = await call(service.search, query, PAGE_SIZE, tags, q.get("tag_match", "any"),
                              q.get("time") or None, None, None, q.get("mode", "hybrid"), q.get("type") or None)
            return JSONResponse({"results": [_memory(h.memory, h.similarity, h.why) for h in hits], "total": len(hits),
                                 "page": 1, "pages": 1})
        where = await call(service.filter, tags, q.get("tag_match", "any"), q.get("time") or None, None, None,
                           q.get("type") or None)
        found, total = await call(service.page, where, page, PAGE_SIZE)
        return JSONResponse({"results": [_memory(m) for m in found], "total": total, "page": page,
                             "pages": max(1, -(-total // PAGE_SIZE))})

    @route("/api/memories/{hash}", ["GET", "PATCH", "DELETE"])
    async def one(request: Request) -> Response:
        service, hash_ = state.service(), request.path_params["hash"]
        if request.method == "DELETE":
            await call(service.delete, hash_)
            return JSONResponse({"deleted": hash_})
        if request.method == "PATCH":
            change = await _json_object(request)
            memory = await call(service.update_metadata, hash_, change.get("tags"), change.get("memory_type"),
                                change.get("metadata"))
            return JSONResponse(_memory(memory))
        return JSONResponse(_memory(await call(service.get, hash_)))

    @route("/api/graph", ["GET"])
    async def graph(_: Request) -> Response:
        return JSONResponse(await call(state.service().graph_picture))

    @route("/api/stats", ["GET"])
    async def figures(_: Request) -> Response:
        return JSONResponse(await call(state.service().stats))

    @route("/api/sync", ["GET"])
    async def sync(_: Request) -> Response:
        if state.settings.storage_backend != "hybrid":
            return JSONResponse({"backend": state.settings.storage_backend, "sync": None})
        report = await call(state.service().sync_status)
        return JSONResponse(report.model_dump(mode="json"))

    @route("/api/sync/retry", ["POST"])
    async def retry(_: Request) -> Response:
        return JSONResponse((await call(state.service().force_sync)).model_dump(mode="json"))

    @route("/api/delete-by-tag", ["POST"])
    async def delete_by_tag(request: Request) -> Response:
        body = await _json_object(request)
        service = state.service()
        where = await call(service.filter, body.get("tags") or None, "all" if body.get("match_all") else "any")
        hashes = await call(service.delete_where, where, bool(body.get("dry_run", True)))
        preview = [_memory(await call(service.get, h)) for h in list(hashes)[:5]] if body.get("dry_run", True) else []
        return JSONResponse({"count": len(hashes), "dry_run": bool(body.get("dry_run", True)), "preview": preview})

    @route("/api/export", ["GET"])
    async def export(request: Request) -> Response:
        from server import archive

        fmt = request.query_params.get("format", "jsonl")
        if fmt not in archive.FORMATS:
            return JSONResponse({"error": f"format must be one of {', '.join(archive.FORMATS)}"}, status_code=400)
        out = io.StringIO()
        await call(archive.write, state.storage, out, fmt)
        name = f"memories.{'jsonl' if fmt == 'jsonl' else 'md'}"
        return Response(out.getvalue(), media_type="application/x-ndjson" if fmt == "jsonl" else "text/markdown",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @route("/api/backup", ["POST"])
    async def make_backup(_: Request) -> Response:
        from server import backup

        if not state.settings.has_local_database:
            return JSONResponse({"error": "the cloudflare backend has no local database: use export"}, status_code=400)
        return JSONResponse({"path": str(await call(backup.backup, state.settings))})

    @route("/api/health", ["GET"])
    async def health(_: Request) -> Response:
        return JSONResponse((await call(state.service().health)).as_json())


class BadRequest(Exception):
    """A request the API cannot read (not JSON, not an object, a page that is no number): answered 400."""


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"the request body is not JSON ({str(exc)[:80]})") from None
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


def _number(text: str, name: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number; got {text[:20]!r}") from None
    if value < 1:
        raise BadRequest(f"{name} starts at 1; got {value}")
    return value


class LoginThrottle:
    """Wrong keys: after FREE of them, each further try waits twice as long as the last (up to LONGEST
    seconds); a right key is still checked only when no wait is due. Guessing a 32-character key stays out of
    reach, and a person who mistyped waits seconds at most."""

    FREE, LONGEST = 5, 60

    def __init__(self) -> None:
        self.failures, self.until = 0, 0.0

    def wait(self) -> int:
        return max(0, int(self.until - time.monotonic() + 0.999))

    def failed(self) -> None:
        self.failures += 1
        if self.failures > self.FREE:
            self.until = time.monotonic() + min(self.LONGEST, 2 ** (self.failures - self.FREE - 1))


def _memory(memory: Any, score: float | None = None, why: Any = None) -> dict[str, Any]:
    out = {"content_hash": memory.content_hash, "content": memory.content, "tags": list(memory.tags),
           "memory_type": memory.memory_type, "metadata": dict(memory.metadata),
           "created_at": memory.created_at_iso, "updated_at": memory.updated_at_iso}
    if score is not None:
        out["score"] = score
    if why is not None:
        from server.schemas import WhyOut

        out["why"] = WhyOut.of(why).model_dump()
    return out


def new_secret() -> bytes:
    return secrets.token_bytes(32)
