"""`python install.py` / `python -m installer`: the wizard and its non-interactive twin.

    answers (flags > environment > .env > prompt/default) -> Plan -> summary -> confirm -> write
    -> smoke test (exactly as the clients will start the server) -> launch

Exit codes: 0 ok, 1 failed, 2 usage (missing or bad answers), 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from installer import claude_code
from installer.catalog import build_questions
from installer.cloud_gate import check_cloudflare
from installer.clients import Platform
from installer.detect import Detected, detect
from installer.errors import InstallerError, UsageError
from installer.importing import Existing, find_installations, read_for_import, resolve_source, run_import
from installer.files import FileChange, apply_changes
from installer.plan import SERVER_ARGS, Plan, build_plan, claude_code_entry_matches, removal_plan
from installer.prompter import Interrupted, NoPrompter, TerminalPrompter
from installer.questions import resolve
from installer.secrets import store_token, usable_keyring
from installer.smoke import smoke_test
from server.settings import CLOUD_BACKENDS, LOCAL_DATABASE_BACKENDS


def say(message: str = "") -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="install.py", description="Install and configure the mcp-memory server.")
    p.add_argument("command", nargs="?", choices=("install", "doctor", "import"), default="install",
                   help="install (default); doctor: re-check an installation without changing anything; "
                        "import PATH: bring in an mcp-memory-service database's memories")
    p.add_argument("source", nargs="?", help="with import: the database to import from, or auto")
    p.add_argument("--non-interactive", action="store_true", help="never prompt; take flags, environment, .env, defaults")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation (implies --non-interactive)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and the diffs; write nothing")
    p.add_argument("--reconfigure", action="store_true", help="ask again even what is already known")
    p.add_argument("--storage-backend", choices=("sqlite_vec", "cloudflare", "hybrid"))
    p.add_argument("--data-dir", help="data directory (MCP_MEMORY_BASE_DIR)")
    p.add_argument("--embedding-engine", choices=("onnx", "sentence-transformers"))
    p.add_argument("--claude-desktop", action=argparse.BooleanOptionalAction, default=None,
                   help="configure Claude Desktop (default: yes when it is installed)")
    p.add_argument("--claude-code", choices=("user", "project", "none"), help="configure Claude Code at this scope")
    p.add_argument("--project-dir", help="project folder for --claude-code project (default: current folder)")
    p.add_argument("--replace-existing-entry", action=argparse.BooleanOptionalAction, default=None,
                   help="replace a client entry named 'memory' that is not ours (backed up; --uninstall restores "
                        "it); default: keep it and add ours as 'mcp-memory'")
    p.add_argument("--launch", action=argparse.BooleanOptionalAction, default=None,
                   help="start the HTTP server at the end (default: yes)")
    p.add_argument("--skip-smoke-test", action="store_true", help="do not start the server to check it")
    p.add_argument("--cloudflare-api-token-file", help="file holding the Cloudflare API token (or CLOUDFLARE_API_TOKEN)")
    p.add_argument("--cloudflare-account-id")
    p.add_argument("--cloudflare-d1-database-id")
    p.add_argument("--cloudflare-vectorize-index")
    p.add_argument("--cloudflare-embedding-model")
    p.add_argument("--create-cloudflare-resources", action="store_true",
                   help="create a missing D1 database or Vectorize index (asked first in the wizard)")
    p.add_argument("--no-fallback", action="store_true",
                   help="fail when the Cloudflare checks fail, instead of installing sqlite_vec")
    p.add_argument("--forget-cloudflare-token", action=argparse.BooleanOptionalAction, default=None,
                   help="when installing local storage over a cloud setup: remove the unused token from .env")
    p.add_argument("--retry-parked", action="store_true",
                   help="with doctor: send the hybrid sync's parked operations again (after fixing their cause)")
    p.add_argument("--import-from", metavar="PATH|auto",
                   help="import an mcp-memory-service database's memories (auto: the one detection finds)")
    p.add_argument("--uninstall", action="store_true", help="remove our entries from the client configs")
    p.add_argument("--remove-data", action="store_true", help="with --uninstall: also delete the database")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    written: list[Path] = []  # what was written before an interruption, for an honest message
    try:
        found = detect(Platform.current())
        if args.command == "doctor":
            from installer.doctor import run_doctor

            return run_doctor(found, retry_parked=args.retry_parked)
        if args.command == "import":
            return _import_command(found, args)
        if args.source is not None:
            raise UsageError(f"unexpected argument {args.source!r}", "only the import command takes a path")
        if args.uninstall:
            return _uninstall(found, args)
        return _install(found, args, written)
    except (Interrupted, KeyboardInterrupt):
        if written:
            say(f"\nInterrupted after writing {', '.join(map(str, written))}: each file is complete, none half-written.")
        else:
            say("\nInterrupted: nothing was written.")
        return 130
    except InstallerError as exc:
        say(f"error: {exc.message}")
        if exc.hint:
            say(f"  hint: {exc.hint}")
        return exc.exit_code


def _interactive(args: argparse.Namespace) -> bool:
    if args.non_interactive or args.yes:
        return False
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        say("stdin is not a terminal: running non-interactively (flags, environment, .env, then defaults).")
        return False
    return True


def _install(found: Detected, args: argparse.Namespace, written: list[Path]) -> int:
    interactive = _interactive(args)
    prompter = TerminalPrompter() if interactive else NoPrompter()
    say("mcp-memory installer\n")
    for line in found.lines():
        say(f"  {line}")
    say()
    flags = {name: getattr(args, name) for name in
             ("storage_backend", "data_dir", "embedding_engine", "claude_desktop", "claude_code", "project_dir", "launch",
              "replace_existing_entry",
              "cloudflare_account_id", "cloudflare_d1_database_id", "cloudflare_vectorize_index",
              "cloudflare_embedding_model")}
    flags["cloudflare_api_token"] = args.cloudflare_api_token_file
    existing = find_installations(found.platform)
    for install in existing:
        say(f"  mcp-memory-service: {install.line()}")
    if existing:
        say()
    source = _import_source(found, args, existing, prompter)
    answers = resolve(build_questions(found), flags, os.environ, found.env_file_values, prompter, args.reconfigure)
    if answers["storage_backend"].value in CLOUD_BACKENDS:
        answers = check_cloudflare(answers, os.environ, prompter, args.create_cloudflare_resources,
                                   args.no_fallback, say)
    _refuse_foreign_database(found, answers)
    keyring_ok = answers["storage_backend"].value in CLOUD_BACKENDS and usable_keyring()
    # Its users' prompts name the tools of the release that made the database they bring.
    profile = "unified" if source is not None and source.unified_tools else None
    forget = _forget_old_token(found, answers, args, prompter)
    plan = build_plan(found, answers, keyring_available=keyring_ok, tool_profile=profile,
                      forget_cloudflare_token=forget)
    if answers["storage_backend"].value in CLOUD_BACKENDS and not keyring_ok:
        say(f"warning: no OS keyring here: the Cloudflare token goes into {plan.env_file} (mode 0600, "
            "readable by your user only)")
    code_action = _show_summary(plan)
    if args.dry_run:
        if source is not None:
            say(f"  import {sum(c.memory is not None for c in source.candidates)} memories from {source.path}")
        say("Dry run: nothing was written.")
        return 0
    needed = bool(plan.pending) or code_action != "unchanged"
    if needed and interactive and not prompter.confirm("Write these changes?"):
        say("Nothing was written.")
        return 1
    ensure_engine_installed(plan.engine)  # before writing: a failed install leaves every file as it was
    if needed:
        _write(plan, written)
    else:
        say("Everything is already up to date: nothing was changed.")
    if source is not None:
        run_import(source, plan.env_file, False, say)
    if not args.skip_smoke_test:
        say("Smoke test: starting the server as the clients will...")
        result = smoke_test(plan.server_entry)
        say(f"  ok: connected in {result.connect_seconds:.2f} s; store, retrieve and delete in "
            f"{result.total_seconds - result.connect_seconds:.2f} s")
    if plan.launch:
        return launch(plan)
    say(f"Done. Start the server with: {plan.server_entry['command']} {' '.join(SERVER_ARGS)} --transport http")
    return 0


def _refuse_foreign_database(found: Detected, answers: Any) -> None:
    """The database the server will open, identified read-only before anything is written."""
    from server.settings import settings_from_values
    from server.storage.identify import identify, refusal

    if answers["storage_backend"].value not in LOCAL_DATABASE_BACKENDS:
        return
    values = {**found.env_file_values, "MCP_MEMORY_BASE_DIR": str(answers["data_dir"].value),
              "MCP_MEMORY_STORAGE_BACKEND": "sqlite_vec"}  # the local file is all that matters here
    identity = identify(settings_from_values(values).database_path)
    if identity.kind == "foreign":
        raise UsageError(refusal(identity), "bring its memories in with --import-from PATH, and remove "
                         f"MCP_MEMORY_SQLITE_PATH from {found.env_file} (or point it at a new file)")


def _forget_old_token(found: Detected, answers: Any, args: argparse.Namespace, prompter: Any) -> bool:
    """A local install over an earlier cloud one (chosen, or a fallback) leaves a token nobody uses: remove it
    or keep it, as the person says; never silently."""
    if answers["storage_backend"].value in CLOUD_BACKENDS or not found.env_file_values.get("CLOUDFLARE_API_TOKEN"):
        return False
    if args.forget_cloudflare_token is not None:
        return bool(args.forget_cloudflare_token)
    if prompter.interactive:
        return bool(prompter.confirm(f"{found.env_file} still holds the Cloudflare API token of the earlier cloud "
                                     "setup, which local storage does not use. Remove it?", True))
    say(f"note: {found.env_file} keeps the Cloudflare API token of the earlier cloud setup (unused by "
        f"{answers['storage_backend'].value}); pass --forget-cloudflare-token to remove it")
    return False


def _import_source(found: Detected, args: argparse.Namespace, existing: list[Existing], prompter: Any) -> Any:
    """The database to import (read now, so a bad --import-from fails before anything is written)."""
    if args.import_from:
        return read_for_import(resolve_source(args.import_from, found.platform))
    if existing and prompter.interactive:
        first = existing[0]
        if prompter.confirm(f"Import the memories of {first.path} into mcp-memory? (it stays as it is)", True):
            return read_for_import(first.path)
    return None


def _import_command(found: Detected, args: argparse.Namespace) -> int:
    if not args.source:
        raise UsageError("import needs the database to import from", "python install.py import PATH (or auto)")
    source = read_for_import(resolve_source(args.source, found.platform, "import"), "import")
    report = run_import(source, found.env_file, args.dry_run, say)
    return 1 if report.failed else 0


def _show_summary(plan: Plan) -> str:
    say(f"Plan: backend {plan.backend}, data in {plan.data_dir}, engine {plan.engine}")
    for change in plan.changes:
        say(f"  {change.action:9s} {change.path}  ({change.label})")
        if change.action == "update":
            say(_indent(change.diff()))
    code_action = "unchanged"
    if plan.claude_code is not None and plan.claude_code.use_cli:
        matches = claude_code_entry_matches(plan.claude_code, plan.claude_code.name, plan.server_entry)
        code_action = "unchanged" if matches else "add/update"
        replacing = " replacing the existing one (kept for --uninstall)" if plan.claude_code.slot.replaces else ""
        say(f"  {code_action:9s} Claude Code ({plan.claude_code.scope} scope) entry {plan.claude_code.name!r}{replacing} "
            "via `claude mcp add-json`")
    if plan.pending or code_action != "unchanged":
        say(f"  client configs start: {plan.server_entry['command']} {' '.join(SERVER_ARGS)} "
            f"(settings from {plan.env_file})")
    return code_action


def _write(plan: Plan, written: list[Path]) -> None:
    if plan.keyring_token is not None:
        store_token(plan.keyring_token)
        say("  stored the Cloudflare token in the OS keyring")
    backups = apply_changes(plan.changes)
    for change in plan.pending:
        written.append(change.path)
        say(f"  wrote {change.path}")
    for backup in backups:
        say(f"  backup {backup}")
    if plan.claude_code is not None and plan.claude_code.use_cli:
        action = claude_code.configure(plan.claude_code, plan.claude_code.name, plan.server_entry)
        say(f"  Claude Code: {action} ({plan.claude_code.scope} scope)")
    if any("Desktop" in c.label for c in plan.pending):
        say("Restart Claude Desktop to pick up the change.")


def _uninstall(found: Detected, args: argparse.Namespace) -> int:
    project = Path(args.project_dir).resolve() if args.project_dir else None
    changes: tuple[FileChange, ...] = removal_plan(found, project)
    database = _database_files(found) if args.remove_data else []
    for change in changes:
        say(f"  {change.path}: {change.label}")
    for path in database:
        say(f"  {path}: delete")
    if args.dry_run:
        say("Dry run: nothing was written.")
        return 0
    if database and _interactive(args) and not TerminalPrompter().confirm("Delete the database for good?", False):
        database = []
    apply_changes(changes)
    for path in database:
        path.unlink()
    kept = "" if database else " Your memories stay in place (--remove-data deletes them)."
    say(f"Changed {len(changes)} file(s).{kept}")
    return 0


def _database_files(found: Detected) -> list[Path]:
    from server.settings import load_settings
    from server.storage.identify import identify

    named = {"MCP_MEMORY_ENV_FILE": str(found.env_file)} if found.env_file.is_file() else {}
    path = load_settings({**os.environ, **named}).database_path
    identity = identify(path)
    if identity.kind == "foreign":  # never delete what we did not create
        say(f"  {path}: kept, it is {identity.description}, not ours")
        return []
    return [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]


def ensure_engine_installed(engine: str) -> None:
    """The sentence-transformers engine is an extra (torch, ~1.5 GB): install it when chosen and missing."""
    import importlib.util

    if engine != "sentence-transformers" or importlib.util.find_spec("sentence_transformers") is not None:
        return
    repo = Path(__file__).resolve().parent.parent
    log = Path(sys.prefix) / "install.log"
    steps = [
        # The CPU build first: left alone, pip would pick a multi-GB CUDA torch.
        [sys.executable, "-m", "pip", "install", "torch==2.13.0"],
        [sys.executable, "-m", "pip", "install", "-e", f"{repo}[sentence-transformers]"],
    ]
    say("Installing the sentence-transformers engine (torch, ~1.5 GB); this takes a few minutes...")
    with log.open("a", encoding="utf-8") as out:
        for step in steps:
            out.write(f"\n$ {' '.join(step)}\n")
            out.flush()
            if subprocess.call(step, stdout=out, stderr=subprocess.STDOUT) != 0:
                raise InstallerError(f"Installing the sentence-transformers engine failed; see {log}",
                                     f"retry: {' '.join(step)}  (or choose --embedding-engine onnx)")


def launch(plan: Plan) -> int:
    command = [str(plan.server_entry["command"]), *SERVER_ARGS, "--transport", "http"]
    env = dict(os.environ, **plan.server_entry["env"])
    from server.settings import load_settings

    settings = load_settings(env)  # the host and port the server itself will read
    url = f"http://{settings.http_host}:{settings.http_port}"
    say(f"Starting the memory server: {url}/mcp (health: {url}/health). Ctrl-C stops it.")
    process = subprocess.Popen(command, env=env)
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        process.wait(timeout=15)
        say("Server stopped.")
        return 0


def _indent(text: str) -> str:
    return "\n".join(f"      {line}" for line in text.splitlines())
