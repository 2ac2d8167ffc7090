"""The dashboard's documents: upload one (its bytes, never a path on the server), list them, delete one.
Behind the dashboard's own checks (Host, Origin, the key or its session) like every other route; an upload
is size-limited while it arrives, and read, cut and stored exactly as `python -m server ingest` does."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

MAX_UPLOAD_BYTES = 20 * 1024 * 1024


def add_document_routes(route: Any, state: Any, call: Any) -> None:
    from server.documents import ingest

    @route("/api/documents", ["GET", "POST"])
    async def documents(request: Request) -> Response:
        service = state.service()
        if request.method == "GET":
            found = await call(ingest.documents, service)
            return JSONResponse({"documents": [{"name": d.name, "source": d.source, "hash": d.hash,
                                                "pieces": d.pieces, "ingested": d.ingested} for d in found]})
        name = PurePath(request.query_params.get("name", "").replace("\\", "/")).name[:200]
        if not name:
            return JSONResponse({"error": "name the file: ?name=notes.pdf"}, status_code=400)
        data = await _body(request, MAX_UPLOAD_BYTES)
        if data is None:
            return JSONResponse({"error": f"the file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB; "
                                          "ingest it on that machine with `python -m server ingest PATH`"},
                                status_code=413)
        tags = [t for t in request.query_params.get("tags", "").split(",") if t.strip()]
        report = await call(ingest.ingest_bytes, service, data, name, f"upload:{name}", tags)
        status = 400 if report.status == "failed" else 201 if report.status in ("added", "replaced") else 200
        return JSONResponse(ingest.as_dict(report), status_code=status)

    @route("/api/documents/{hash}", ["DELETE"])
    async def delete(request: Request) -> Response:
        gone = await call(ingest.delete_document, state.service(), request.path_params["hash"])
        return JSONResponse({"deleted": gone.name, "pieces": gone.pieces})


async def _body(request: Request, limit: int) -> bytes | None:
    """The request's body, or None as soon as it is longer than `limit` (nothing more is read)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
