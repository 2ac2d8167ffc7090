"""The real wizard in a real pseudo-terminal (pexpect): arrow keys, Enter, Ctrl-C and EOF."""

from __future__ import annotations

import json

import pexpect
import pytest

from tests.support.installer import CTRL_C, CTRL_D, DOWN, ENTER, UP, Sandbox, Wizard, answer_all, usage

pytestmark = pytest.mark.slow


def test_a_full_interactive_install_with_arrow_keys_writes_every_file(tmp_path):
    w = Wizard(tmp_path)
    w.expect("Claude Desktop:  ")
    answer_all(w, tmp_path / "data")
    w.expect("Write these changes?")
    w.send("y" + ENTER)
    w.expect("wrote")
    assert w.exit_status() == 0
    env_text = w.env_file.read_text(encoding="utf-8")
    assert "MCP_MEMORY_STORAGE_BACKEND=sqlite_vec" in env_text
    assert f"MCP_MEMORY_BASE_DIR={tmp_path / 'data'}" in env_text
    assert "memory" in json.loads(w.desktop_config.read_text(encoding="utf-8"))["mcpServers"]
    assert "memory" in json.loads((tmp_path / "project" / ".mcp.json").read_text(encoding="utf-8"))["mcpServers"]
    hooks = json.loads((tmp_path / "project" / ".claude" / "settings.local.json").read_text(encoding="utf-8"))["hooks"]
    assert {"SessionStart", "SessionEnd", "PreCompact"} == set(hooks)  # asked, answered yes; not each prompt


@pytest.mark.parametrize("where", ["first question", "a later question", "the final confirm"])
def test_ctrl_c_anywhere_before_writing_exits_130_and_writes_nothing(tmp_path, where):
    w = Wizard(tmp_path)
    if where == "first question":
        usage(w)
        w.expect("Where should memories be stored?")
        w.send(DOWN)  # on "hybrid" when interrupted: still nothing is chosen
    elif where == "a later question":
        usage(w)
        w.expect("Where should memories be stored?")
        w.send(ENTER)
        w.expect("Folder for the database")
    else:
        answer_all(w, tmp_path / "data")
        w.expect("Write these changes?")
    w.send(CTRL_C)
    w.expect("Interrupted: nothing was written.")
    assert w.exit_status() == 130
    assert w.nothing_written()


def test_eof_at_the_backend_question_never_picks_a_cloud_backend(tmp_path):
    # Ctrl-D in a terminal menu selects nothing (the menu stays open); a closed stdin is the
    # non-interactive path, which takes the sqlite_vec default (tests/test_installer_noninteractive.py).
    w = Wizard(tmp_path)
    usage(w)
    w.expect("Where should memories be stored?")
    w.send(DOWN)  # the cursor on "hybrid"
    w.send(CTRL_D)
    with pytest.raises(pexpect.TIMEOUT):
        w.child.expect(["Folder for the database", pexpect.EOF], timeout=2)  # no answer was taken
    w.send(CTRL_C)
    assert w.exit_status() == 130
    assert w.nothing_written()


def test_choosing_hybrid_asks_for_the_cloudflare_token_and_ctrl_c_writes_nothing(tmp_path):
    w = Wizard(tmp_path)
    usage(w)
    w.expect("Where should memories be stored?")
    w.send(DOWN + ENTER)  # hybrid
    w.expect("D1 Edit, Vectorize Edit and Workers AI Read")  # what the token needs, before it is asked for
    w.expect("Cloudflare API token")
    w.send(CTRL_C)
    assert w.exit_status() == 130
    assert w.nothing_written()


def test_a_second_run_asks_nothing_already_known_and_changes_nothing(tmp_path):
    first = Wizard(tmp_path)
    answer_all(first, tmp_path / "data")
    first.expect("Write these changes?")
    first.send("y" + ENTER)
    assert first.exit_status() == 0
    second = Wizard(tmp_path)
    # Backend, folder and engine come from the .env; Claude Desktop from its config, which holds our entry;
    # the launch from the installation existing. Claude Code's project scope lives in a folder only the
    # person knows, so that one question remains.
    second.expect("Configure Claude Code?")
    asked = second.child.before
    for known in ("more than one computer", "Where should memories be stored?", "Configure Claude Desktop"):
        assert known not in asked
    second.send(UP + ENTER)
    second.expect("Project folder")
    second.send(f"\x15{tmp_path / 'project'}{ENTER}")
    second.expect("nothing was changed")
    assert "HTTP server" not in second.child.before
    assert second.exit_status() == 0


