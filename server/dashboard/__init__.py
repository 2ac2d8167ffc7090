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

import dataclasses
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

from server.errors import MemoryServerError, NotFoundError
from server.record import SYSTEM_TYPES

logger = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
FILES = {"app.js": "text/javascript", "words.js": "text/javascript", "graph.js": "text/javascript",
         "documents.js": "text/javascript",
         "app.css": "text/css"}
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
    moved = Moved()
    def route(path: str, methods: list[str]) -> Any:
        def wrap(handler: Any) -> Any:
            async def guarded(request: Request) -> Response:
                refused = guard.refusal(request)
                if refused is not None:
                    return refused
                try:
                    response = await handler(request)
                except NotFoundError as exc:  # gone (deleted, perhaps by another client): the page says so
                    response = JSONResponse({"error": str(exc)}, status_code=404)
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

    @route("/api/memories", ["GET", "POST"])
    async def listing(request: Request) -> Response:
        service = state.service()
        if request.method == "POST":  # a memory added in the page, checked as the tools check it
            body = await _json_object(request)
            memory, created = await call(service.store, body.get("content"), body.get("tags"),
                                         body.get("memory_type") or None, body.get("metadata"))
            return JSONResponse({**_memory(memory), "created": created}, status_code=201 if created else 200)
        q = request.query_params
        page = _number(q.get("page", "1") or "1", "page")
        tags = [t for t in q.get("tags", "").split(",") if t.strip()] or None
        where = await call(service.filter, tags, q.get("tag_match", "any"), q.get("time") or None, None,
                           q.get("before") or None, q.get("type") or None)
        if q.get("system") != "1" and where.memory_type not in SYSTEM_TYPES:  # the user's own, unless asked
            where = dataclasses.replace(where, exclude_types=SYSTEM_TYPES)
        query = q.get("q", "").strip()
        if query:
            hits = await call(lambda: service.search(query, PAGE_SIZE, mode=q.get("mode", "hybrid"), where=where))
            return JSONResponse({"results": [_memory(h.memory, h.similarity, h.why) for h in hits], "total": len(hits),
                                 "page": 1, "pages": 1})
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
            if not {"content", "tags", "memory_type", "metadata"} & set(change):
                raise BadRequest("give content, tags, memory_type or metadata to change")
            memory = None
            if "content" in change:  # new text: a new memory, the old hash answers where it went
                memory = await call(service.replace_content, hash_, change["content"])
                if memory.content_hash != hash_:
                    moved.add(hash_, memory.content_hash)
                hash_ = memory.content_hash
                change.pop("content")
            if {"tags", "memory_type", "metadata"} & set(change):
                memory = await call(service.update_metadata, hash_, change.get("tags"), change.get("memory_type"),
                                    change.get("metadata"))
            assert memory is not None
            return JSONResponse(_memory(memory))
        try:
            return JSONResponse(_memory(await call(service.get, hash_)))
        except NotFoundError:
            to = moved.get(hash_)  # its text was edited here: say where it went
            if to is None:
                raise
            return JSONResponse({"error": f"This memory's text was edited: it is now memory {to[:12]}…",
                                 "moved_to": to}, status_code=404)

    @route("/api/graph", ["GET"])
    async def graph(request: Request) -> Response:
        limit = _number(request.query_params.get("limit", "300") or "300", "limit")
        return JSONResponse(await call(state.service().graph_picture, limit))

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

    from server.dashboard.documents import add_document_routes

    add_document_routes(route, state, call)

    @route("/api/health", ["GET"])
    async def health(_: Request) -> Response:
        return JSONResponse((await call(state.service().health)).as_json())


class Moved:
    """Memories whose text was edited in the page: old hash -> new, for an hour, so a page or a link that still
    holds the old hash is told where the memory went rather than that it is gone."""

    KEEP, MOST = 3600.0, 1000

    def __init__(self) -> None:
        self._to: dict[str, tuple[str, float]] = {}

    def add(self, old: str, new: str) -> None:
        now = time.monotonic()
        self._to = {k: v for k, v in self._to.items() if now - v[1] < self.KEEP}
        if len(self._to) >= self.MOST:
            self._to.pop(next(iter(self._to)))
        self._to[old] = (new, now)

    def get(self, old: str) -> str | None:
        """Where the memory is now (after every later edit too), or None."""
        now, where = time.monotonic(), None
        for _ in range(10):  # edited again and again: follow it (bounded)
            found = self._to.get(where or old)
            if found is None or now - found[1] >= self.KEEP:
                break
            where = found[0]
        return where


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
