"""`install.py --uninstall`: our entries out of every client config, the replaced ones back, and the data
and settings deleted only when asked; the summary says what was left and why."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from installer.console import install_command, say
from installer.detect import Detected
from installer.errors import UsageError
from installer.files import FileChange, apply_changes, backup_folder, backup_name
from installer.plan import removal_plan
from installer.prompter import TerminalPrompter




def uninstall(found: Detected, args: argparse.Namespace, interactive: bool, written: list[Path] | None = None) -> int:
    """Show what goes, ask (or take --yes), then change it; `written` collects each file once it is changed, so
    an interruption can say exactly what was."""
    if not interactive and not (args.yes or args.dry_run):
        raise UsageError("--uninstall changes your client configs; without a terminal to confirm, it needs --yes",
                         f"{install_command()} --uninstall --yes   (--dry-run shows what it would do)")
    project = Path(args.project_dir).resolve() if args.project_dir else None
    changes: tuple[FileChange, ...] = removal_plan(found, project)
    database = _database_files(found) if args.remove_data else []
    pending = [change for change in changes if change.action != "unchanged"]
    for change in pending:
        say(f"  {change.path}: {change.label}")
    for path in database:
        say(f"  {path}: delete")
    if not pending and not database:
        say("  No client config holds an entry of ours.")
    if args.dry_run:
        say("Dry run: nothing was written.")
        return 0
    prompter = TerminalPrompter() if interactive else None
    if prompter is not None and (pending or database) and not prompter.confirm(
            "Make these changes?" if pending else "Go on?", True):
        say("Nothing was changed.")
        return 0
    if database and prompter is not None and not prompter.confirm("Delete the database for good?", False):
        database = []
    remove_settings = _remove_settings_wanted(found, args, prompter)  # asked before anything is changed
    apply_changes(changes, backup_dir=backup_folder(found.env_file), written=written)
    stopped = _stop_daemons()  # before the database goes: a daemon finishes what is in flight and closes it
    for path in database:
        path.unlink()
        if written is not None:
            written.append(path)
    settings_removed = remove_settings and _remove_settings(found)
    summary = [f"Changed {len(pending)} client config file(s)."]
    if stopped:
        summary.append(f"Stopped {stopped} shared memory daemon(s).")
    summary.append(f"Deleted the database {database[0]}." if database
                   else "Your memories stay in place (--remove-data deletes them).")
    if found.env_file.exists() and not settings_removed:
        token = " It holds your Cloudflare API token." if found.env_file_values.get("CLOUDFLARE_API_TOKEN") else ""
        summary.append(f"Kept the settings {found.env_file}.{token} (--remove-settings deletes it.)")
    elif settings_removed:
        summary.append(f"Deleted the settings {found.env_file}.")
    say(" ".join(summary))
    return 0


def _remove_settings_wanted(found: Detected, args: argparse.Namespace, prompter: TerminalPrompter | None) -> bool:
    """The .env goes only when asked (--remove-settings, or yes at the prompt); its secrets go with it."""
    if not found.env_file.exists():
        return False
    if args.remove_settings is not None:
        return bool(args.remove_settings)
    if prompter is None:
        return False
    token = " (it holds your Cloudflare API token)" if found.env_file_values.get("CLOUDFLARE_API_TOKEN") else ""
    return prompter.confirm(f"Also delete the settings file {found.env_file}{token}?", False)


def _remove_settings(found: Detected) -> bool:
    found.env_file.unlink()
    folder = backup_folder(found.env_file)
    for backup in [*found.env_file.parent.glob(f"{found.env_file.name}.bak-*"),
                   *(folder.glob(f"{backup_name(found.env_file)}.bak-*") if folder.is_dir() else [])]:
        backup.unlink()
    return True


def _database_files(found: Detected) -> list[Path]:
    from server.settings import load_settings
    from server.storage.local.identify import identify

    named = {"MCP_MEMORY_ENV_FILE": str(found.env_file)} if found.env_file.is_file() else {}
    path = load_settings({**os.environ, **named}).database_path
    identity = identify(path)
    if identity.kind == "foreign":  # never delete what we did not create
        say(f"  {path}: kept, it is {identity.description}, not ours")
        return []
    return [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]


def _stop_daemons() -> int:
    """Ask this user's shared memory daemons to stop, and wait (bounded) until they have."""
    import time

    from server import shim

    asked = shim.stop_daemons()
    deadline = time.monotonic() + 30
    while asked and shim.running_daemons() and time.monotonic() < deadline:
        time.sleep(0.1)  # each finishes the requests in flight, then removes its socket
    return asked