def test_a_bad_cloudflare_token_is_corrected_at_the_prompt_then_the_checks_pass(cloud, tmp_path):
    from tests.support.cloudflare_emulator import ACCOUNT

    emulator, database = cloud.emulator, cloud.database  # an account with a database and a 768-dimension index
    w = Wizard(tmp_path, "--no-launch", "--claude-code", "none", "--no-claude-desktop", "--data-dir",
               str(tmp_path / "data"), "--embedding-engine", "onnx", extra_env={
                   "CLOUDFLARE_API_BASE_URL": emulator.base_url})
    usage(w)
    w.expect("Where should memories be stored?")
    w.send(DOWN + DOWN + ENTER)  # cloudflare
    w.expect("Cloudflare API token")
    w.send(f"wrong-token{ENTER}")
    w.expect("Cloudflare account ID")
    w.send(f"not-an-id{ENTER}")  # refused as typed: the prompt stays open
    w.expect("32 hexadecimal characters")
    w.send("\x15" + f"{ACCOUNT}{ENTER}")
    w.expect("D1 database ID")
    w.send(f"{database}{ENTER}")
    w.expect("Vectorize index name")
    w.send(ENTER)
    w.expect("Workers AI embedding model")
    w.send(ENTER)
    w.expect("✗ API token")
    w.expect("What now?")
    w.send(ENTER)  # "Edit a value and check again"
    w.expect("Which value?")
    w.expect(f"Cloudflare account ID: {ACCOUNT}")  # the current values, the token masked
    w.send(ENTER)  # the token, the first one; only that one is asked for
    w.expect("Cloudflare API token (input hidden)")  # the prompt itself (keys typed before it are dropped)
    w.send(f"good-token{ENTER}")
    w.expect("✓ Workers AI model")
    w.expect("Write these changes?")
    w.send("y" + ENTER)
    assert w.exit_status() == 0
    shown = w.transcript.getvalue()
    assert "wrong-token" not in shown and "good-token" not in shown  # typed, never echoed nor printed
    env_text = w.env_file.read_text(encoding="utf-8")
    assert "MCP_MEMORY_STORAGE_BACKEND=cloudflare" in env_text and "CLOUDFLARE_API_TOKEN=good-token" in env_text
    assert "wrong-token" not in env_text


def test_hybrid_with_cloudflare_unreachable_can_be_kept_explicitly(cloud, tmp_path):
    from tests.support.cloudflare_emulator import ACCOUNT, Fault

    emulator, database = cloud.emulator, cloud.database  # an account with a database and a 768-dimension index
    emulator.inject(Fault(path=r"/client/v4/", status=503, message="service unavailable", times=10**9))
    w = Wizard(tmp_path, "--no-launch", "--claude-code", "none", "--no-claude-desktop", "--data-dir",
               str(tmp_path / "data"), "--embedding-engine", "onnx", extra_env={
                   "CLOUDFLARE_API_BASE_URL": emulator.base_url, "CLOUDFLARE_API_TOKEN": "good-token",
                   "CLOUDFLARE_ACCOUNT_ID": ACCOUNT, "CLOUDFLARE_D1_DATABASE_ID": database})
    usage(w)
    w.expect("Where should memories be stored?")
    w.send(DOWN + ENTER)  # hybrid
    w.expect("Vectorize index name")
    w.send(ENTER)
    w.expect("Workers AI embedding model")
    w.send(ENTER)
    w.expect("✗ API token")
    w.expect("What now?")
    w.expect("Keep hybrid")  # the explicit choice, beside sqlite_vec
    w.send(DOWN + DOWN + ENTER)
    w.expect("Keeping hybrid")
    w.expect("Write these changes?")
    w.send("y" + ENTER)
    assert w.exit_status() == 0
    env_text = w.env_file.read_text(encoding="utf-8")
    assert "MCP_MEMORY_STORAGE_BACKEND=hybrid" in env_text and f"CLOUDFLARE_D1_DATABASE_ID={database}" in env_text


