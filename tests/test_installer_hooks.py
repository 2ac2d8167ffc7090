"""The installer and the clients' hooks: merged beside the person's own hooks, shown in the plan, checked by
doctor, taken out by --no-hooks and --uninstall, the files left byte for byte as they were."""

from __future__ import annotations

import json

import pytest

from tests.support.installer import Sandbox

pytestmark = pytest.mark.slow

THEIR_CLAUDE = '{"theme":"dark","hooks":{"PreToolUse":[{"matcher":"Bash","hooks":[{"type":"command","command":"echo mine"}]}]}}\n'
THEIR_GEMINI = '{\n  "general": {"vimMode": true},\n  "hooks": {"SessionStart": [{"hooks": [{"type": "command", "command": "echo hi"}]}]}\n}\n'
BASE = ("--non-interactive", "--no-launch", "--no-claude-desktop", "--skip-smoke-test", "--claude-code", "user",
        "--gemini", "user")


@pytest.fixture
def sandbox(tmp_path) -> Sandbox:
    box = Sandbox(tmp_path)
    box.install_clients("gemini")
    (box.home / ".claude").mkdir(parents=True)
    (box.home / ".claude" / "settings.json").write_text(THEIR_CLAUDE, encoding="utf-8")
    (box.home / ".gemini" / "settings.json").write_text(THEIR_GEMINI, encoding="utf-8")
    return box


def hooks_of(path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))["hooks"]


def ours(groups: list) -> list[str]:
    return [h["command"] for g in groups for h in g["hooks"] if "-m server hook" in h["command"]]


def test_a_new_installation_gets_the_hooks_beside_the_persons_own_and_a_rerun_changes_nothing(sandbox):
    claude, gemini = sandbox.home / ".claude" / "settings.json", sandbox.home / ".gemini" / "settings.json"
    done = sandbox.run(*BASE)
    assert done.returncode == 0, done.stderr
    assert "Claude Code hooks (session start, end and compaction)" in done.stderr  # in the plan
    assert "Gemini CLI hooks" in done.stderr and "Hooks: Claude Code, Gemini CLI" in done.stderr
    assert "claude mcp list" not in done.stderr and "its `claude` command is not on PATH here" in done.stderr
    code = hooks_of(claude)
    assert code["PreToolUse"] == [{"matcher": "Bash", "hooks": [{"type": "command", "command": "echo mine"}]}]
    assert code["SessionStart"][0]["matcher"] == "startup|resume|clear|compact"
    assert ours(code["SessionStart"])[0].endswith(f"hook start --client claude-code --env-file {sandbox.env_file}")
    assert "UserPromptSubmit" not in code  # each prompt's lookup: only when asked for
    assert ours(code["SessionEnd"]) and ours(code["PreCompact"])
    gem = hooks_of(gemini)
    assert gem["SessionStart"][0] == {"hooks": [{"type": "command", "command": "echo hi"}]}  # theirs first, kept
    assert ours(gem["SessionStart"]) and ours(gem["PreCompress"]) and ours(gem["SessionEnd"])
    assert gem["SessionEnd"][0]["hooks"][0]["timeout"] == 60_000  # Gemini counts milliseconds
    assert json.loads(gemini.read_text())["mcpServers"]["memory"]  # the entry and the hooks: one change, one file

    before = sandbox.files()
    again = sandbox.run(*BASE)
    assert again.returncode == 0 and "nothing was changed" in again.stderr
    assert sandbox.files() == before

    doctor = sandbox.run("doctor")
    assert "✓ hooks: Claude Code" in doctor.stdout and "session start answered" in doctor.stdout, doctor.stdout


def test_no_hooks_and_uninstall_leave_the_settings_as_they_were(sandbox):
    claude, gemini = sandbox.home / ".claude" / "settings.json", sandbox.home / ".gemini" / "settings.json"
    assert sandbox.run(*BASE, "--prompt-hooks").returncode == 0
    assert ours(hooks_of(claude)["UserPromptSubmit"]) and ours(hooks_of(gemini)["BeforeAgent"])

    off = sandbox.run(*BASE, "--no-hooks")
    assert off.returncode == 0, off.stderr
    assert claude.read_text(encoding="utf-8") == THEIR_CLAUDE  # byte for byte
    assert "hook" not in json.dumps(json.loads(gemini.read_text())["hooks"]).replace('"hooks"', "")

    assert sandbox.run(*BASE, "--hooks").returncode == 0
    removed = sandbox.run("--uninstall", "--yes")
    assert removed.returncode == 0, removed.stderr
    assert "remove our hooks" in removed.stderr
    assert claude.read_text(encoding="utf-8") == THEIR_CLAUDE
    assert gemini.read_text(encoding="utf-8") == THEIR_GEMINI


def test_an_earlier_installation_without_hooks_gets_none_unasked(sandbox):
    assert sandbox.run(*BASE, "--no-hooks").returncode == 0
    again = sandbox.run(*BASE)  # a re-run with -y-style flags: what was set up stays as it was
    assert again.returncode == 0 and "nothing was changed" in again.stderr
    assert (sandbox.home / ".claude" / "settings.json").read_text(encoding="utf-8") == THEIR_CLAUDE
