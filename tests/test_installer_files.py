"""The installer's file writers, on real files in tmp dirs: merges keep what is not ours, writes are
checked, backed up and atomic, secrets stay masked, and client config paths follow each OS's layout."""

from __future__ import annotations

import io
import json
import stat
import sys
from datetime import datetime
from pathlib import Path

import pytest
from dotenv import dotenv_values

from installer.clients import (
    Platform,
    claude_code_project_config_path,
    claude_code_user_config_path,
    claude_desktop_config_path,
    find_claude_cli,
)
from installer.envfile import DEFAULT_HEADER, read_env_values, render_env
from installer.errors import ConfigFileError, FileChangedError, InstallerError, UsageError
from installer.files import FileChange, apply_changes, read_text_or_none
from installer.jsonconfig import get_server_entry, set_server_entry

NOW = datetime(2025, 1, 2, 3, 4, 5)
OURS = {
    "command": "/opt/venv/bin/python",
    "args": ["-I", "-m", "server"],
    "env": {"MCP_MEMORY_STORAGE_BACKEND": "sqlite_vec"},
}
DESKTOP_CONFIG = {
    "preferences": {"sidebarMode": "chat", "quickEntryShortcut": "off"},
    "mcpServers": {"filesystem": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"]}},
    "globalShortcut": "Ctrl+Space",
}
posix_modes = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    return path


def plan_entry(path: Path, entry: dict | None, container: tuple[str, ...] = ("mcpServers",)) -> FileChange:
    old = read_text_or_none(path)
    return FileChange(path, old, set_server_entry(old, path, container, "memory", entry), label="Claude Desktop config")


def siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- JSON client configs -------------------------------------------------------------------------


def test_setting_and_removing_our_entry_keeps_other_servers_and_top_level_keys(tmp_path):
    config = write(tmp_path / "claude_desktop_config.json", json.dumps(DESKTOP_CONFIG, indent=4))

    apply_changes([plan_entry(config, OURS)], now=NOW)
    written = json.loads(config.read_text(encoding="utf-8"))
    assert written["mcpServers"] == {**DESKTOP_CONFIG["mcpServers"], "memory": OURS}
    assert {k: v for k, v in written.items() if k != "mcpServers"} == {
        k: v for k, v in DESKTOP_CONFIG.items() if k != "mcpServers"
    }
    assert list(written) == list(DESKTOP_CONFIG)  # key order kept too
    assert get_server_entry(config.read_text(encoding="utf-8"), config, ["mcpServers"], "memory") == OURS

    apply_changes([plan_entry(config, None)], now=datetime(2025, 1, 2, 3, 4, 6))
    assert json.loads(config.read_text(encoding="utf-8")) == DESKTOP_CONFIG


def test_a_local_scope_entry_goes_under_its_project_in_claude_json_next_to_other_projects(tmp_path):
    user_config = claude_code_user_config_path(Platform("Linux", tmp_path, {}))
    project = str(tmp_path / "proj")
    old = {"numStartups": 3, "projects": {"/elsewhere": {"mcpServers": {}, "allowedTools": ["x"]}}}
    write(user_config, json.dumps(old))

    apply_changes([plan_entry(user_config, OURS, ("projects", project, "mcpServers"))], now=NOW)

    written = json.loads(user_config.read_text(encoding="utf-8"))
    assert written == {"numStartups": 3, "projects": {**old["projects"], project: {"mcpServers": {"memory": OURS}}}}


def test_an_entry_that_is_already_right_leaves_differently_formatted_text_byte_identical():
    old = '{"mcpServers":{"memory":' + json.dumps(OURS) + '},   "x": 1}'
    assert set_server_entry(old, Path("c.json"), ["mcpServers"], "memory", dict(OURS)) == old
    assert set_server_entry(old, Path("c.json"), ["mcpServers"], "absent", None) == old


def test_removing_from_a_missing_config_plans_nothing(tmp_path):
    change = plan_entry(tmp_path / "Claude" / "claude_desktop_config.json", None)
    assert change.action == "unchanged"
    assert apply_changes([change], now=NOW) == []
    assert not (tmp_path / "Claude").exists()


def test_invalid_json_is_refused_with_its_position_and_the_file_is_left_byte_for_byte(tmp_path):
    original = b'{\n  "mcpServers": {\n    "filesystem": {"command": "npx",}\n  }\n}\n'
    config = tmp_path / "claude_desktop_config.json"
    config.write_bytes(original)

    with pytest.raises(ConfigFileError) as caught:
        apply_changes([plan_entry(config, OURS)], now=NOW)

    message = str(caught.value)
    assert str(config) in message and "line 3" in message and "left untouched" in message
    assert caught.value.hint and "move it" in caught.value.hint
    assert caught.value.exit_code == 1
    assert config.read_bytes() == original
    assert siblings(config) == ["claude_desktop_config.json"]


@pytest.mark.parametrize("text", ["[1, 2]", '"text"', '{"mcpServers": ["memory"]}', '{"mcpServers": null}'])
def test_a_config_that_is_not_an_object_down_to_our_container_is_refused(text):
    with pytest.raises(ConfigFileError, match="not .*object.*left untouched"):
        set_server_entry(text, Path("c.json"), ["mcpServers"], "memory", OURS)


# --- Applying changes ----------------------------------------------------------------------------


def test_a_second_identical_render_is_unchanged_and_apply_writes_nothing_and_makes_no_backup(tmp_path):
    config = write(tmp_path / "claude_desktop_config.json", json.dumps(DESKTOP_CONFIG))
    env_file = write(tmp_path / ".env", "A=1\n")
    first = [plan_entry(config, OURS), FileChange(env_file, "A=1\n", render_env("A=1\n", {"B": "2"}))]
    assert [c.action for c in first] == ["update", "update"]
    assert len(apply_changes(first, now=NOW)) == 2
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in tmp_path.iterdir()}

    env_text = read_text_or_none(env_file)
    second = [plan_entry(config, OURS), FileChange(env_file, env_text, render_env(env_text, {"B": "2"}))]

    assert [c.action for c in second] == ["unchanged", "unchanged"]
    assert [c.diff() for c in second] == ["", ""]
    assert apply_changes(second, now=datetime(2025, 1, 2, 3, 4, 6)) == []
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in tmp_path.iterdir()} == before


