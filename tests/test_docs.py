"""The README and docs/ cannot go stale: every command they show parses with the program it runs, every link
leads somewhere, and the README stays a newcomer's page."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"```sh\n(.*?)```", re.S)
INLINE = re.compile(r"`([^`\n]+)`")
# Inline code that is a command (rather than a flag, a path or a value) starts with one of these.
COMMAND_START = re.compile(r"^(python3? |\.venv/bin/python |\.venv/bin/mcp-memory-server|install\.py |bash tests/run"
                           r"|bench/\S+\.py|claude mcp |codex mcp |gemini mcp |git clone )")
PLACEHOLDER = re.compile(r"<[^>]+>")


def commands(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    found = []
    for block in FENCE.findall(text):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line and not line.startswith("#"):
                found.append(line)
    outside = FENCE.sub("", text)
    found += [span.strip() for span in INLINE.findall(outside) if COMMAND_START.match(span.strip())]
    return found


ALL = [(page.relative_to(REPO).as_posix(), command) for page in PAGES for command in commands(page)]


def test_the_pages_show_commands_at_all():
    shown = {command for _, command in ALL}
    assert "python3 install.py" in shown and "bash tests/run" in shown and len(ALL) > 40


@pytest.mark.parametrize("page, command", ALL, ids=[f"{p}: {c}"[:90] for p, c in ALL])
def test_every_command_shown_parses_with_the_program_it_runs(page, command):
    words = [w for w in shlex.split(PLACEHOLDER.sub("x", command)) if w != "..."]  # "..." stands for more
    program, args = _program(words)
    if program == "install.py":
        from installer.arguments import parse_args

        _parses(lambda: parse_args(args), command)
    elif program == "server":
        from server import cli, commands as server_commands

        if args[:1] == ["hook"]:
            from server.hooks.command import parse

            _parses(lambda: parse(args[1:]), command)
        elif args and args[0] in server_commands.COMMANDS:
            _parses(lambda: server_commands.parse(args), command)
        else:
            _parses(lambda: cli.parse_args(args), command)
    elif program.startswith("bench/"):
        shown = subprocess.run([sys.executable, program, "--help"], cwd=REPO, capture_output=True, text=True,
                               timeout=120)
        assert shown.returncode == 0, shown.stderr
        for flag in (a.split("=")[0] for a in args if a.startswith("--")):
            assert flag in shown.stdout, f"{command}: {program} has no {flag}"
    elif program == "tests/run":
        assert (REPO / "tests" / "run").is_file() and not args
    elif program == "claude":
        _client_command(words, command)
    elif program in ("codex", "gemini"):
        assert args == ["mcp", "list"], command
    elif program == "git":
        assert args[:1] == ["clone"] and len(args) == 3, command
    elif program == "cd":
        assert args == ["mcp-memory"], command
    else:
        pytest.fail(f"{page}: no check knows the command {command!r}; teach tests/test_docs.py how to check it")


def _program(words: list[str]) -> tuple[str, list[str]]:
    """Which program a command runs, and its arguments."""
    first, rest = words[0], words[1:]
    if first in ("python", "python3", ".venv/bin/python"):
        rest = rest[1:] if rest[:1] == ["-I"] else rest  # isolated mode, as the client entries run it
        if rest[:2] == ["-m", "server"]:
            return "server", rest[2:]
        if rest[:2] == ["-m", "installer"]:
            return "install.py", rest[2:]
        return rest[0], rest[1:]
    if first == ".venv/bin/mcp-memory-server":
        return "server", rest
    if first == "bash":
        return rest[0], rest[1:]
    return first, rest


def _parses(parse, command: str) -> None:
    try:
        parse()
    except SystemExit as exc:
        if exc.code == 0:  # --help
            return
        pytest.fail(f"{command!r} does not parse (exit {exc.code})")


def _client_command(words: list[str], command: str) -> None:
    """Claude Code's commands as the installer's Next steps print them, or its `mcp add` with our entry."""
    from installer.plan import SERVER_ARGS

    if words[1:] in (["mcp", "list"], ["mcp", "add-json"]):  # add-json: named as what the installer runs
        return
    assert words[1:3] == ["mcp", "add"] and "--" in words, command
    options, server = words[3:words.index("--")], words[words.index("--") + 1:]
    assert options[:2] == ["-s", "user"] and len(options) == 3, command
    assert server[0].endswith("/.venv/bin/python") and server[1:] == list(SERVER_ARGS), command


LINK = re.compile(r"\]\(([^)#\s]*)(?:#([^)\s]+))?\)")


def _anchors(page: Path) -> set[str]:
    headings = re.findall(r"(?m)^#+ (.+)$", page.read_text(encoding="utf-8"))
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_link_leads_to_a_page_and_heading_that_exist(page):
    for target, anchor in LINK.findall(page.read_text(encoding="utf-8")):
        if target.startswith("http"):
            continue
        linked = (page.parent / target).resolve() if target else page
        assert linked.exists(), f"{page.name}: {target}"
        if anchor:
            assert anchor in _anchors(linked), f"{page.name}: {target}#{anchor}"


def test_the_readme_is_a_newcomers_page():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    first_screen = "\n".join(text.splitlines()[:45])
    for needed in ("git clone", "python3 install.py", "bash tests/run", "mcp-memory-service"):
        assert needed in first_screen, needed
    assert not re.search(r"INSTALL_TIME|DISK_SIZE|TEST_TIME|LATENCY_TABLE", text)
    for page in (REPO / "docs").glob("*.md"):
        assert f"docs/{page.name}" in text, f"the README links every page of docs/: {page.name}"
        assert "LATENCY_TABLE" not in page.read_text(encoding="utf-8")
