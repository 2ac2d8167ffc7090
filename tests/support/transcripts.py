"""Realistic client transcripts for the hook tests and bench/bench_hooks.py: a coding session of several hundred
turns, as Claude Code and Gemini CLI write them (JSONL, one event per line), with secrets, `<private>` blocks
and "remember ..." requests planted where a real user would type them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# What must never reach storage, planted in prompts, commands and tool results.
SECRETS = (
    "sk-ant-api03-Zx9Qw7Er5Ty3Ui1Op0As8Df6Gh4Jk2Lz",
    "ghp_Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8",
    "AKIAIOSFODNN7EXAMPLE",
    "hunter2-Correct-Horse",
    "xoxb-1234567890-abcdefghij",
)
PRIVATE = "my home address is 12 Quiet Lane"
REMEMBERED = ("The staging database is called atlas-2", "We deploy only on Fridays after the standup")

_TOPICS = ("the login form", "the rate limiter", "the CSV export", "the retry loop", "the settings page",
           "the cache eviction", "the search index", "the upload size check", "the audit log", "the dark mode")


def claude_code_events(turns: int, session_id: str, cwd: str, start_minute: int = 0) -> list[dict[str, Any]]:
    """`turns` user/assistant exchanges, with tool calls, in Claude Code's transcript shape."""
    events: list[dict[str, Any]] = []

    def stamp(i: int) -> str:
        minute = start_minute + i
        return f"2026-12-04T{9 + minute // 60 % 12:02d}:{minute % 60:02d}:00.000Z"

    def base(kind: str, i: int, message: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {"parentUuid": None, "isSidechain": False, "userType": "external", "cwd": cwd, "sessionId": session_id,
                "version": "2.1.0", "gitBranch": "main", "type": kind, "message": message, "uuid": f"u{len(events)}",
                "timestamp": stamp(i), **extra}

    events.append(base("user", 0, {"role": "user", "content": "<command-name>/clear</command-name>"}, isMeta=True))
    for i in range(turns):
        topic = _TOPICS[i % len(_TOPICS)]
        prompt = f"Please fix the bug in {topic} (case {i})."
        if i == 3:
            prompt += f" The deploy key is {SECRETS[0]} if you need it."
        if i == 5:
            prompt += f" <private>{PRIVATE}</private> Also use the new helper."
        if i == 7:
            prompt += f" Remember that {REMEMBERED[0].lower()[0]}{REMEMBERED[0][1:]}."
        if i == turns - 2:
            prompt = f"Thanks. Please remember: {REMEMBERED[1]}. Now wrap up."
        events.append(base("user", i, {"role": "user", "content": prompt}))
        file_path = f"{cwd}/src/{topic.split()[-1]}.py"
        command = f"pytest -q tests/test_{topic.split()[-1]}.py"
        if i == 4:
            command = f"GITHUB_TOKEN={SECRETS[1]} gh release list"
        if i == 6:
            command = f"aws configure set aws_access_key_id {SECRETS[2]}"
        events.append(base("assistant", i, {"role": "assistant", "type": "message", "content": [
            {"type": "text", "text": f"I'll look at {topic} first."},
            {"type": "tool_use", "id": f"t{i}a", "name": "Read", "input": {"file_path": file_path}},
        ]}))
        events.append(base("user", i, {"role": "user", "content": [
            {"tool_use_id": f"t{i}a", "type": "tool_result", "content": f"def handler():\n    password = '{SECRETS[3]}'"}]}))
        events.append(base("assistant", i, {"role": "assistant", "type": "message", "content": [
            {"type": "tool_use", "id": f"t{i}b", "name": "Edit",
             "input": {"file_path": file_path, "old_string": "a", "new_string": "b"}},
            {"type": "tool_use", "id": f"t{i}c", "name": "Bash", "input": {"command": command, "description": "run"}},
        ]}))
        events.append(base("user", i, {"role": "user", "content": [
            {"tool_use_id": f"t{i}c", "type": "tool_result", "content": f"SLACK_TOKEN={SECRETS[4]}\n3 passed"}]}))
        reply = f"Fixed {topic}: the off-by-one in the loop bound is gone and the tests pass."
        if i % 50 == 10:
            reply += f" We decided to keep the retry count at {i % 7 + 2} instead of making it configurable."
        events.append(base("assistant", i, {"role": "assistant", "type": "message",
                                           "content": [{"type": "text", "text": reply}]}))
    events.append(base("assistant", turns, {"role": "assistant", "type": "message", "content": [
        {"type": "text", "text": "All done: ten areas fixed, the suite passes, and the notes are in CHANGES.md."}]}))
    return events


def gemini_events(turns: int, session_id: str) -> list[dict[str, Any]]:
    """The same kind of session in Gemini CLI's JSONL (metadata line, messages by id, a rewound message)."""
    events: list[dict[str, Any]] = [{"sessionId": session_id, "projectHash": "ab12", "startTime": "2026-12-04T09:00:00Z"}]
    for i in range(turns):
        topic = _TOPICS[i % len(_TOPICS)]
        prompt = f"Fix {topic} please (case {i})."
        if i == 2:
            prompt += f" Token: {SECRETS[1]}. <private>{PRIVATE}</private> Remember that {REMEMBERED[0].lower()}."
        events.append({"id": f"m{i}u", "timestamp": f"2026-12-04T09:{i % 60:02d}:00Z", "type": "user",
                       "content": [{"text": prompt}]})
        calls = [{"id": f"t{i}", "name": "replace", "args": {"file_path": f"src/{topic.split()[-1]}.ts"},
                  "status": "executing"},
                 {"id": f"s{i}", "name": "run_shell_command", "args": {"command": "npm test"}, "status": "executing"}]
        events.append({"id": f"m{i}g", "timestamp": f"2026-12-04T09:{i % 60:02d}:30Z", "type": "gemini",
                       "content": "", "toolCalls": calls})
        # The same message again once its tools finished: the last version of a message is the one that counts.
        events.append({"id": f"m{i}g", "timestamp": f"2026-12-04T09:{i % 60:02d}:40Z", "type": "gemini",
                       "content": f"Done with {topic}.", "toolCalls": [{**c, "status": "success"} for c in calls]})
    events.append({"id": "gone", "timestamp": "2026-12-04T10:59:00Z", "type": "user",
                   "content": [{"text": "An abandoned prompt that was rewound."}]})
    events.append({"$rewindTo": f"m{turns - 1}g"})
    return events


def write_jsonl(path: Path, events: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    return path
