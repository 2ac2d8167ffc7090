"""Keeping a session: one record per session (what was asked, the files changed, the commands run, the
decisions and the final answer, trimmed), updated in place when the session goes on after a resume or a
compaction, plus each explicit "remember ..." of the user as its own memory. Everything passes through
`privacy.scrub` first: secrets and `<private>` text never reach storage.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server.errors import InvalidInputError
from server.hooks.transcript import Session, from_turns
from server.privacy import scrub
from server.record.checks import MAX_TAG_LENGTH
from server.service import MemoryService

SESSION_TYPE = "session"
RECORD_CHARS = 4000  # a session record's length at most (about 1,000 tokens)
PROMPT_CHARS, REPLY_CHARS, COMMAND_CHARS = 240, 700, 140
MAX_PROMPTS, MAX_FILES, MAX_COMMANDS, MAX_DECISIONS = 12, 25, 15, 8

# A sentence of the assistant's that records a choice: kept as a decision.
_DECISION = re.compile(
    r"\b(decided|decision|we(?:'ll| will) (?:use|keep|go with)|i(?:'ll| will) use|chose|choosing|going with|"
    r"instead of|switched to|settled on|the (?:root )?cause (?:is|was)|the fix (?:is|was))\b", re.IGNORECASE)
# The user asking for something to be kept: "remember that ...", "please remember: ...", "don't forget ...".
_REMEMBER = re.compile(
    r"(?:^|(?<=[.!?\n]))\s*(?:(?:please|also|and|oh|btw),?\s+)*"
    r"(?:remember|don'?t forget|do not forget|keep in mind|note for later|for future reference)"
    r"(?:\s+that)?\s*[:,-]?\s+(?P<fact>[^\n]+?)(?=[.!?](?:\s|$)|\n|$)",
    re.IGNORECASE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass(frozen=True)
class Kept:
    record_hash: str | None  # None: nothing worth keeping (no request of the user's)
    updated: bool  # the session's earlier record was updated, not a new one added
    remembered: tuple[str, ...]  # the hashes of the "remember ..." memories


def project_of(cwd: str) -> str:
    """The project a folder belongs to: its repository's folder name (the nearest parent with .git), else its
    own name."""
    if not cwd:
        return "unknown"
    folder = Path(cwd)
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate.name[:MAX_TAG_LENGTH] or "unknown"
    return folder.name[:MAX_TAG_LENGTH] or "unknown"


def keep_session(service: MemoryService, session: Session, client: str, project: str | None = None,
                 tags: Sequence[str] = (), metadata: Mapping[str, Any] | None = None) -> Kept:
    """Store the session's record (or update its earlier one: the same session id) and its "remember ..."
    requests. `tags` and `metadata` are added to the record's own."""
    project = project or project_of(session.cwd)
    remembered = tuple(_remember(service, fact, project, session) for fact in remember_requests(session.prompts))
    text = record_text(session, project)
    if text is None:
        return Kept(None, False, remembered)
    metadata = {**(metadata or {}), "session_id": session.session_id, "project": project, "cwd": session.cwd,
                "client": client, "started": session.started, "ended": session.ended, "prompts": len(session.prompts)}
    own = f"session:{session.session_id}"[:MAX_TAG_LENGTH]
    tags = ["session", project, own, *tags]
    earlier = service.search_by_tag(own, limit=1)
    if earlier:
        memory = earlier[0]
        if memory.content != text:
            try:
                memory = service.replace_content(memory.content_hash, text)
            except InvalidInputError:  # the same text is another memory already: the record stays as it is
                pass
        service.update_metadata(memory.content_hash, metadata=metadata)
        return Kept(memory.content_hash, True, remembered)
    memory, _ = service.store(text, tags, SESSION_TYPE, metadata)
    return Kept(memory.content_hash, False, remembered)


