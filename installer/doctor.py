"""`install.py doctor`: re-check an installation without changing anything. Exit 0 only if all pass."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from installer.console import install_command
from installer.detect import Detected
from installer.errors import InstallerError
from installer.files import read_text_or_none
from installer import entries
from installer.jsonconfig import get_servers
from installer.plan import server_entry
from installer.smoke import smoke_test

if TYPE_CHECKING:
    from server.settings import Settings


def run_doctor(found: Detected, retry_parked: bool = False) -> int:
    if retry_parked:
        print(f"  {_retry_parked(found)}", flush=True)
    checks: list[tuple[str, Callable[[], str]]] = [
        (".env", lambda: _check_env(found)),
        ("database", lambda: _check_database(found)),
    ]
    clients = [("Claude Desktop", found.desktop_config, ("mcpServers",)),
               ("Claude Code", found.claude_code_config, ("mcpServers",)),
               *((c.title, c.config_path(found.platform, "user"), c.container) for c in found.other_clients)]
    for label, path, container in clients:
        if path is not None and (path.exists() or label.startswith("Claude")):
            checks.append((label, functools.partial(_check_client, path, container)))
    checks.append(("clients", lambda: _check_some_client(found, clients)))
    checks.append(("Cloudflare", lambda: _check_cloudflare(found)))
    # The smoke test before the sync's state: its server connects to the cloud and sends what was parked,
    # so the outbox is reported as it is after that, not as it was.
    checks.append(("smoke test", lambda: _check_smoke(found)))
    checks.append(("hybrid sync", lambda: _check_sync(found)))
    checks.append(("shared daemon", _check_daemon))
    checks.append(("hooks", lambda: _check_hooks(found)))
    failures = 0
    for label, check in checks:
        try:
            first, *more = check().splitlines()  # one reason per line
            print(f"  ✓ {label}: {first}", flush=True)
            for line in more:
                print(f"      {line}", flush=True)
        except (InstallerError, OSError, ValueError) as exc:
            failures += 1
            message = exc.message if isinstance(exc, InstallerError) else str(exc)
            message = message.replace(" Run `install.py doctor`.", "")  # this is the doctor
            print(f"  ✗ {label}: {message}", flush=True)
            if isinstance(exc, InstallerError) and exc.hint:
                print(f"      hint: {exc.hint}", flush=True)
    print("All checks passed." if not failures else f"{failures} check(s) failed.", flush=True)
    return 0 if not failures else 1


def _settings(found: Detected) -> Settings:
    from server.settings import load_settings

    if not found.env_file.is_file():
        raise InstallerError(f"{found.env_file} does not exist: run the installer")
    return load_settings({**os.environ, "MCP_MEMORY_ENV_FILE": str(found.env_file)})


def _check_env(found: Detected) -> str:
    settings = _settings(found)
    return f"{found.env_file} (backend {settings.storage_backend}, engine {settings.embedding_engine})"


def _check_database(found: Detected) -> str:
    from server.storage.local import sqlite_driver

    from server.storage.local.identify import identify, refusal

    settings = _settings(found)
    path = settings.database_path
    identity = identify(path)  # read-only: connecting below sets WAL mode, a write
    if identity.kind == "foreign":
        raise InstallerError(refusal(identity))
    if identity.kind != "ours":
        return f"{path} not created yet (the server creates it on first start)"
    from server.storage.local.file_health import IntegrityCheck, health_problems
    from server.storage.local.identify import read_only

    integrity = IntegrityCheck(lambda: read_only(path))
    damaged = integrity.problems()
    with read_only(path) as check:  # the server's own checks: integrity, records, write ability, free space
        status, problems = health_problems(check, path, None, damaged, integrity.unreadable)
    if status == "failing" or integrity.unreadable:
        raise InstallerError(f"{path}: " + "; ".join(problems))
    conn = sqlite_driver.connect(path, settings.sqlite_pragmas, sqlite_driver.pick_driver())
    try:
        effective = sqlite_driver.effective_pragmas(conn, [name for name, _ in settings.sqlite_pragmas])
    finally:
        conn.close()
    wanted = dict(settings.sqlite_pragmas)
    wrong = [f"{k}={effective[k]} (wanted {v})" for k, v in wanted.items()
             if not sqlite_driver.pragma_in_effect(k, v, effective[k])]
    if wrong:
        raise InstallerError(f"{path}: pragmas not in effect: {', '.join(wrong)}")
    note = f" ({'; '.join(problems)})" if problems else ""
    # In effect, so shown as the person wrote them (synchronous=NORMAL, not SQLite's read-back 1).
    return f"{path} is intact{note}\npragmas in effect: " + ", ".join(f"{k}={v}" for k, v in wanted.items())


def _check_client(path: Path, container: tuple[str, ...] = ("mcpServers",)) -> str:
    servers = get_servers(read_text_or_none(path), path, container)
    names = [name for name, entry in servers.items() if entries.is_ours(entry)]
    if not names:
        return f"{path} parses; no entry of ours"
    name = names[0]
    command = Path(servers[name].get("command", ""))
    if not (command.is_absolute() and os.access(command, os.X_OK)):
        raise InstallerError(f"{path}: {name!r} starts {command}, which does not exist or cannot run")
    return f"{path} parses; {name!r} starts {command}"


def _check_some_client(found: Detected, clients: list[tuple[str, Path | None, tuple[str, ...]]]) -> str:
    """A server no client starts is not an installation: say so (exit 1) and how to add one."""
    places = [(label, path, container) for label, path, container in clients if path is not None]
    project = Path.cwd() / ".mcp.json"  # Claude Code's project scope, when doctor runs in that project
    places.append(("Claude Code (this project)", project, ("mcpServers",)))
    having = []
    for label, path, container in places:
        try:
            servers = get_servers(read_text_or_none(path), path, container) if path.exists() else {}
        except (InstallerError, OSError, ValueError):
            continue  # its own check above says why it cannot be read
        if any(entries.is_ours(entry) for entry in servers.values()):
            having.append(label)
    if _has_local_claude_code_entry(found):
        having.append("Claude Code (a project's local scope)")
    if not having:
        raise InstallerError("no client config has an entry of ours, so no client starts this server",
                             f"run the installer again and choose a client ({install_command()}), "
                             "or see Next steps in its output for adding one by hand")
    return "configured in " + ", ".join(having)


def _has_local_claude_code_entry(found: Detected) -> bool:
    """`claude mcp add -s local` keeps entries per project inside ~/.claude.json."""
    import json

    path = found.claude_code_config
    try:
        projects = json.loads(path.read_text(encoding="utf-8")).get("projects", {}) if path else {}
        return any(entries.is_ours(entry) for project in projects.values() if isinstance(project, dict)
                   for entry in (project.get("mcpServers") or {}).values() if isinstance(entry, dict))
    except (OSError, ValueError, AttributeError):
        return False


def _check_cloudflare(found: Detected) -> str:
    from installer.cloudflare_checks import CloudflareConfig, run_checks

    settings = _settings(found)
    cf = settings.cloudflare
    if cf is None:
        return f"not used (backend {settings.storage_backend})"
    config = CloudflareConfig(cf.api_token, cf.account_id, cf.d1_database_id, cf.vectorize_index,
                              cf.embedding_model, cf.api_base_url)
    failed = [r for r in run_checks(config) if not r.ok]
    if failed:
        raise InstallerError("; ".join(f"{r.name}: {r.detail}" for r in failed))
    return "token, account, D1, Vectorize and Workers AI all answer as configured"


def _check_sync(found: Detected) -> str:
    """The hybrid outbox as the server left it: waiting rows, parked rows (with why), the last error."""
    from server.storage.local.ledger import status_of

    settings = _settings(found)
    if settings.storage_backend != "hybrid":
        return f"not used (backend {settings.storage_backend})"
    if not settings.database_path.exists():
        return "nothing synced yet (no database)"
    status = status_of(settings.database_path)  # the store's own reading of its outbox, read-only
    waiting, parked, state = status.waiting, status.parked, status.state
    reasons = [f"{p.content_hash[:12]}: {p.reason}" for p in status.parked_rows[:3]]
    if parked:
        raise InstallerError(f"{parked} operation(s) parked, the cloud refused them: " + "; ".join(reasons),
                             "fix the cause, then run `install.py doctor --retry-parked` (or call the force_sync "
                             "tool); the server also tries them again at its next start")
    last = state.get("last_sync_at")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(last)) if last else "never"
    error = f"; last error: {state['last_error']}" if state.get("last_error") and not state.get("cloud_reachable") else ""
    return f"{waiting} waiting, none parked; last sync {when}{error}"


def _retry_parked(found: Detected) -> str:
    """Mark parked sync operations to be sent again; the running server (or the next start) sends them."""
    from server.backends import open_local

    settings = _settings(found)
    if settings.storage_backend != "hybrid":
        return f"nothing to retry: the backend is {settings.storage_backend}"
    with open_local(settings) as local:
        count = local.retry_parked()
    return f"{count} parked operation(s) will be sent again by the server's sync"


def _check_daemon() -> str:
    """The shared memory daemons of this user (MCP_MEMORY_DAEMON=on), where their sockets and logs are."""
    from server import shim

    running = shim.running_daemons()
    if not running:
        return "none running (the first client starts one; MCP_MEMORY_DAEMON=off gives each client its own)"
    return "\n".join(f"running, version {said.version}: {path} (log {path.with_suffix('.log')})"
                     + (f"; dashboard {said.http}/" if said.http else "") for path, said in running)


def _check_hooks(found: Detected) -> str:
    """Each client's session-start hook of ours, run as the client runs it (through a shell, its input on
    stdin): it must answer, and in time."""
    import json
    import subprocess

    from installer import hooks

    said = []
    for client in hooks.HOOK_CLIENTS:
        path = client.settings_path(found.platform, "user", None)
        assert path is not None
        starts = [c for c in hooks.our_commands(read_text_or_none(path), path) if " hook start " in c]
        if not starts:
            continue
        sample = {"session_id": "install-doctor", "cwd": str(Path.cwd()), "hook_event_name": "SessionStart",
                  "source": "startup", "transcript_path": ""}
        began = time.monotonic()
        try:
            done = subprocess.run(starts[0], shell=True, input=json.dumps(sample), capture_output=True, text=True,
                                  timeout=60, env={**os.environ, "MCP_MEMORY_HOOK_CHECK": "1"})
        except subprocess.TimeoutExpired as exc:
            raise InstallerError(f"{client.title}'s session-start hook did not answer within 60 s ({path})") from exc
        if done.returncode != 0:
            reason = (done.stderr.strip().splitlines() or ["no reason given"])[-1]
            raise InstallerError(f"{client.title}'s session-start hook failed: {reason} ({path})",
                                 hint="run the installer again to rewrite the hooks, or --no-hooks to remove them")
        if done.stdout.strip():
            json.loads(done.stdout)  # what the client reads must be JSON (a ValueError fails the check)
        said.append(f"{client.title} ({path}): session start answered in "
                    f"{1000 * (time.monotonic() - began):.0f} ms")
    if not said:
        return "none installed (install.py --hooks adds them)"
    from server import shim

    try:
        said.append(f"each run's result: {shim.runtime_dir() / 'hooks.log'}")
    except (shim.NoDaemon, OSError):
        pass
    return "\n".join(said)


def _check_smoke(found: Detected) -> str:
    result = smoke_test(server_entry(found.python, found.env_file))
    return f"store, retrieve and delete ok in {result.total_seconds:.2f} s"