@posix_modes
def test_a_backup_next_to_the_file_holds_the_old_content_and_mode_and_never_overwrites_an_earlier_one(tmp_path):
    config = write(tmp_path / "config.json", "{}")
    config.chmod(0o640)

    first = apply_changes([plan_entry(config, OURS)], now=NOW)
    second = apply_changes([plan_entry(config, {"command": "other"})], now=NOW)

    assert first == [tmp_path / "config.json.bak-20250102-030405"]
    assert second == [tmp_path / "config.json.bak-20250102-030405-1"]
    assert first[0].read_text(encoding="utf-8") == "{}"
    assert json.loads(second[0].read_text(encoding="utf-8")) == {"mcpServers": {"memory": OURS}}
    assert mode_of(first[0]) == 0o640
    assert mode_of(config) == 0o640  # an update without a mode keeps the file's own
    assert not [name for name in siblings(config) if name.endswith(".tmp")]


@posix_modes
def test_a_file_holding_secrets_is_written_with_mode_0600_in_new_private_folders(tmp_path):
    new_env = tmp_path / "data" / "mcp-memory" / ".env"
    old_env = write(tmp_path / "old" / ".env", "A=1\n")
    old_env.chmod(0o644)

    apply_changes(
        [
            FileChange(new_env, None, render_env(None, {"CLOUDFLARE_API_TOKEN": "tok"}), mode=0o600),
            FileChange(old_env, "A=1\n", render_env("A=1\n", {"CLOUDFLARE_API_TOKEN": "tok"}), mode=0o600),
        ],
        now=NOW,
    )

    assert mode_of(new_env) == 0o600 and mode_of(old_env) == 0o600
    assert mode_of(tmp_path / "data") == 0o700 and mode_of(tmp_path / "data" / "mcp-memory") == 0o700
    assert read_env_values(new_env.read_text(encoding="utf-8")) == {"CLOUDFLARE_API_TOKEN": "tok"}


