"""The unified profile's mistake-note tools (mcp-memory-service's `mistake_note_*`): record a mistake and
its fix, look them up before a task, correct or remove one. The answers are its JSON; a refusal is a tool
error whose text is its `{"status": "error", "message": ...}`."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, Field

from server.service import MemoryService
from server.answers import ADDITIVE, CHANGES, READ_ONLY, Runner, answer
from server.unified import mistakes
from server.unified.schemas import MistakeFoundOut, MistakeNoteOut, MistakeSearchOut


class Refused(Exception):
    """A mistake-note call refused: answered as a tool error whose text is the JSON error shape."""


def _json_errors(tool: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(tool)
    async def answer(*args: Any, **kwargs: Any) -> CallToolResult:
        try:
            return await tool(*args, **kwargs)
        except Refused as exc:
            text = json.dumps({"status": "error", "message": str(exc)}, ensure_ascii=False)
            return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)
    return answer


def register_mistake_notes(server: MCPServer[Any], get_service: Callable[[], MemoryService], run: Runner) -> None:
    async def attempt(fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return await run(fn, get_service(), *args)
        except ToolError as exc:
            raise Refused(str(exc)) from exc

    @server.tool(annotations=ADDITIVE)
    @_json_errors
    async def mistake_note_add(
        error_pattern: Annotated[str, Field(description="What went wrong, as it shows (an error, a symptom).")],
        context_signature: Annotated[str, Field(description="Where it happens (a tool, a file, a kind of task).")],
        incorrect_action: Annotated[str, Field(description="What was done that caused it.")],
        correct_action: Annotated[str, Field(description="What to do instead.")],
    ) -> Annotated[CallToolResult, MistakeNoteOut]:
        """Record a mistake and its fix, to look up before a similar task. The same pattern in the same context
        again counts up its failure_count instead of adding a second note."""
        done = await attempt(mistakes.record, {"error_pattern": error_pattern, "context_signature": context_signature,
                                               "incorrect_action": incorrect_action, "correct_action": correct_action})
        memory = done.memory
        message = ("New mistake note recorded" if done.created
                   else f"Existing mistake note updated (seen {done.failure_count} times)")
        return _json(MistakeNoteOut(status="created" if done.created else "updated", content_hash=memory.content_hash,
                                    logical_hash=memory.metadata.get("logical_hash"),
                                    failure_count=done.failure_count, message=message))

    @server.tool(annotations=READ_ONLY)
    @_json_errors
    async def mistake_note_search(
        query: Annotated[str, Field(description="The task or error at hand, in natural language.")],
        limit: Annotated[int, Field(description="How many notes to return (1-100).")] = 5,
    ) -> Annotated[CallToolResult, MistakeSearchOut]:
        """Find mistake notes like the task or error at hand: run it before starting a task."""
        hits = await attempt(mistakes.search, query, limit)
        notes = [MistakeFoundOut(content_hash=h.memory.content_hash, logical_hash=h.memory.metadata.get("logical_hash"),
                                 content=h.memory.content, similarity=round(h.similarity, 4),
                                 failure_count=mistakes.count(h.memory), metadata=dict(h.memory.metadata),
                                 updated_at=h.memory.updated_at_iso) for h in hits]
        return _json(MistakeSearchOut(notes=notes, count=len(notes)))

    @server.tool(annotations=CHANGES)
    @_json_errors
    async def mistake_note_update(
        content_hash: Annotated[str, Field(description="The note's content_hash.")],
        failure_count: Annotated[int | None, Field(description="Set the count (1 or more).")] = None,
        error_pattern: Annotated[str | None, Field(description="A new pattern.")] = None,
        context_signature: Annotated[str | None, Field(description="A new context.")] = None,
        incorrect_action: Annotated[str | None, Field(description="A new wrong action.")] = None,
        correct_action: Annotated[str | None, Field(description="A new right action.")] = None,
    ) -> Annotated[CallToolResult, MistakeNoteOut]:
        """Correct a mistake note. Changing its text gives it a new content_hash (returned)."""
        changes = {"failure_count": failure_count, "error_pattern": error_pattern,
                   "context_signature": context_signature, "incorrect_action": incorrect_action,
                   "correct_action": correct_action}
        memory = await attempt(mistakes.update, content_hash, changes)
        return _json(MistakeNoteOut(status="updated", content_hash=memory.content_hash))

    @server.tool(annotations=CHANGES)
    @_json_errors
    async def mistake_note_delete(
        content_hash: Annotated[str, Field(description="The note's content_hash.")],
    ) -> Annotated[CallToolResult, MistakeNoteOut]:
        """Delete a mistake note (only memories of type mistake)."""
        gone = await attempt(mistakes.delete, content_hash)
        return _json(MistakeNoteOut(status="deleted", content_hash=gone))


def _json(out: BaseModel) -> CallToolResult:
    return answer(out, json.dumps(out.model_dump(mode="json", exclude_none=True), indent=2, ensure_ascii=False))
