"""The memory hooks in the clients that have lifecycle hooks: what each gets, where, and how ours are found
again (to update them, to check them, to remove them) among the person's own.

From each client's documentation:
  Claude Code  code.claude.com/docs/en/hooks: `hooks` in ~/.claude/settings.json (user) or
               <project>/.claude/settings.local.json (a project, not committed: the command names this
               machine's paths); events SessionStart (matcher startup|resume|clear|compact), UserPromptSubmit,
               PreCompact, SessionEnd; `timeout` in seconds
  Gemini CLI   geminicli.com/docs/hooks/reference: `hooks` in ~/.gemini/settings.json or
               <project>/.gemini/settings.json; events SessionStart, BeforeAgent, PreCompress, SessionEnd;
               `timeout` in milliseconds; on by default since 0.27 (hooksConfig.enabled)

Each event holds groups `{"matcher"?, "hooks": [{"type": "command", "command", "timeout"}]}`. Ours are the
handlers whose command runs `-m server hook`; everything else in the file keeps every byte.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from installer.clients import Platform
from installer.jsonconfig import get_object, set_value

CONTAINER = ("hooks",)
# Every command of ours: `<python> -I -m server hook <event> --client <client> --env-file <.env>`.
MARK = re.compile(r"-m server hook (start|prompt|end) --client (claude-code|gemini) --env-file ")
TIMEOUTS = {"start": 15, "prompt": 15, "end": 60, "compact": 60}  # seconds; the hook itself answers far sooner


@dataclass(frozen=True)
class HookClient:
    key: str  # the answer that configures the client: claude_code, gemini
    title: str
    argument: str  # --client of `python -m server hook`
    events: Mapping[str, str]  # our event -> the client's event name
    start_matcher: str | None
    timeout_unit: int  # per second

    def settings_path(self, p: Platform, scope: str, project: Path | None) -> Path | None:
        folder = ".claude" if self.key == "claude_code" else ".gemini"
        if scope == "user":
            return p.home / folder / "settings.json"
        if project is None:
            return None
        return project / folder / ("settings.local.json" if self.key == "claude_code" else "settings.json")


CLAUDE_CODE = HookClient("claude_code", "Claude Code", "claude-code",
                         {"start": "SessionStart", "prompt": "UserPromptSubmit", "compact": "PreCompact",
                          "end": "SessionEnd"}, "startup|resume|clear|compact", 1)
GEMINI = HookClient("gemini", "Gemini CLI", "gemini",
                    {"start": "SessionStart", "prompt": "BeforeAgent", "compact": "PreCompress", "end": "SessionEnd"},
                    None, 1000)
HOOK_CLIENTS = (CLAUDE_CODE, GEMINI)


def targets(answers: Mapping[str, Any], p: Platform) -> list[tuple[HookClient, Path]]:
    """The settings file of each client with hooks that the answers configure."""
    project = Path(answers["project_dir"]) if answers.get("project_dir") else None
    found = []
    for client in HOOK_CLIENTS:
        scope = answers.get(client.key)
        if scope in (None, False, "none"):
            continue
        path = client.settings_path(p, "user" if scope is True else str(scope), project)
        if path is not None:
            found.append((client, path))
    return found


def command(python: Path, env_file: Path, client: HookClient, event: str) -> str:
    """The shell command a client runs for one event (its hooks run through a shell)."""
    hook_event = "end" if event == "compact" else event
    words = [str(python), "-I", "-m", "server", "hook", hook_event, "--client", client.argument, "--env-file",
             str(env_file)]
    return subprocess.list2cmdline(words) if os.name == "nt" else shlex.join(words)


def with_hooks(text: str | None, path: Path, client: HookClient, python: Path, env_file: Path,
               prompts: bool) -> str:
    """The settings text with our hooks for every event (each prompt's only with `prompts`), the person's own
    hooks kept as they are."""
    hooks = get_object(text, path, CONTAINER)
    new = text or ""
    for event, name in client.events.items():
        groups = _without_ours(hooks.get(name))
        if event != "prompt" or prompts:
            handler = {"type": "command", "command": command(python, env_file, client, event),
                       "timeout": TIMEOUTS[event] * client.timeout_unit}
            if client is GEMINI:
                handler = {"name": f"mcp-memory-{event}", **handler}
            group: dict[str, Any] = {"hooks": [handler]}
            if event == "start" and client.start_matcher:
                group = {"matcher": client.start_matcher, **group}
            groups = [*(groups or []), group]
        if groups != hooks.get(name):
            new = set_value(new, path, CONTAINER, name, groups if groups else None)
    return new


def without_hooks(text: str | None, path: Path) -> str:
    """The settings text with every hook of ours removed (an event, or the hooks object, that held only ours
    goes too)."""
    hooks = get_object(text, path, CONTAINER)
    new = text or ""
    for name, groups in hooks.items():
        kept = _without_ours(groups)
        if kept != groups:
            new = set_value(new, path, CONTAINER, name, kept if kept else None)
    if hooks and not get_object(new, path, CONTAINER) and any(_ours(g) for g in hooks.values()):
        new = set_value(new, path, (), CONTAINER[0], None)
    return new


def installed(text: str | None, path: Path) -> list[str]:
    """The events of this file that run a hook of ours."""
    try:
        hooks = get_object(text, path, CONTAINER)
    except Exception:  # noqa: BLE001 - a file we cannot read has none of ours we could use
        return []
    return [name for name, groups in hooks.items() if _ours(groups)]


def our_commands(text: str | None, path: Path) -> list[str]:
    hooks = get_object(text, path, CONTAINER)
    return [handler["command"] for groups in hooks.values() if isinstance(groups, list) for group in groups
            if isinstance(group, dict) for handler in group.get("hooks") or []
            if isinstance(handler, dict) and MARK.search(str(handler.get("command", "")))]


def _ours(groups: Any) -> bool:
    return _without_ours(groups) != groups


def _without_ours(groups: Any) -> Any:
    """The groups without our handlers (a group left empty by that goes); anything unexpected as it is."""
    if not isinstance(groups, list):
        return groups
    kept = []
    for group in groups:
        handlers = group.get("hooks") if isinstance(group, dict) else None
        if not isinstance(handlers, list):
            kept.append(group)
            continue
        theirs = [h for h in handlers if not (isinstance(h, dict) and MARK.search(str(h.get("command", ""))))]
        if len(theirs) == len(handlers):
            kept.append(group)
        elif theirs:
            kept.append({**group, "hooks": theirs})
    return kept