def test_a_file_changed_since_planning_aborts_the_whole_batch_before_any_write(tmp_path):
    env_file = write(tmp_path / ".env", "A=1\n")
    config = write(tmp_path / "claude_desktop_config.json", "{}")
    changes = [FileChange(env_file, "A=1\n", "A=2\n"), plan_entry(config, OURS)]
    write(config, '{"edited": "by the user"}')  # e.g. the app saved its preferences meanwhile

    with pytest.raises(FileChangedError) as caught:
        apply_changes(changes, now=NOW)

    assert str(config) in str(caught.value) and "nothing was written" in str(caught.value)
    assert caught.value.hint and "again" in caught.value.hint
    assert env_file.read_text(encoding="utf-8") == "A=1\n"
    assert config.read_text(encoding="utf-8") == '{"edited": "by the user"}'
    assert siblings(config) == [".env", "claude_desktop_config.json"]


def test_a_file_that_appeared_since_planning_is_not_overwritten(tmp_path):
    config = tmp_path / "claude_desktop_config.json"
    change = plan_entry(config, OURS)
    write(config, "{}")
    with pytest.raises(FileChangedError):
        apply_changes([change], now=NOW)
    assert config.read_text(encoding="utf-8") == "{}"


def test_a_write_failing_midway_names_the_file_and_keeps_earlier_files_written(tmp_path):
    # The first change creates a *file* where the second needs a folder, so the second write fails.
    blocker = tmp_path / "blocker"
    inner = blocker / "inner.json"
    changes = [FileChange(blocker, None, "first\n"), FileChange(inner, None, "second\n")]

    with pytest.raises(ConfigFileError) as caught:
        apply_changes(changes, now=NOW)

    assert str(inner) in str(caught.value)
    assert isinstance(caught.value.__cause__, OSError)
    assert blocker.read_text(encoding="utf-8") == "first\n"
    assert siblings(blocker) == ["blocker"]


def test_crlf_text_is_written_without_newline_translation(tmp_path):
    env_file = write(tmp_path / ".env", "# mine\r\nA=1\r\n")
    new = render_env("# mine\r\nA=1\r\n", {"A": "2", "B": "3"})
    apply_changes([FileChange(env_file, read_text_or_none(env_file), new)], now=NOW)
    assert env_file.read_bytes() == f"# mine\r\nA=2\r\n\r\n{DEFAULT_HEADER}\r\nB=3\r\n".encode()


# --- .env files ----------------------------------------------------------------------------------

USER_ENV = """\
# my notes about this file
OTHER_KEY=keep me  # inline comment
export PATH_LIKE=/usr/bin:/bin

MCP_MEMORY_STORAGE_BACKEND=cloudflare
CLOUDFLARE_API_TOKEN='old-token'
   # indented comment
MCP_MEMORY_STORAGE_BACKEND=hybrid
UNPARSED LINE
"""


def test_env_render_updates_only_our_keys_and_keeps_every_other_line_byte_for_byte():
    new = render_env(USER_ENV, {"MCP_MEMORY_STORAGE_BACKEND": "sqlite_vec", "CLOUDFLARE_API_TOKEN": None, "NEW": "x"})

    assert new == (
        "# my notes about this file\n"
        "OTHER_KEY=keep me  # inline comment\n"
        "export PATH_LIKE=/usr/bin:/bin\n"
        "\n"
        "MCP_MEMORY_STORAGE_BACKEND=sqlite_vec\n"
        "   # indented comment\n"
        "UNPARSED LINE\n"
        "\n"
        f"{DEFAULT_HEADER}\n"
        "NEW=x\n"
    )
    assert read_env_values(new) == {
        "OTHER_KEY": "keep me",
        "PATH_LIKE": "/usr/bin:/bin",
        "MCP_MEMORY_STORAGE_BACKEND": "sqlite_vec",
        "NEW": "x",
    }


