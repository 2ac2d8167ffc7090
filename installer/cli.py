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

from installer.console import install_command, say
from installer import arguments, claude_code, pins
from installer.catalog import build_questions
from installer.cloud_gate import check_cloudflare
from installer.clients import OTHER_CLIENTS, Platform
from installer.detect import Detected, detect
from installer.errors import InstallerError, UsageError
from installer.importing import (Existing, find_installations, preview_import, read_for_import, resolve_source,
                                 run_import, runs_mcp_memory_service)
from installer.files import apply_changes, backup_folder, mask_secrets, read_only, unwritable
from installer.ending import launch, next_steps, two_servers
from installer.lock import single_run
from installer.uninstall import uninstall
from installer.recommend import recommend
from installer.plan import SERVER_ARGS, Plan, build_plan, claude_code_entry_matches
from installer.prompter import Interrupted, NoPrompter, TerminalPrompter
from installer.questions import resolve
from installer.secrets import store_token, usable_keyring
from installer.smoke import smoke_test
from server.settings import CLOUD_BACKENDS, LOCAL_DATABASE_BACKENDS




def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    return arguments.parse_args(argv)


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
        with single_run(found.env_file.parent, create=not args.uninstall and args.command == "install"):
            if args.uninstall:
                return uninstall(found, args, _interactive(args), written)
            return _install(found, args, written)
    except (Interrupted, KeyboardInterrupt):
        if written:
            say(f"\nInterrupted after writing {', '.join(map(str, written))}: each of these is complete; "
                "nothing else was written.")
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
    flags = arguments.answers_given(args)
    existing = find_installations(found.platform)
    for install in existing:
        say(f"  mcp-memory-service: {install.line()}")
    if existing:
        say()
    source = _import_source(found, args, existing, prompter)
    recommendation = None
    if interactive and (args.reconfigure or not _backend_known(args, found)):
        recommendation = recommend(prompter, os.environ, found.env_file_values)
    given = frozenset(c.key for c in OTHER_CLIENTS
                      if flags[c.key] is not None or os.environ.get(f"MCP_INSTALL_{c.key.upper()}", "").strip())
    coming_from = _coming_from(existing, source)
    answers = resolve(build_questions(found, recommendation, args.dry_run, given, coming_from), flags, os.environ,
                      found.env_file_values, prompter, args.reconfigure)
    _skipped_clients(found, answers)
    if answers["storage_backend"].value in CLOUD_BACKENDS:
        answers = check_cloudflare(answers, os.environ, prompter, args.create_cloudflare_resources,
                                   args.no_fallback, say)
    fell_back = answers["storage_backend"].source == "fallback"
    _refuse_foreign_database(found, answers)
    keyring_ok = answers["storage_backend"].value in CLOUD_BACKENDS and usable_keyring()
    forget = _forget_old_token(found, answers, args, prompter)
    plan = build_plan(found, answers, keyring_available=keyring_ok, tool_profile=answers["tool_profile"].value,
                      forget_cloudflare_token=forget)
    if answers["storage_backend"].value in CLOUD_BACKENDS and not keyring_ok:
        say(f"warning: no OS keyring here: the Cloudflare token goes into {plan.env_file} (mode 0600, "
            "readable by your user only)")
    code_action = _show_summary(plan, found)
    if source is not None:
        say(_import_line(source, plan))
    beside = _beside(found, answers)
    if beside:  # before "Write these changes?": what the person is agreeing to
        say("  note      " + "\n            ".join(two_servers(beside, install_command())))
    _note_moved_data_dir(found, plan)
    if args.dry_run:
        say("Dry run: nothing was written.")
        return 0
    needed = bool(plan.pending) or code_action != "unchanged" or source is not None
    if needed:
        _check_writable(plan, interactive, prompter)
    if needed and interactive and not prompter.confirm("Write these changes?"):
        say("Nothing was written.")
        return 0  # a choice, not a failure
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
    next_steps(plan, beside)
    code = launch(plan, args.port) if plan.launch else 0
    if fell_back:  # the last line, where a CI log shows it
        say("Installed with local storage (sqlite_vec) because the Cloudflare checks failed (see above); "
            "--no-fallback makes that an error.")
    return code


def _beside(found: Detected, answers: Any) -> list[str]:
    """The clients where mcp-memory-service's own entry named 'memory' stays, with ours added as 'mcp-memory'."""
    from installer.catalog import existing_entries

    if answers.get("replace_existing_entry") and answers["replace_existing_entry"].value:
        return []
    values = {name: answer.value for name, answer in answers.items()}
    return [client for client, entry in existing_entries(found, values).items() if runs_mcp_memory_service(entry)]


def _coming_from(existing: list[Existing], source: Any) -> str | None:
    """The tool names an mcp-memory-service user's prompts use: its release's (11.0 renamed them)."""
    if source is not None:
        return "unified" if source.unified_tools else "classic"
    if existing:
        return "unified" if any(e.unified_tools for e in existing) else "classic"
    return None


