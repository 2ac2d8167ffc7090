"""One hook request, answered with the memory service: the same code in the shared daemon (which holds the
model and the index, so it answers in milliseconds) and in the hook's own process when no daemon can be had.

A request is `{"event": "start" | "prompt" | "end", "client": "claude-code" | "gemini", "input": {...}}`,
`input` being what the client wrote on the hook's stdin; the answer is `{"context": text}` for start and
prompt ("" when nothing is relevant) and `{"kept": hash or None, "updated": bool, "remembered": n}` for end.
"""

from __future__ import annotations

from typing import Any

from server.service import MemoryService
from server.settings import Settings

EVENTS = ("start", "prompt", "end")


class HookInputError(ValueError):
    """The client's input lacks what the event needs (said in the hook log; the client is not disturbed)."""


def handle(service: MemoryService, settings: Settings, request: dict[str, Any], model: bool = True) -> dict[str, Any]:
    """`model=False`: answer without the embedding model (session start from the session records alone)."""
    from server.hooks import recall

    event, data = request.get("event"), request.get("input")
    if event not in EVENTS or not isinstance(data, dict):
        raise HookInputError(f"unknown hook event {event!r} or input that is not a JSON object")
    cwd = _text(data, "cwd")
    if event == "start":
        return {"context": recall.session_start(service, cwd, settings.hook_tokens, settings.hook_threshold,
                                                search=model)}
    if event == "prompt":
        prompt = _text(data, "prompt")
        return {"context": recall.prompt_context(service, prompt, settings.hook_tokens, settings.hook_threshold)}
    return _end(service, data, str(request.get("client") or ""), cwd)


def _end(service: MemoryService, data: dict[str, Any], client: str, cwd: str) -> dict[str, Any]:
    from server.hooks import transcript
    from server.hooks.keep import keep_session

    path = data.get("transcript_path")
    if not isinstance(path, str) or not path:
        raise HookInputError("no transcript_path in the hook's input: nothing to keep")
    session = transcript.read(path, str(data.get("session_id") or ""), cwd)
    kept = keep_session(service, session, client)
    return {"kept": kept.record_hash, "updated": kept.updated, "remembered": len(kept.remembered)}


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""
