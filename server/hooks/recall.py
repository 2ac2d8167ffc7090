"""What a session is given before it starts, and (when asked for) with each prompt: a digest within a token
budget, each memory with its hash so the model can open it, and nothing at all when nothing is relevant.

Session start: this project's latest session records (newest first), then the newest memories tagged with
the project's name, then the memories most relevant to the project (its name and what its latest sessions
asked) above RELEVANT, without session records and system memories. Each prompt: the memories relevant to
the prompt, above the same RELEVANT bar.

RELEVANT (MCP_MEMORY_HOOK_THRESHOLD) is the hybrid search score (meaning and words, 0-1) a memory needs to be
injected. bench/bench_hooks.py measured it on every hand-written set: for each question, the score of its
answer and the best score of anything else in the top 5 (what would be injected as noise); docs/hooks.md has
the table.
"""

from __future__ import annotations

from server.hooks.keep import SESSION_TYPE, project_of
from server.record import SYSTEM_TYPES, Memory
from server.service import MemoryService
from server.settings import Settings
from server.storage.base import MemoryFilter

RELEVANT = Settings.hook_threshold
CHARS_PER_TOKEN = 4  # a budget in tokens, counted the way most tokenizers come out on English text
RECENT_SESSIONS = 3
TAGGED = 5  # the newest memories tagged with the project's name ("remember ..." requests made there, say)
SESSION_CHARS = 900  # a session record's share at most, in the digest
MEMORY_CHARS = 500
NOT_RECALLED = (*SYSTEM_TYPES, SESSION_TYPE)


def session_start(service: MemoryService, cwd: str, budget_tokens: int, threshold: float = RELEVANT,
                  search: bool = True) -> str:
    """`search=False`: the session records alone (no embedding model needed)."""
    project = project_of(cwd)
    budget = Budget(budget_tokens * CHARS_PER_TOKEN)
    sessions = service.search(None, RECENT_SESSIONS, tags=["session", project], tag_match="all",
                              memory_type=SESSION_TYPE)
    tagged = service.search(None, TAGGED, where=MemoryFilter(tags=(project.lower(),), exclude_types=NOT_RECALLED))
    relevant = list(tagged)
    if search:
        query = " ".join([project, *(_asked(hit.memory) for hit in sessions[:2])])
        where = MemoryFilter(exclude_types=NOT_RECALLED)
        shown = {hit.memory.content_hash for hit in tagged}
        relevant += [hit for hit in service.search(query, 8, where=where)
                     if hit.similarity >= threshold and hit.memory.content_hash not in shown]
    if not sessions and not relevant:
        return ""
    budget.take(f"Memory for the project {project} (from mcp-memory; open any one in full by its hash):")
    if sessions:
        budget.take("Latest sessions here:")
        for hit in sessions:
            budget.take(_line(hit.memory, SESSION_CHARS, _gist(hit.memory.content)))
    if relevant:
        budget.take("Relevant memories:")
        for hit in relevant:
            budget.take(_line(hit.memory, MEMORY_CHARS))
    return budget.text()


def prompt_context(service: MemoryService, prompt: str, budget_tokens: int, threshold: float = RELEVANT) -> str:
    if not prompt.strip():
        return ""
    where = MemoryFilter(exclude_types=NOT_RECALLED)
    hits = [hit for hit in service.search(prompt[:2000], 5, where=where) if hit.similarity >= threshold]
    if not hits:
        return ""
    budget = Budget(budget_tokens * CHARS_PER_TOKEN)
    budget.take("Memories that may bear on this (from mcp-memory; open any one in full by its hash):")
    for hit in hits:
        budget.take(_line(hit.memory, MEMORY_CHARS))
    return budget.text()


class Budget:
    """Lines while they fit; the first that does not ends the digest (a cut line would mislead)."""

    def __init__(self, chars: int) -> None:
        self.left, self.full = chars, False
        self.lines: list[str] = []

    def take(self, line: str) -> None:
        if self.full or len(line) + 1 > self.left:
            self.full = True
            return
        self.lines.append(line)
        self.left -= len(line) + 1

    def text(self) -> str:
        return "\n".join(self.lines) if len(self.lines) > 1 else ""


def _line(memory: Memory, limit: int, text: str | None = None) -> str:
    text = " ".join((memory.content if text is None else text).split())
    text = text if len(text) <= limit else text[:limit - 1].rstrip() + "…"
    day = memory.created_at_iso[:10] if memory.created_at_iso else ""
    return f"- [{memory.content_hash}] {day}: {text}" if day else f"- [{memory.content_hash}] {text}"


def _gist(record: str) -> str:
    """A session record in brief: its first line, its outcome, its decisions, its last requests."""
    lines = record.split("\n")
    outcome = [line for line in lines if line.startswith("Outcome: ")]
    decisions = [line[2:] for line in _section(lines, "Decisions:")]
    asked = _section(lines, "Asked:")
    parts = [lines[0], *outcome, *(["Decided: " + " ".join(decisions[-2:])] if decisions else []),
             *(["Last asked: " + asked[-1][2:]] if asked else [])]
    return " ".join(parts)


def _section(lines: list[str], title: str) -> list[str]:
    start = lines.index(title) + 1 if title in lines else len(lines)
    section = []
    for line in lines[start:]:
        if not line.startswith("- "):
            break
        section.append(line)
    return section


def _asked(memory: Memory) -> str:
    """What a session record says was asked (its "- " lines after "Asked:"), for finding related memories."""
    return " ".join(line[2:] for line in _section(memory.content.split("\n"), "Asked:"))[:600]