def _note_moved_data_dir(found: Detected, plan: Plan) -> None:
    """A new data folder does not bring the memories along: say where they stay."""
    old = found.env_file_values.get("MCP_MEMORY_BASE_DIR", "").strip()
    if not old or plan.data_dir is None or Path(old).expanduser() == plan.data_dir:
        return
    databases = [p for p in Path(old).expanduser().glob("*.db") if p.is_file()]
    if databases:
        say(f"note: the data folder changes from {old} to {plan.data_dir}. Existing memories stay in "
            f"{databases[0]}; to keep using them, move that file (with any -wal file) into the new folder "
            "before a client starts the server.")


def _backend_known(args: argparse.Namespace, found: Detected) -> bool:
    return bool(args.storage_backend or os.environ.get("MCP_MEMORY_STORAGE_BACKEND", "").strip()
                or found.env_file_values.get("MCP_MEMORY_STORAGE_BACKEND", "").strip())


def _skipped_clients(found: Detected, answers: Any) -> None:
    """Unattended runs skip a client whose config cannot be read; say so (the wizard asked already)."""
    for config, why in found.broken.items():
        if config == found.desktop_config and answers.get("claude_desktop") and not answers["claude_desktop"].value:
            if answers["claude_desktop"].source == "default":
                say(f"note: Claude Desktop is skipped: {why}")


def _check_writable(plan: Plan, interactive: bool, prompter: Any) -> None:
    """Every target checked before the first write: nothing is half-done for want of a permission."""
    problems = unwritable(plan.changes)
    if problems:
        raise InstallerError("Cannot write: " + "; ".join(problems) + ". Nothing was written.",
                             "fix the permissions (or choose other folders), then run the installer again")
    for path in read_only(plan.changes):
        if not (interactive and prompter.confirm(f"{path} is marked read-only. Replace it anyway (backed up first)?",
                                                 False)):
            raise InstallerError(f"{path} is marked read-only; nothing was written.",
                                 f"make it writable (chmod u+w {path}) or skip that client, then run the installer again")


def _refuse_foreign_database(found: Detected, answers: Any) -> None:
    """The database the server will open, identified read-only before anything is written."""
    from server.settings import settings_from_values
    from server.storage.local.identify import identify, refusal

    if answers["storage_backend"].value not in LOCAL_DATABASE_BACKENDS:
        return
    values = {**found.env_file_values, "MCP_MEMORY_STORAGE_BACKEND": "sqlite_vec"}  # only the local file matters
    if "data_dir" in answers:  # not asked when the cloudflare backend fell back: the default folder then
        values["MCP_MEMORY_BASE_DIR"] = str(answers["data_dir"].value)
    identity = identify(settings_from_values(values).database_path)
    if identity.kind == "foreign":
        raise UsageError(refusal(identity), "bring its memories in with --import-from PATH, and remove "
                         f"MCP_MEMORY_SQLITE_PATH from {found.env_file} (or point it at a new file)")


def _forget_old_token(found: Detected, answers: Any, args: argparse.Namespace, prompter: Any) -> bool:
    """A local install over an earlier cloud one leaves a token nobody uses: remove it or keep it, as the person
    says; never silently. After a fallback nobody chose, the earlier cloud settings go, token and all (a secret
    that nothing uses is not kept by default), unless --no-forget-cloudflare-token keeps them."""
    if answers["storage_backend"].value in CLOUD_BACKENDS or not any(
            k.startswith("CLOUDFLARE_") for k in found.env_file_values):
        return False
    if args.forget_cloudflare_token is not None:
        return bool(args.forget_cloudflare_token)
    if answers["storage_backend"].source == "fallback":
        say(f"note: the Cloudflare settings of the earlier cloud setup are removed from {found.env_file} (the token "
            "too): local storage does not use them. --no-forget-cloudflare-token keeps them; to go back to the "
            "cloud, run the installer with --storage-backend hybrid (or cloudflare) once Cloudflare answers")
        return True
    if not found.env_file_values.get("CLOUDFLARE_API_TOKEN"):
        return False
    if prompter.interactive:
        return bool(prompter.confirm(f"{found.env_file} still holds the Cloudflare API token of the earlier cloud "
                                     "setup, which local storage does not use. Remove it?", True))
    say(f"note: {found.env_file} keeps the Cloudflare API token of the earlier cloud setup (unused by "
        f"{answers['storage_backend'].value}); pass --forget-cloudflare-token to remove it")
    return False


def _import_source(found: Detected, args: argparse.Namespace, existing: list[Existing], prompter: Any) -> Any:
    """The database to import (read now, so a bad --import-from fails before anything is written). The wizard
    offers the one it found only while it holds memories we do not have: an import done earlier is not asked
    about again."""
    if args.import_from:
        return read_for_import(resolve_source(args.import_from, found.platform))
    if existing and prompter.interactive:
        first = existing[0]
        source = read_for_import(first.path)
        settings = _current_settings(found)
        database = settings.database_path if settings.has_local_database else None
        new = preview_import(source, database, settings.max_content_length).imported
        if not new:
            say(f"  Its memories are all here already (imported earlier): nothing to import from {first.path}.")
            return None
        if prompter.confirm(f"Import the {new} memories of {first.path} that mcp-memory does not have yet? "
                            "(it stays as it is)", True):
            return source
    return None


