"""Reading what a session did from the transcript its client passes to the hooks, without any model.

Both clients write JSONL, one event per line:
- Claude Code (code.claude.com/docs/en/hooks, `transcript_path`): `{"type": "user" | "assistant", "message":
  {"role", "content"}, "timestamp", "cwd", "gitBranch", "sessionId", ...}`; content is a string or a list of
  blocks (`text`, `tool_use` with `name` and `input`, `tool_result`). Meta lines (`isMeta`), compaction
  summaries (`isCompactSummary`) and slash-command echoes are not the user's words.
- Gemini CLI (geminicli.com/docs/hooks): a metadata line, then `{"id", "timestamp", "type": "user" | "gemini",
  "content", "toolCalls": [{"name", "args"}]}`; a message updated later appears again with the same id (the
  last one counts); `{"$rewindTo": id}` drops what came after that message.

The result is a `Session`: the user's requests, the files changed, the commands run and the assistant's
texts, in order. Lines that cannot be read are skipped: a transcript is the client's, and a half-written last
line is normal while it is still open.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_BYTES = 64 * 1024 * 1024  # a longer transcript is read from its end (the latest work is what matters)
EDIT_TOOLS = {"Edit": "file_path", "MultiEdit": "file_path", "Write": "file_path", "NotebookEdit": "notebook_path",
              "write_file": "file_path", "replace": "file_path", "edit": "file_path"}  # Claude Code, Gemini CLI
SHELL_TOOLS = {"Bash": "command", "run_shell_command": "command"}
NOT_THE_USER = ("<command-", "<local-command-", "Caveat: ", "<system-reminder>", "[Request interrupted")


@dataclass
class Session:
    session_id: str = ""
    cwd: str = ""
    branch: str = ""
    started: str = ""  # ISO 8601, as the transcript says
    ended: str = ""
    prompts: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)  # the assistant's texts, in order

    def seen(self, when: Any) -> None:
        if isinstance(when, str) and when:
            self.started = self.started or when
            self.ended = when

    def add_file(self, path: Any) -> None:
        if isinstance(path, str) and path and path not in self.files:
            self.files.append(path)

    def add_command(self, command: Any) -> None:
        if isinstance(command, str) and command.strip():
            self.commands.append(" ".join(command.split()))


def read(path: str | Path, session_id: str = "", cwd: str = "") -> Session:
    """The session in the transcript at `path` (Claude Code's or Gemini CLI's JSONL, or Gemini's older JSON)."""
    session = Session(session_id=session_id, cwd=cwd)
    lines = _lines(Path(path))
    events = [event for event in (_parse(line) for line in lines) if isinstance(event, dict)]
    if len(events) == 1 and isinstance(events[0].get("messages"), list):  # Gemini CLI before 0.39: one JSON file
        events = [m for m in events[0]["messages"] if isinstance(m, dict)]
    if any(e.get("type") == "gemini" or "$rewindTo" in e for e in events):
        _gemini(_latest_versions(events), session)
    else:
        _claude_code(events, session)
    return session


def from_turns(turns: list[dict[str, Any]], session_id: str = "", cwd: str = "") -> Session:
    """A session from `{"role", "content"}` turns (memory_store_session's input)."""
    session = Session(session_id=session_id, cwd=cwd)
    for turn in turns:
        text = _text(turn.get("content"))
        if turn.get("role") == "user" and text and not text.startswith(NOT_THE_USER):
            session.prompts.append(text)
        elif turn.get("role") in ("assistant", "model", "gemini") and text:
            session.replies.append(text)
    return session


def _lines(path: Path) -> list[bytes]:
    with open(path, "rb") as file:
        size = file.seek(0, 2)
        file.seek(max(0, size - MAX_BYTES))
        data = file.read()
    lines = data.split(b"\n")
    return lines[1:] if size > MAX_BYTES else lines  # the first line of a tail is cut


def _parse(line: bytes) -> Any:
    if not line.strip():
        return None
    try:
        return json.loads(line)
    except ValueError:
        return None


def _claude_code(events: list[dict[str, Any]], session: Session) -> None:
    for event in events:
        kind = event.get("type")
        if kind not in ("user", "assistant") or event.get("isSidechain"):
            continue
        session.seen(event.get("timestamp"))
        session.cwd = session.cwd or str(event.get("cwd") or "")
        session.branch = str(event.get("gitBranch") or session.branch)
        session.session_id = session.session_id or str(event.get("sessionId") or "")
        message = event.get("message")
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if kind == "user":
            if event.get("isMeta") or event.get("isCompactSummary"):
                continue
            text = _text(content)  # tool results are blocks of another type: not counted as the user's words
            if text and not text.startswith(NOT_THE_USER):
                session.prompts.append(text)
            continue
        for block in content if isinstance(content, list) else [content]:
            if isinstance(block, str):
                session.replies.append(block)
            elif isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str):
                session.replies.append(block["text"])
            elif isinstance(block, dict) and block.get("type") == "tool_use":
                _tool(str(block.get("name")), block.get("input"), session)


def _latest_versions(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Gemini's messages in order, each at its last version, without those a rewind dropped."""
    order: list[str] = []
    latest: dict[str, dict[str, Any]] = {}
    for event in events:
        if isinstance(event.get("$rewindTo"), str):
            target = event["$rewindTo"]
            if target in order:
                for dropped in order[order.index(target) + 1:]:
                    latest.pop(dropped, None)
                order = order[:order.index(target) + 1]
            continue
        key = str(event.get("id") or len(order))
        if key not in latest:
            order.append(key)
        latest[key] = event
    return [latest[key] for key in order if key in latest]


def _gemini(events: list[dict[str, Any]], session: Session) -> None:
    for event in events:
        kind = event.get("type")
        if kind not in ("user", "gemini"):
            if event.get("sessionId") and not session.session_id:
                session.session_id = str(event["sessionId"])
            continue
        session.seen(event.get("timestamp"))
        text = _text(event.get("content"))
        if kind == "user":
            if text and not text.startswith(NOT_THE_USER):
                session.prompts.append(text)
            continue
        if text:
            session.replies.append(text)
        for call in event.get("toolCalls") or []:
            if isinstance(call, dict):
                _tool(str(call.get("name")), call.get("args"), session)


def _tool(name: str, arguments: Any, session: Session) -> None:
    if not isinstance(arguments, dict):
        return
    if name in EDIT_TOOLS:
        session.add_file(arguments.get(EDIT_TOOLS[name]))
    elif name in SHELL_TOOLS:
        session.add_command(arguments.get(SHELL_TOOLS[name]))


def _text(content: Any) -> str:
    """The text of a message's content: a string, or the `text` of its text blocks (parts)."""
    if isinstance(content, str):
        return content.strip()
    if isinstance(content, list):
        parts = [str(part["text"]) for part in content if isinstance(part, dict)
                 and part.get("type", "text") == "text" and isinstance(part.get("text"), str)]
        return "\n".join(parts).strip()
    return ""