def store_session(service: MemoryService, turns: Sequence[Mapping[str, Any]], session_id: str | None = None,
                  tags: Sequence[str] = (), metadata: Mapping[str, Any] | None = None) -> tuple[Kept, str]:
    """memory_store_session: a session given as turns, kept the way the hooks keep one; (kept, session id).
    The project is metadata's `project`, else the folder `cwd` names, else "unknown"."""
    extra = dict(metadata or {})
    session_id = session_id or str(uuid.uuid4())
    session = from_turns([dict(turn) for turn in turns], session_id, str(extra.get("cwd") or ""))
    project = str(extra.get("project") or "") or None
    return keep_session(service, session, "mcp", project, tags, extra), session_id


def record_text(session: Session, project: str) -> str | None:
    """The session record, trimmed to RECORD_CHARS; None when the user asked nothing."""
    prompts = [_short(scrub(p), PROMPT_CHARS) for p in session.prompts]
    prompts = [p for p in prompts if p]
    if not prompts:
        return None
    when = _day_span(session.started, session.ended)
    lines = [f"Session in {project}" + (f" ({session.cwd})" if session.cwd else "") + (f", {when}" if when else "")
             + (f", branch {session.branch}" if session.branch else "") + f": {len(prompts)} request(s)."]
    # The first requests say what the session set out to do, the last where it ended.
    shown = prompts if len(prompts) <= MAX_PROMPTS else [*prompts[:3], f"… ({len(prompts) - MAX_PROMPTS + 1} more)",
                                                          *prompts[-(MAX_PROMPTS - 4):]]
    lines += ["Asked:", *(f"- {p}" for p in shown)]
    if session.files:
        names = [_relative(f, session.cwd) for f in session.files]
        more = f" (+{len(names) - MAX_FILES} more)" if len(names) > MAX_FILES else ""
        lines.append("Files changed: " + ", ".join(names[:MAX_FILES]) + more)
    if session.commands:
        commands = _unique(_short(scrub(c), COMMAND_CHARS) for c in session.commands)
        lines.append("Commands run: " + "; ".join(commands[-MAX_COMMANDS:]))
    decided = decisions(session.replies)
    if decided:
        lines += ["Decisions:", *(f"- {d}" for d in decided)]
    final = _short(scrub(session.replies[-1]), REPLY_CHARS) if session.replies else ""
    if final:
        lines.append(f"Outcome: {final}")
    return _fit("\n".join(lines), RECORD_CHARS)


def decisions(replies: list[str]) -> list[str]:
    found: list[str] = []
    for reply in replies:
        for sentence in _SENTENCE.split(scrub(reply)):
            sentence = sentence.strip(" -*#>")
            if 20 <= len(sentence) <= 300 and _DECISION.search(sentence) and sentence not in found:
                found.append(sentence)
    return found[-MAX_DECISIONS:]  # the latest choices win: earlier ones were often revised


def remember_requests(prompts: list[str]) -> list[str]:
    facts: list[str] = []
    for prompt in prompts:
        for match in _REMEMBER.finditer(scrub(prompt)):
            fact = match.group("fact").strip().rstrip(".!?")
            if fact.endswith("?") or len(fact) < 8:
                continue  # "do you remember ...?" is a question, "remember this" names nothing
            fact = fact[0].upper() + fact[1:]
            if fact not in facts:
                facts.append(fact + ".")
    return facts


def _remember(service: MemoryService, fact: str, project: str, session: Session) -> str:
    memory, _ = service.store(fact, ["remember", project], "note",
                              {"source": "session", "session_id": session.session_id, "project": project})
    return memory.content_hash


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


def _relative(path: str, cwd: str) -> str:
    if cwd and path.startswith(cwd.rstrip("/") + "/"):
        return path[len(cwd.rstrip("/")) + 1:]
    return path


def _day_span(started: str, ended: str) -> str:
    start, end = started[:16].replace("T", " "), ended[:16].replace("T", " ")
    if not start:
        return ""
    return f"{start}–{end[11:] if end[:10] == start[:10] else end} UTC" if end and end != start else f"{start} UTC"
