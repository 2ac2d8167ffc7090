"""The end of an install: the closing panel, and the HTTP server started in this terminal if asked."""

from __future__ import annotations

import os
import subprocess

from installer.console import say
from installer.plan import SERVER_ARGS, Plan




def next_steps(plan: Plan) -> None:
    """The closing panel: what is set up, what to do now, how to check and how to undo."""
    command = f"{plan.server_entry['command']} {' '.join(SERVER_ARGS)}"
    lines = [f"Settings: {plan.env_file}"]
    if plan.clients:
        lines.append(f"Configured: {', '.join(plan.clients)}.")
        lines.append("Each of them starts its own copy of the server when it needs one: nothing to keep running.")
    else:
        lines.append("No MCP client was configured; point yours at: " + command)
    if "Claude Desktop" in plan.clients:
        lines.append("Restart Claude Desktop (quit it fully) to load the memory server.")
    if any(c.startswith(("Cursor", "VS Code", "Windsurf")) for c in plan.clients):
        lines.append("Reload Cursor / VS Code / Windsurf windows that are open to pick up the change.")
    if any(c.startswith("Claude Code") for c in plan.clients):
        lines.append("Check: claude mcp list   (the memory server should show as connected)")
    lines.append("Check everything: python install.py doctor")
    lines.append(f"HTTP clients: {command} --transport http")
    lines.append("Undo: python install.py --uninstall")
    width = max(len(line) for line in lines) + 2
    say("\n┌─ Next steps " + "─" * max(0, width - 13) + "┐")
    for line in lines:
        say(f"│ {line.ljust(width - 1)}│")
    say("└" + "─" * width + "┘")


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
    from server.cli import bind_port
    from server.errors import PortInUseError

    try:
        bind_port(host, port).close()
    except PortInUseError:
        return False
    return True