def _current_settings(found: Detected) -> Any:
    from server.settings import load_settings

    named = {"MCP_MEMORY_ENV_FILE": str(found.env_file)} if found.env_file.is_file() else {}
    return load_settings({**os.environ, **named})


def _import_line(source: Any, plan: Plan) -> str:
    """The import as the plan lists it: what it would add, counted against the database the plan uses."""
    from server.settings import DEFAULT_MAX_CONTENT_LENGTH
    from server.storage.local.identify import DEFAULT_FILE_NAME

    database = plan.data_dir / DEFAULT_FILE_NAME if plan.data_dir is not None else None
    report = preview_import(source, database, DEFAULT_MAX_CONTENT_LENGTH)
    extra = [f"{report.already_present} already here"] if report.already_present else []
    extra += [f"{len(report.failed)} that cannot be imported"] if report.failed else []
    skipped = report.skipped_deleted + report.skipped_superseded + report.skipped_deleted_here
    extra += [f"{skipped} deleted or replaced"] if skipped else []
    return (f"  import    {report.imported} {'memory' if report.imported == 1 else 'memories'} from {source.path}"
            + (f" ({', '.join(extra)})" if extra else ""))


def _import_command(found: Detected, args: argparse.Namespace) -> int:
    if not args.source:
        raise UsageError("import needs the database to import from", f"{install_command()} import PATH (or auto)")
    source = read_for_import(resolve_source(args.source, found.platform, "import"), "import")
    report = run_import(source, found.env_file, args.dry_run, say)
    return 1 if report.failed else 0


def _show_summary(plan: Plan, found: Detected) -> str:
    where = f"data in {plan.data_dir}, engine {plan.engine}" if plan.data_dir else "nothing kept on this computer"
    say(f"Plan: {BACKEND_WORDS.get(plan.backend, plan.backend)} ({plan.backend}), {where}")
    for change in plan.changes:
        say(f"  {change.action:9s} {change.path}  ({change.label})")
        if change.action == "update":
            say(_indent(change.diff()))
        elif change.action == "create" and change.path == plan.env_file:  # what the new settings say
            say(_indent(mask_secrets(change.new, change.secrets)))
    code_action = "unchanged"
    if plan.claude_code is not None and plan.claude_code.use_cli:
        matches = claude_code_entry_matches(plan.claude_code, plan.claude_code.name, plan.server_entry)
        code_action = "unchanged" if matches else "add/update"
        replacing = " replacing the existing one (kept for --uninstall)" if plan.claude_code.slot.replaces else ""
        folder = f" in {plan.claude_code.project_dir}" if plan.claude_code.project_dir else ""
        say(f"  {code_action:9s} Claude Code ({plan.claude_code.scope} scope{folder}) entry {plan.claude_code.name!r}"
            f"{replacing} via `claude mcp add-json`")
    if plan.pending or code_action != "unchanged":
        say(f"  client configs start: {plan.server_entry['command']} {' '.join(SERVER_ARGS)} "
            f"(settings from {plan.env_file})")
    return code_action


BACKEND_WORDS = {"sqlite_vec": "memories on this computer only", "hybrid": "this computer plus a Cloudflare copy",
                 "cloudflare": "memories in Cloudflare only"}


def _write(plan: Plan, written: list[Path]) -> None:
    if plan.keyring_token is not None:
        store_token(plan.keyring_token)
        say("  stored the Cloudflare token in the OS keyring")
    backups = apply_changes(plan.changes, written=written, backup_dir=backup_folder(plan.env_file))
    for change in plan.pending:
        say(f"  wrote {change.path}")
    for backup in backups:
        say(f"  backup {backup}")
    if plan.claude_code is not None and plan.claude_code.use_cli:
        say(f"  Claude Code: registering with `claude mcp add-json` ({plan.claude_code.scope} scope)...")
        action = claude_code.configure(plan.claude_code, plan.claude_code.name, plan.server_entry)
        written.append(plan.claude_code.config)
        say(f"  Claude Code: {action} ({plan.claude_code.scope} scope)")


def ensure_engine_installed(engine: str) -> None:
    """The sentence-transformers engine is an extra (torch, ~1.5 GB): install it when chosen and missing."""
    import importlib.util

    if engine != "sentence-transformers" or importlib.util.find_spec("sentence_transformers") is not None:
        return
    repo = Path(__file__).resolve().parent.parent
    log = Path(sys.prefix) / "install.log"
    steps = [
        # The CPU build first: left alone, pip would pick a multi-GB CUDA torch.
        [sys.executable, "-m", "pip", "install", pins.TORCH],
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


def _indent(text: str) -> str:
    return "\n".join(f"      {line}" for line in text.splitlines())