def test_a_leading_project_user_accepting_every_default_keeps_their_entry_and_gets_their_memories(tmp_path):
    from tests.support.mms_fixtures import real_database, sha256

    theirs = {"command": "memory", "args": ["server"]}
    database = real_database(tmp_path / "home" / ".local" / "share" / "mcp-memory")
    before = sha256(database)
    w = Wizard(tmp_path)
    w.desktop_config.write_text(json.dumps({"mcpServers": {"memory": theirs}}), encoding="utf-8")
    w.expect("mcp-memory-service: ")
    w.expect("11 memories")
    w.expect("Import the 11 memories of")
    w.send(ENTER)  # default: yes
    usage(w)
    for prompt in ("Where should memories be stored?", "Folder for the database", "Embedding engine",
                   "Which tool names should your AI clients see?", "Configure Claude Desktop",
                   "Configure Claude Code?"):
        w.expect(prompt)
        w.send(ENTER)
    w.expect("already has a server named 'memory' that is not ours; it runs: memory server")
    w.expect("Replace it?")
    w.send(ENTER)  # default: no, keep it and add ours as mcp-memory
    w.expect("Also start an HTTP server now")
    w.send("n" + ENTER)
    w.expect("import    11 memories from")  # in the plan, before the question
    w.expect("will list two memory servers")
    w.expect("Write these changes?")
    w.send("y" + ENTER)
    w.expect("imported: 11 memories")
    assert w.exit_status() == 0, w.transcript.getvalue()
    servers = json.loads(w.desktop_config.read_text(encoding="utf-8"))["mcpServers"]
    assert servers["memory"] == theirs and "mcp-memory" in servers
    assert "MCP_MEMORY_TOOL_PROFILE=unified" in w.env_file.read_text(encoding="utf-8")
    assert sha256(database) == before


def _still_waiting(w: Wizard, seconds: float = 1.5) -> None:
    """Nothing more happens until a key is pressed: the question was not answered by an earlier key."""
    before = w.transcript.getvalue()
    with pytest.raises(pexpect.TIMEOUT):
        w.child.expect(["Where should memories be stored", "Write these changes", "Configure", pexpect.EOF],
                       timeout=seconds)
    after = w.transcript.getvalue()
    assert "?" not in after[len(before):].replace("\x1b[?", ""), after[len(before):]  # no new question shown


def test_y_enter_at_a_yes_no_question_answers_that_question_only_and_typed_ahead_enters_answer_nothing(tmp_path):
    w = Wizard(tmp_path)
    w.expect("more than one computer?")
    w.send("y" + ENTER + ENTER)  # an Enter too many: before, "y" alone answered and both Enters ran on
    w.expect("Use a Cloudflare account for the copy?")
    _still_waiting(w)
    w.send("n" + ENTER)
    w.expect("Where should memories be stored?")
    w.send(ENTER)
    w.expect("Folder for the database")
    w.send(f"\x15{tmp_path / 'data'}{ENTER}")
    w.expect("Embedding engine")
    w.send(ENTER)
    w.expect("Configure Claude Desktop")
    w.send("y" + ENTER + ENTER + ENTER)
    w.expect("Configure Claude Code?")
    w.send(ENTER)  # none
    w.expect("Also start an HTTP server now")
    w.send("y" + ENTER + ENTER)
    w.expect("Write these changes?")
    _still_waiting(w)
    w.send(CTRL_C)
    assert w.exit_status() == 130 and w.nothing_written()


def test_uninstall_shows_what_goes_asks_everything_first_and_ctrl_c_at_any_question_changes_nothing(tmp_path):
    (tmp_path / "home" / ".config" / "Claude").mkdir(parents=True)
    home = Sandbox(tmp_path)
    installed = home.run("--non-interactive", "--no-launch", "--claude-code", "none",
                                     "--data-dir", str(tmp_path / "data"), "--skip-smoke-test")
    assert installed.returncode == 0, installed.stderr
    for stop_at in ("Make these changes?", "Also delete the settings file"):
        w = Wizard(tmp_path, "--uninstall")
        before = home.files()
        w.expect(f"{w.desktop_config}: remove 'memory'")
        w.expect("Make these changes?")
        if stop_at != "Make these changes?":
            w.send(ENTER)  # yes: still nothing is written until the last question is answered
            w.expect(stop_at)
        w.send(CTRL_C)
        w.expect("Interrupted: nothing was written.")
        assert w.exit_status() == 130
        assert home.files() == before
    w = Wizard(tmp_path, "--uninstall")
    w.expect("Make these changes?")
    w.send("n" + ENTER)
    w.expect("Nothing was changed.")
    assert w.exit_status() == 0 and home.files() == before