def test_env_render_keeps_an_export_prefix_and_leaves_a_right_value_in_its_own_spelling():
    old = "export A='1'  # why\nB=old\n"
    assert render_env(old, {"A": "1", "B": "new"}) == "export A='1'  # why\nB=new\n"
    assert render_env("export B=old\n", {"B": "new"}) == "export B=new\n"


def test_env_render_is_idempotent_and_writes_its_header_once_across_runs():
    first = render_env("# user\nA=1", {"B": "2"})
    assert first == f"# user\nA=1\n\n{DEFAULT_HEADER}\nB=2\n"
    assert render_env(first, {"B": "2"}) == first

    later = render_env(first, {"C": "3", "B": "4"})
    assert later.count(DEFAULT_HEADER) == 1
    assert later == f"# user\nA=1\n\n{DEFAULT_HEADER}\nB=4\nC=3\n"
    assert render_env(later, {"C": "3", "B": "4"}) == later
    assert render_env(None, {}) == "" and render_env(None, {"A": None}) == ""


TRICKY = [
    "has spaces",
    " leading and trailing ",
    'double "quotes"',
    "single 'quotes'",
    "'starts with a quote",
    "hash # in the middle",
    "#starts-with-hash",
    "a=b=c",
    "back\\slash",
    "ends with backslash\\",
    "\\n is not a newline",
    'mixed \\" escape',
    "real\nnewline and\ttab and\rcr",
    "unicode: café ✓ 日本語 🚀",
    "",
    "$HOME and $ alone",
    "plain-token_123.abc:/x@y+z",
]


@pytest.mark.parametrize("value", TRICKY)
def test_tricky_values_round_trip_through_dotenv_when_added_and_when_replaced(value):
    added = render_env("# user\nOTHER=1\n", {"KEY": value, "AFTER": "ok"})
    replaced = render_env("KEY=old\nAFTER=x\n", {"KEY": value, "AFTER": "ok"})
    for text in (added, replaced):
        assert dotenv_values(stream=io.StringIO(text))["KEY"] == value
        assert read_env_values(text)["AFTER"] == "ok"  # the value did not swallow the next line
        assert render_env(text, {"KEY": value, "AFTER": "ok"}) == text


def test_a_value_dotenv_would_expand_as_a_variable_is_refused_as_a_usage_error():
    with pytest.raises(UsageError) as caught:
        render_env(None, {"MCP_API_KEY": "abc${HOME}"})
    assert "MCP_API_KEY" in str(caught.value) and caught.value.exit_code == 2


def test_read_env_values_of_no_file_is_empty_and_keys_without_values_are_left_out():
    assert read_env_values(None) == {}
    assert read_env_values("A\nB=\n") == {"B": ""}


# --- Showing changes -----------------------------------------------------------------------------


def test_secrets_are_masked_in_diffs_including_their_escaped_spellings():
    token = 'zq"xv\\sekrit'  # fragments that no comment in the template contains
    env_text = render_env("A=1\n", {"CLOUDFLARE_API_TOKEN": token})
    env_change = FileChange(Path(".env"), "A=1\n", env_text, secrets=(token,))
    json_change = FileChange(Path("c.json"), None, json.dumps({"env": {"T": token}}) + "\n", secrets=(token,))

    env_diff, json_diff = env_change.diff(), json_change.diff()

    assert env_change.action == "update" and json_change.action == "create"
    assert "+CLOUDFLARE_API_TOKEN=\"****\"\n" in env_diff and " A=1\n" in env_diff
    assert json_diff.startswith("--- /dev/null\n+++ c.json\n") and '+{"env": {"T": "****"}}\n' in json_diff
    for diff in (env_diff, json_diff):
        assert "sekrit" not in diff and "zq" not in diff


