"""The end of an install: the closing panel, and the HTTP server started in this terminal if asked."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence

from installer.console import install_command, say
from installer.plan import SERVER_ARGS, Plan

# How each client loads the change, and its own command that checks the server answers.
CLIENT_STEPS = (
    ("Claude Desktop", "Restart Claude Desktop (quit it fully) to load the memory server."),
    ("Claude Code", "Check Claude Code: claude mcp list   (memory: ✓ Connected)"),
    ("Codex CLI", "Check Codex: codex mcp list"),
    ("Gemini CLI", "Check Gemini: gemini mcp list"),
    ("Cursor", "Reload open Cursor windows to pick up the change."),
    ("VS Code", "Reload open VS Code windows to pick up the change."),
    ("Windsurf", "Reload open Windsurf windows to pick up the change."),
)


def next_steps(plan: Plan, beside: Sequence[str] = ()) -> None:
    """The closing panel: what is set up, what to do now, how to check and how to undo. `beside`: the clients
    that keep mcp-memory-service's entry next to ours."""
    command = f"{plan.server_entry['command']} {' '.join(SERVER_ARGS)}"
    installer = install_command()
    lines = [f"Settings: {plan.env_file}"]
    if plan.clients:
        lines.append(f"Configured: {', '.join(plan.clients)}.")
        lines.append("They share one memory process, started by the first that needs it: nothing to keep running."
                     if _shared_daemon() else
                     "Each of them starts its own copy of the server when it needs one: nothing to keep running.")
    if plan.hooks:
        lines.append(f"Hooks: {', '.join(plan.hooks)} recall at session start and keep a record at its end;")
        lines.append("  each hook's result is in hooks.log beside the daemon's log (install.py doctor shows where).")
    else:
        lines.append("No MCP client was configured; point yours at: " + command)
    for client, step in CLIENT_STEPS:
        if any(c.startswith(client) for c in plan.clients):
            if client == "Claude Code" and plan.claude_code is not None and plan.claude_code.use_cli is None:
                step = "Claude Code loads the server when it next starts (its `claude` command is not on PATH here)."
            lines.append(step)
    if beside:
        lines += two_servers(beside, installer)
    lines.append(f"Check everything: {installer} doctor")
    lines.append(f"HTTP clients: {command} --transport http")
    lines.append(f"Undo: {installer} --uninstall")
    width = max(len(line) for line in lines) + 2
    say("\n┌─ Next steps " + "─" * max(0, width - 13) + "┐")
    for line in lines:
        say(f"│ {line.ljust(width - 1)}│")
    say("└" + "─" * width + "┘")


def _shared_daemon() -> bool:
    from server.shim import daemon_wanted

    return daemon_wanted()


def two_servers(clients: Sequence[str], installer: str) -> list[str]:
    """What keeping mcp-memory-service's entry beside ours means, and the one command that switches fully."""
    return [f"{', '.join(clients)} will list two memory servers: mcp-memory-service as 'memory' and this one",
            "as 'mcp-memory', with the same tool names; the model stores where it chooses, and what goes to",
            "'memory' stays in mcp-memory-service's database. To switch fully (its memories imported, its",
            f"entry replaced, and put back by --uninstall): {installer} --import-from auto --replace-existing-entry"]


def launch(plan: Plan, port: int | None = None) -> int:
    """Start the HTTP server in this terminal; Ctrl-C reaches it directly (same terminal), so this process
    waits for it to stop and passes on its exit code, its own closing lines shown first."""
    import signal

    from server.settings import load_settings

    env = dict(os.environ, **plan.server_entry["env"])
    if port is not None:
        env["MCP_HTTP_PORT"] = str(port)
    settings = load_settings(env)  # the host and port the server itself will read
    url = f"http://{settings.http_host}:{settings.http_port}"
    if not _port_free(settings.http_host, settings.http_port):
        say(f"The installation is done, but port {settings.http_port} is already in use, so the HTTP server was "
            f"not started: choose another with --port N (or MCP_HTTP_PORT), or leave out --launch.")
        return 0
    say(f"Starting the memory server: {url}/mcp (health: {url}/health). Ctrl-C stops it.")
    command = [str(plan.server_entry["command"]), *SERVER_ARGS, "--transport", "http"]
    # A handler that does nothing (not SIG_IGN, which the child would inherit): the server handles Ctrl-C.
    previous = signal.signal(signal.SIGINT, lambda signum, frame: None)
    try:
        process = subprocess.Popen(command, env=env)
        return process.wait()
    finally:
        signal.signal(signal.SIGINT, previous)


def _port_free(host: str, port: int) -> bool:
    from server.http_server import bind_port
    from server.errors import PortInUseError

    try:
        bind_port(host, port).close()
    except PortInUseError:
        return False
    return True
