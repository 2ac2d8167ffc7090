"""The ingest tool: `memory_ingest` in the unified profile (mcp-memory-service's name), `ingest_document` in the
classic one. It reads files on this machine, so it answers only over stdio (a client that started the server
here, or through the shared daemon's socket): over HTTP no tool ever reads a path on the server, and the
dashboard's upload takes the bytes instead."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult
from pydantic import BaseModel, Field

from server.answers import ADDITIVE, Runner, answer
from server.documents.pieces import OVERLAP, PIECE_CHARS
from server.service import MemoryService

MAX_FILES = 1000  # per call


class IngestedOut(BaseModel):
    name: str
    source: str
    status: str  # added | replaced | unchanged | failed | would add | would replace
    pieces: int
    hash: str
    reason: str


class IngestOut(BaseModel):
    documents: list[IngestedOut]
    stored: int  # pieces stored by this call
    skipped: list[str]


def register_ingest(server: MCPServer[Any], get_service: Callable[[], MemoryService], run: Runner, name: str) -> None:
    @server.tool(name=name, annotations=ADDITIVE)
    async def ingest(
        ctx: Context,
        file_path: Annotated[str | None, Field(description="A file on this machine: PDF, Markdown, text, HTML, "
                                                           ".docx, JSON or CSV.")] = None,
        directory_path: Annotated[str | None, Field(description="A folder: its files of those formats.")] = None,
        tags: Annotated[list[str] | str | None, Field(description="Tags for every piece (list or comma-separated).")] = None,
        recursive: Annotated[bool, Field(description="With directory_path: its subfolders too.")] = False,
        chunk_size: Annotated[int, Field(description="Characters per piece (200-4000).")] = PIECE_CHARS,
        chunk_overlap: Annotated[int, Field(description="Characters a piece repeats from the one before "
                                                        "(0 to half of chunk_size).")] = OVERLAP,
        dry_run: Annotated[bool, Field(description="Read and cut; store nothing.")] = False,
    ) -> Annotated[CallToolResult, IngestOut]:
        """Read documents into memory, a piece per memory, each carrying its source (file, page, heading trail).
        The same file again adds nothing; a changed file replaces its pieces."""
        from server.documents import ingest as documents

        if getattr(ctx.request_context, "request", None) is not None:
            raise ToolError("Over HTTP no path on the server is read: upload the file in the dashboard "
                            "(Documents), or run `python -m server ingest PATH` on that machine.")
        if not file_path and not directory_path:
            raise ToolError("Give file_path or directory_path.")
        if not 200 <= chunk_size <= 4000 or not 0 <= chunk_overlap <= chunk_size // 2:
            raise ToolError("chunk_size must be 200-4000 and chunk_overlap 0 to half of it.")
        targets = [Path(p).expanduser() for p in (file_path, directory_path) if p]
        paths, skipped = documents.files(targets, recursive)
        if len(paths) > MAX_FILES:
            raise ToolError(f"{len(paths)} files; at most {MAX_FILES} per call (ingest subfolders one by one, or "
                            "run `python -m server ingest` for a large tree).")
        extra = [t for t in tags.split(",")] if isinstance(tags, str) else list(tags or [])
        service = get_service()
        reports = [await run(documents.ingest_file, service, path, extra, dry_run, chunk_size, chunk_overlap)
                   for path in paths]
        out = IngestOut(documents=[IngestedOut(**documents.as_dict(r)) for r in reports], skipped=skipped,
                        stored=sum(r.pieces for r in reports if r.status in ("added", "replaced")))
        lines = [f"{r.status}: {r.source} ({r.pieces} pieces)" + (f" - {r.reason}" if r.reason else "")
                 for r in reports] + [f"skipped: {line}" for line in skipped]
        return answer(out, f"Ingested {len(reports)} file(s), {out.stored} pieces stored" +
                      (" (dry run: nothing stored)" if dry_run else "") + ("\n" + "\n".join(lines) if lines else ""))