# --- Client config locations ---------------------------------------------------------------------


def test_claude_desktop_on_macos_lives_in_application_support_once_the_app_folder_exists(tmp_path):
    mac = Platform("Darwin", tmp_path, {})
    assert claude_desktop_config_path(mac) is None
    folder = tmp_path / "Library" / "Application Support" / "Claude"
    folder.mkdir(parents=True)
    assert claude_desktop_config_path(mac) == folder / "claude_desktop_config.json"


def test_claude_desktop_on_windows_prefers_the_msix_folder_over_the_classic_appdata_one(tmp_path):
    env = {"APPDATA": str(tmp_path / "Roaming"), "LOCALAPPDATA": str(tmp_path / "Local")}
    windows = Platform("Windows", tmp_path / "home", env)
    assert claude_desktop_config_path(windows) is None

    classic = tmp_path / "Roaming" / "Claude"
    classic.mkdir(parents=True)
    assert claude_desktop_config_path(windows) == classic / "claude_desktop_config.json"

    (tmp_path / "Local" / "Packages" / "Claude_pzs8sxrjxfjjc").mkdir(parents=True)  # no Roaming copy yet
    assert claude_desktop_config_path(windows) == classic / "claude_desktop_config.json"
    msix = tmp_path / "Local" / "Packages" / "Claude_pzs8sxrjxfjjc" / "LocalCache" / "Roaming" / "Claude"
    msix.mkdir(parents=True)
    assert claude_desktop_config_path(windows) == msix / "claude_desktop_config.json"


def test_claude_desktop_on_windows_without_appdata_variables_uses_the_home_folder_layout(tmp_path):
    folder = tmp_path / "AppData" / "Roaming" / "Claude"
    folder.mkdir(parents=True)
    assert claude_desktop_config_path(Platform("Windows", tmp_path, {})) == folder / "claude_desktop_config.json"


def test_claude_desktop_on_linux_follows_xdg_config_home_or_defaults_to_dot_config(tmp_path):
    home = tmp_path / "home"
    xdg = tmp_path / "xdg"
    (home / ".config" / "Claude").mkdir(parents=True)
    (xdg / "Claude").mkdir(parents=True)

    default = home / ".config" / "Claude" / "claude_desktop_config.json"
    assert claude_desktop_config_path(Platform("Linux", home, {})) == default
    assert claude_desktop_config_path(Platform("Linux", home, {"XDG_CONFIG_HOME": str(xdg)})) == (
        xdg / "Claude" / "claude_desktop_config.json"
    )
    assert claude_desktop_config_path(Platform("Linux", home, {"XDG_CONFIG_HOME": str(tmp_path / "none")})) is None
    assert claude_desktop_config_path(Platform("Linux", tmp_path / "nobody", {})) is None


def test_claude_code_configs_are_in_the_home_folder_and_the_project(tmp_path):
    assert claude_code_user_config_path(Platform("Darwin", tmp_path, {})) == tmp_path / ".claude.json"
    assert claude_code_project_config_path(tmp_path / "proj") == tmp_path / "proj" / ".mcp.json"


@posix_modes
def test_the_claude_cli_is_found_on_the_given_path_only(tmp_path):
    bin_dir = tmp_path / "bin"
    cli = write(bin_dir / "claude", "#!/bin/sh\n")
    cli.chmod(0o755)
    assert find_claude_cli({"PATH": str(bin_dir)}) == str(cli)
    assert find_claude_cli({"PATH": str(tmp_path / "empty")}) is None


def test_every_installer_error_carries_a_hint_and_an_exit_code():
    assert issubclass(ConfigFileError, InstallerError) and issubclass(FileChangedError, InstallerError)
    error = UsageError("--backend is required", hint="Pass --backend sqlite_vec")
    assert (str(error), error.hint, error.exit_code) == ("--backend is required", "Pass --backend sqlite_vec", 2)
    assert InstallerError("x").hint is None and InstallerError("x").exit_code == 1
