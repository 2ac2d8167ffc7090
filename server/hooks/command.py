"""`python -m server hook start|prompt|end --client claude-code|gemini`: what the clients' hooks run.

It reads the client's JSON from stdin and asks the shared daemon (server/daemon.py, started when none runs),
which holds the model and the index; when no daemon can be had (MCP_MEMORY_DAEMON=off, a runtime
folder that is not private), it answers in this process: session start from the session records alone (no
model to load), the session kept with the model. Whatever happens it exits 0 and disturbs nothing: a failure
injects nothing and is written to the hook log (hooks.log beside the daemon's, or stderr), never to stdout.

Standard library only until it must answer in-process: it runs on every session start (and, when asked
for, on every prompt), so its own start is what the client waits for.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

# The client's event names, per our event, and how each client wants context back on stdout.
CLIENT_EVENTS = {
    "claude-code": {"start": "SessionStart", "prompt": "UserPromptSubmit", "end": "SessionEnd"},
    "gemini": {"start": "SessionStart", "prompt": "BeforeAgent", "end": "SessionEnd"},
}
STDIN_LIMIT = 16 * 1024 * 1024
LOG_LIMIT = 1024 * 1024
CHECK = "MCP_MEMORY_HOOK_CHECK"  # set by `install.py doctor`: a failure exits 1 with its reason on stderr
# Seconds to start the daemon and again to wait for its answer: within the timeouts our hook entries set
# (15 s for start and prompt, 60 s for end), with room left for answering in-process instead.
DAEMON_TIMEOUT = {"start": 5.0, "prompt": 5.0, "end": 20.0}


def main(argv: list[str]) -> int:
    started = time.monotonic()
    try:
        event, client, env_file = _arguments(argv)
    except SystemExit:  # argparse said what is wrong on stderr; the client still goes on
        return 0
    if env_file:  # the settings of the client's server entry: the same daemon, the same data
        os.environ["MCP_MEMORY_ENV_FILE"] = env_file
    try:
        request = {"event": event, "client": client, "input": _read_input()}
        answer = _answer(request)
        if answer.get("error"):
            raise RuntimeError(answer["error"])
        _write(client, event, str(answer.get("context") or ""))
        _log(f"{client} {event} ({_where(request)}): ok in {1000 * (time.monotonic() - started):.0f} ms"
             + (f", {len(answer.get('context') or '')} characters injected" if event != "end" else
                f", session record {answer.get('kept') or 'not needed'}, {answer.get('remembered', 0)} remembered"))
    except Exception as exc:  # noqa: BLE001 - a hook never breaks its client: nothing injected, the reason logged
        _write(client, event, "")
        _log(f"{client} {event}: nothing done ({type(exc).__name__}: {exc})")
        if os.environ.get(CHECK) == "1":  # `install.py doctor` running it: the failure is the answer
            print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
    return 0


def parse(argv: list[str]) -> Any:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m server hook", description="Run a client's memory hook.")
    parser.add_argument("event", choices=("start", "prompt", "end"))
    parser.add_argument("--client", choices=tuple(CLIENT_EVENTS), default="claude-code")
    parser.add_argument("--env-file", help="the .env of the client's server entry (MCP_MEMORY_ENV_FILE)")
    return parser.parse_args(argv)


def _arguments(argv: list[str]) -> tuple[str, str, str | None]:
    args = parse(argv)
    return args.event, args.client, args.env_file


def _read_input() -> dict[str, Any]:
    data = sys.stdin.buffer.read(STDIN_LIMIT + 1)
    if len(data) > STDIN_LIMIT:
        raise ValueError(f"the hook's input is longer than {STDIN_LIMIT} bytes")
    value = json.loads(data or b"{}")
    if not isinstance(value, dict):
        raise ValueError("the hook's input is not a JSON object")
    return value


def _answer(request: dict[str, Any]) -> dict[str, Any]:
    from server import shim

    reason = None if shim.daemon_wanted() else "MCP_MEMORY_DAEMON=off"
    if reason is None:
        try:
            return shim.ask(request, DAEMON_TIMEOUT[str(request["event"])])
        except Exception as exc:  # noqa: BLE001 - no daemon, whatever the cause: answered here instead
            reason = str(exc)
    _log(f"answering in this process ({reason})")
    return _in_process(request)


def _in_process(request: dict[str, Any]) -> dict[str, Any]:
    from server.backends import create_storage
    from server.hooks.events import handle
    from server.service import MemoryService
    from server.settings import load_settings
    from server.storage.local.identify import require_ours

    settings = load_settings(os.environ)
    if settings.has_local_database:
        require_ours(settings.database_path)  # never write into another program's database
    storage = create_storage(settings)
    storage.open()
    try:
        service = MemoryService(storage, settings.max_content_length)
        return handle(service, settings, request, model=request["event"] != "start")
    finally:
        storage.close()


def _write(client: str, event: str, context: str) -> None:
    """Context in the client's documented shape; Gemini CLI wants JSON on stdout even when there is none."""
    if context and event != "end":
        out = {"hookSpecificOutput": {"hookEventName": CLIENT_EVENTS[client][event], "additionalContext": context}}
        sys.stdout.write(json.dumps(out) + "\n")
    elif client == "gemini":
        sys.stdout.write("{}\n")
    sys.stdout.flush()


def _where(request: dict[str, Any]) -> str:
    """The folder the session runs in, as the log shows it (and whether `install.py doctor` ran the hook)."""
    cwd = request.get("input", {}).get("cwd")
    folder = os.path.basename(cwd.rstrip("/\\")) if isinstance(cwd, str) and cwd else "no folder"
    return f"{folder}, a check by install.py doctor" if os.environ.get(CHECK) == "1" else folder


def _log(line: str) -> None:
    stamped = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n"
    try:
        from server import shim

        path = shim.runtime_dir() / "hooks.log"
        if path.exists() and path.stat().st_size > LOG_LIMIT:
            path.replace(path.with_suffix(".log.1"))  # the previous log kept once: bounded on disk
        with open(path, "a", encoding="utf-8") as log:
            log.write(stamped)
    except Exception:  # noqa: BLE001 - no private folder for the log: stderr (clients show it in their debug view)
        sys.stderr.write(stamped)
