"""The installer's command line, in the standard library only.

`install.py` parses it before it creates the virtual environment or installs anything, so `--help` and
a mistyped flag answer at once on a fresh clone; `installer.cli` parses the same arguments again inside
the product's environment.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence
from typing import Any

COMMANDS = ("install", "doctor", "import")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # One line and a hint, in the installer's voice, instead of argparse's usage block.
        self.exit(2, f"error: {message}\n  hint: {_command()} --help lists every option\n")


def _command() -> str:
    import os

    return os.environ.get("MCP_INSTALL_COMMAND", "").strip() or "python3 install.py"


_SCOPES = ("user", "project", "none")
_YES_NO: dict[str, Any] = {"action": argparse.BooleanOptionalAction, "default": None}

# The flags that answer one of the wizard's questions (installer/catalog.py), by the question's name: the one
# table from which argparse learns them and the questions their flags (tests/test_installer_files.py ties the
# two). dest is the flag's name with underscores.
ANSWER_FLAGS: dict[str, tuple[str, dict[str, Any]]] = {
    "storage_backend": ("--storage-backend", {
        "choices": ("sqlite_vec", "cloudflare", "hybrid"),
        "help": "sqlite_vec: this computer only; hybrid: this computer plus a Cloudflare copy; cloudflare: "
                "Cloudflare only"}),
    "data_dir": ("--data-dir", {"help": "data directory (MCP_MEMORY_BASE_DIR)"}),
    "embedding_engine": ("--embedding-engine", {"choices": ("onnx", "sentence-transformers")}),
    "tool_profile": ("--tool-profile", {
        "choices": ("classic", "unified"),
        "help": "the tool names clients see: classic (store_memory, retrieve_memory, ...) or unified (memory_store, "
                "memory_search, ...: mcp-memory-service 11+); MCP_MEMORY_TOOL_PROFILE"}),
    "claude_desktop": ("--claude-desktop", {**_YES_NO, "help": "configure Claude Desktop (default: yes when it is "
                                                               "installed)"}),
    "claude_code": ("--claude-code", {"choices": _SCOPES, "help": "configure Claude Code at this scope"}),
    "project_dir": ("--project-dir", {"help": "project folder for the project-scope clients (--claude-code project, "
                                              "--vscode workspace, --cursor project, --gemini project)"}),
    "cursor": ("--cursor", {"choices": _SCOPES, "help": "configure Cursor at this scope"}),
    "vscode": ("--vscode", {"choices": ("user", "workspace", "none"), "help": "configure VS Code at this scope"}),
    "windsurf": ("--windsurf", {**_YES_NO, "help": "configure Windsurf"}),
    "codex": ("--codex", {**_YES_NO, "help": "configure the Codex CLI"}),
    "gemini": ("--gemini", {"choices": _SCOPES, "help": "configure the Gemini CLI at this scope"}),
    "hooks": ("--hooks", {**_YES_NO, "help": "install the memory hooks in Claude Code and Gemini CLI (session start: "
                                          "recall; end: keep a record); default: yes for a client configured now, none for one set up "
                                          "earlier without them"}),
    "prompt_hooks": ("--prompt-hooks", {**_YES_NO, "help": "with --hooks: also look up memories for each prompt "
                                                           "(default: no)"}),
    "replace_existing_entry": ("--replace-existing-entry", {
        **_YES_NO, "help": "replace a client entry named 'memory' that is not ours (backed up; --uninstall restores "
                           "it); default: keep it and add ours as 'mcp-memory'"}),
    "launch": ("--launch", {
        **_YES_NO, "help": "start the HTTP server at the end, for HTTP clients (default: no; the configured clients "
                           "start the server themselves)"}),
    # A file, never the token itself: a flag's value stays in the shell's history.
    "cloudflare_api_token": ("--cloudflare-api-token-file", {
        "help": "file holding the Cloudflare API token (or CLOUDFLARE_API_TOKEN)"}),
    "cloudflare_account_id": ("--cloudflare-account-id", {}),
    "cloudflare_d1_database_id": ("--cloudflare-d1-database-id", {}),
    "cloudflare_vectorize_index": ("--cloudflare-vectorize-index", {}),
    "cloudflare_embedding_model": ("--cloudflare-embedding-model", {}),
}


def flag_of(question: str) -> str:
    """The command-line flag that answers this question."""
    return ANSWER_FLAGS[question][0]


def answers_given(args: argparse.Namespace) -> dict[str, Any]:
    """Each question's answer as the flags gave it (None when not given), by the question's name."""
    return {name: getattr(args, option.lstrip("-").replace("-", "_")) for name, (option, _) in ANSWER_FLAGS.items()}


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="install.py", allow_abbrev=False,
                description="Install and configure the mcp-memory server (the wizard, or flags for CI).")
    p.add_argument("words", nargs="*", metavar="command",
                   help="install (default); doctor: re-check an installation without changing anything; "
                        "import PATH: bring in an mcp-memory-service database's memories")
    p.add_argument("--non-interactive", action="store_true", help="never prompt; take flags, environment, .env, defaults")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation (implies --non-interactive)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and the diffs; write nothing")
    p.add_argument("--reconfigure", action="store_true", help="ask again even what is already known")
    answers = p.add_argument_group("answers", "each answers one of the wizard's questions (asked when not given)")
    for option, spec in ANSWER_FLAGS.values():
        answers.add_argument(option, **spec)
    p.add_argument("--port", type=int, help="with --launch: the HTTP port (MCP_HTTP_PORT, default 8000)")
    p.add_argument("--skip-smoke-test", action="store_true", help="do not start the server to check it")
    p.add_argument("--create-cloudflare-resources", action="store_true",
                   help="create a missing D1 database or Vectorize index (asked first in the wizard)")
    p.add_argument("--no-fallback", action="store_true",
                   help="fail when the Cloudflare checks fail, instead of installing sqlite_vec")
    p.add_argument("--forget-cloudflare-token", action=argparse.BooleanOptionalAction, default=None,
                   help="when installing local storage over a cloud setup: remove the unused token from .env "
                        "(after a fallback the earlier Cloudflare settings are removed unless --no-forget-...)")
    p.add_argument("--retry-parked", action="store_true",
                   help="with doctor: send the hybrid sync's parked operations again (after fixing their cause)")
    p.add_argument("--import-from", metavar="PATH|auto",
                   help="import an mcp-memory-service database's memories (auto: the one detection finds)")
    p.add_argument("--uninstall", action="store_true", help="remove our entries from the client configs")
    p.add_argument("--remove-data", action="store_true", help="with --uninstall: also delete the database")
    p.add_argument("--remove-settings", action=argparse.BooleanOptionalAction, default=None,
                   help="with --uninstall: also delete the settings file (.env), which may hold the Cloudflare token")
    return p


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse, then check what argparse cannot: unknown flags first (with a suggestion), then the command."""
    parser = build_parser()
    args, unknown = parser.parse_known_intermixed_args(argv)  # a path may come after the flags
    if unknown:
        flag = unknown[0]
        known = [option for action in parser._actions for option in action.option_strings]
        close = difflib.get_close_matches(flag.split("=", 1)[0], known, n=1)
        parser.exit(2, f"error: unknown option {flag}\n  hint: "
                       + (f"did you mean {close[0]}?" if close else f"{_command()} --help lists every option")
                       + "\n")
    words = list(args.words)
    command = words.pop(0) if words and words[0] in COMMANDS else "install"
    if words and command != "import":
        parser.error(f"unexpected argument {words[0]!r} (the commands are {', '.join(COMMANDS)})")
    if len(words) > 1:
        parser.error(f"unexpected argument {words[1]!r}: import takes one path")
    args.command, args.source = command, (words[0] if words else None)
    if args.remove_data and not args.uninstall:
        parser.error("--remove-data only goes with --uninstall")
    if args.port is not None and not 0 < args.port < 65536:
        parser.error(f"--port {args.port} is not a port number (1-65535)")
    return args


if __name__ == "__main__":  # pragma: no cover - a quick look at the parse
    print(parse_args(sys.argv[1:]))
