"""The installer's non-interactive path, as CI uses it: real subprocesses, a temporary HOME, real files."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.installer import Sandbox


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    box = Sandbox(tmp_path)
    (box.home / ".config" / "Claude").mkdir(parents=True)  # Claude Desktop is "installed"
    return box


BASE = ("--non-interactive", "--no-launch", "--claude-code", "none")


def test_a_ci_install_writes_sqlite_vec_everywhere_and_passes_the_smoke_test(sandbox):
    done = sandbox.run(*BASE, "--data-dir", str(sandbox.root / "data"))
    assert done.returncode == 0, done.stderr
    assert "Smoke test" in done.stderr and "ok: connected" in done.stderr
    env_text = sandbox.env_file.read_text(encoding="utf-8")
    assert "MCP_MEMORY_STORAGE_BACKEND=sqlite_vec" in env_text
    assert f"MCP_MEMORY_BASE_DIR={sandbox.root / 'data'}" in env_text
    assert stat.S_IMODE(sandbox.env_file.stat().st_mode) == 0o600
    entry = json.loads(sandbox.desktop_config.read_text(encoding="utf-8"))["mcpServers"]["memory"]
    assert Path(entry["command"]).is_absolute() and entry["args"] == ["-I", "-m", "server"]
    assert entry["env"] == {"MCP_MEMORY_ENV_FILE": str(sandbox.env_file)}
    assert (sandbox.root / "data" / "memories.db").exists()


def test_a_second_run_with_the_same_answers_changes_nothing_and_says_so(sandbox):
    assert sandbox.run(*BASE, "--skip-smoke-test").returncode == 0
    before = sandbox.files()
    again = sandbox.run(*BASE, "--skip-smoke-test")
    assert again.returncode == 0, again.stderr
    assert "nothing was changed" in again.stderr
    assert sandbox.files() == before  # byte for byte, and no backup files appeared


def test_dry_run_prints_the_plan_and_diffs_and_writes_nothing(sandbox):
    assert sandbox.run(*BASE, "--skip-smoke-test").returncode == 0
    before = sandbox.files()
    done = sandbox.run(*BASE, "--dry-run", "--data-dir", str(sandbox.root / "elsewhere"))
    assert done.returncode == 0, done.stderr
    assert "Dry run: nothing was written." in done.stderr
    assert f"+MCP_MEMORY_BASE_DIR={sandbox.root / 'elsewhere'}" in done.stderr
    assert sandbox.files() == before


def test_precedence_is_flag_then_environment_then_env_file_then_default(sandbox):
    sandbox.env_file.parent.mkdir(parents=True)
    sandbox.env_file.write_text("# mine\nMCP_MEMORY_BASE_DIR=/from/envfile\nOTHER_KEY=kept\n", encoding="utf-8")

    def planned_dir(*args: str, **env: str) -> str:
        done = sandbox.run(*BASE, "--dry-run", *args, env=sandbox.environ(**env))
        assert done.returncode == 0, done.stderr
        return done.stderr.split("data in ", 1)[1].split(",", 1)[0]

    assert planned_dir() == "/from/envfile"
    assert planned_dir(MCP_MEMORY_BASE_DIR="/from/environment") == "/from/environment"
    assert planned_dir("--data-dir", "/from/flag", MCP_MEMORY_BASE_DIR="/from/environment") == "/from/flag"
    sandbox.env_file.unlink()
    assert planned_dir() == str(sandbox.home / ".local" / "share" / "mcp-memory")


def test_the_env_file_keeps_other_keys_and_comments(sandbox):
    sandbox.env_file.parent.mkdir(parents=True)
    sandbox.env_file.write_text("# my comment\nOTHER_KEY=kept\nMCP_EMBEDDING_ENGINE=onnx\n", encoding="utf-8")
    assert sandbox.run(*BASE, "--skip-smoke-test").returncode == 0
    text = sandbox.env_file.read_text(encoding="utf-8")
    assert text.startswith("# my comment\nOTHER_KEY=kept\nMCP_EMBEDDING_ENGINE=onnx\n")
    assert "MCP_MEMORY_STORAGE_BACKEND=sqlite_vec" in text


def test_other_servers_and_unknown_keys_in_the_desktop_config_are_kept_with_a_backup(sandbox):
    original = {"preferences": {"theme": "dark"}, "mcpServers": {"other": {"command": "/bin/other", "args": ["x"]}}}
    sandbox.desktop_config.write_text(json.dumps(original), encoding="utf-8")
    assert sandbox.run(*BASE, "--skip-smoke-test").returncode == 0
    merged = json.loads(sandbox.desktop_config.read_text(encoding="utf-8"))
    assert merged["preferences"] == original["preferences"]
    assert merged["mcpServers"]["other"] == original["mcpServers"]["other"]
    assert "memory" in merged["mcpServers"]
    backups = list((sandbox.env_file.parent / "backups").glob("*claude_desktop_config.json.bak-*"))
    assert len(backups) == 1 and json.loads(backups[0].read_text(encoding="utf-8")) == original
    assert not list(sandbox.desktop_config.parent.glob("*.bak-*"))


def test_an_unparsable_desktop_config_is_known_before_any_question_skipped_by_default_refused_when_asked_for(sandbox):
    broken = '{"mcpServers": {,}'
    sandbox.desktop_config.write_text(broken, encoding="utf-8")
    asked = sandbox.run(*BASE, "--skip-smoke-test", "--claude-desktop")
    assert asked.returncode == 2
    assert str(sandbox.desktop_config) in asked.stderr and "not valid JSON" in asked.stderr
    assert "Cannot use:" in asked.stderr.split("error:")[0]  # reported with what was found, up front
    assert not sandbox.env_file.exists()

    default = sandbox.run(*BASE, "--skip-smoke-test")
    assert default.returncode == 0, default.stderr
    assert "note: Claude Desktop is skipped:" in default.stderr
    assert sandbox.desktop_config.read_text(encoding="utf-8") == broken and sandbox.env_file.exists()


def test_hybrid_without_cloudflare_values_exits_2_naming_them_and_writes_nothing(sandbox):
    done = sandbox.run(*BASE, "--storage-backend", "hybrid")
    assert done.returncode == 2
    assert "--cloudflare-api-token-file" in done.stderr and "CLOUDFLARE_API_TOKEN" in done.stderr
    assert not sandbox.env_file.exists() and not sandbox.desktop_config.exists()


def test_a_bad_environment_value_fails_with_exit_code_2_naming_the_flag(sandbox):
    # No --no-launch here: a flag would win over the environment and the bad value would never be read.
    done = sandbox.run("--non-interactive", "--claude-code", "none", env=sandbox.environ(MCP_INSTALL_LAUNCH="maybe"))
    assert done.returncode == 2
    assert "MCP_INSTALL_LAUNCH='maybe'" in done.stderr and "--launch" in done.stderr


def test_without_a_terminal_the_installer_says_so_and_runs_non_interactively(sandbox):
    done = sandbox.run("--no-launch", "--claude-code", "none", "--skip-smoke-test")
    assert done.returncode == 0, done.stderr
    assert "stdin is not a terminal" in done.stderr


def test_no_secret_from_the_environment_reaches_a_client_config(sandbox):
    done = sandbox.run(*BASE, "--skip-smoke-test", env=sandbox.environ(MCP_API_KEY="super-secret-key"))
    assert done.returncode == 0, done.stderr
    assert "super-secret-key" not in sandbox.desktop_config.read_text(encoding="utf-8")
    assert "super-secret-key" not in done.stderr


def test_unattended_uninstall_without_yes_refuses_in_one_line_and_changes_nothing(sandbox):
    assert sandbox.run(*BASE, "--data-dir", str(sandbox.root / "data")).returncode == 0
    before = sandbox.files()
    refused = sandbox.run("--uninstall")
    assert refused.returncode == 2 and "needs --yes" in refused.stderr and "Traceback" not in refused.stderr
    assert sandbox.files() == before
    shown = sandbox.run("--uninstall", "--dry-run")
    assert shown.returncode == 0 and f"{sandbox.desktop_config}: remove 'memory'" in shown.stderr
    assert sandbox.files() == before


def test_uninstall_removes_only_our_entry_and_keeps_the_data(sandbox):
    sandbox.desktop_config.write_text(json.dumps({"mcpServers": {"other": {"command": "/bin/o"}}}), encoding="utf-8")
    assert sandbox.run(*BASE, "--data-dir", str(sandbox.root / "data")).returncode == 0
    done = sandbox.run("--uninstall", "--yes")
    assert done.returncode == 0, done.stderr
    assert json.loads(sandbox.desktop_config.read_text(encoding="utf-8")) == {"mcpServers": {"other": {"command": "/bin/o"}}}
    assert (sandbox.root / "data" / "memories.db").exists()
    assert len(list((sandbox.env_file.parent / "backups").glob("*claude_desktop_config.json.bak-*"))) == 2  # one per change


def test_doctor_passes_on_a_good_install_and_fails_when_the_interpreter_is_gone(sandbox):
    assert sandbox.run(*BASE, "--data-dir", str(sandbox.root / "data")).returncode == 0
    good = sandbox.run("doctor")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "All checks passed." in good.stdout
    config = json.loads(sandbox.desktop_config.read_text(encoding="utf-8"))
    config["mcpServers"]["memory"]["command"] = str(sandbox.root / "gone" / "python")
    sandbox.desktop_config.write_text(json.dumps(config), encoding="utf-8")
    bad = sandbox.run("doctor")
    assert bad.returncode == 1
    assert "does not exist or cannot run" in bad.stdout


def test_uninstall_with_remove_data_deletes_the_database(sandbox):
    assert sandbox.run(*BASE, "--data-dir", str(sandbox.root / "data")).returncode == 0
    done = sandbox.run("--uninstall", "--remove-data", "--yes")
    assert done.returncode == 0, done.stderr
    assert not (sandbox.root / "data" / "memories.db").exists()
    assert "memory" not in json.loads(sandbox.desktop_config.read_text(encoding="utf-8"))["mcpServers"]


def test_the_planned_server_command_is_not_shadowed_by_a_server_module_in_the_clients_folder(tmp_path):
    from installer.plan import SERVER_ARGS

    project = tmp_path / "someones-project"
    project.mkdir()
    (project / "server.py").write_text("import sys\nprint('decoy')\nsys.exit(3)\n", encoding="utf-8")
    plain = subprocess.run([sys.executable, "-m", "server", "--help"], cwd=project, capture_output=True, text=True,
                           timeout=60)
    assert plain.returncode == 3 and "decoy" in plain.stdout  # what -m alone would start
    planned = subprocess.run([sys.executable, *SERVER_ARGS, "--help"], cwd=project, capture_output=True, text=True,
                             timeout=60)
    assert planned.returncode == 0 and "usage: python -m server" in planned.stdout


def test_a_failing_smoke_test_says_the_real_reason_not_a_task_group(tmp_path):
    import gzip

    from installer.errors import InstallerError
    from installer.smoke import smoke_test
    from tests.support.mms_fixtures import FIXTURE

    theirs = tmp_path / "theirs.db"
    theirs.write_bytes(gzip.decompress((FIXTURE / "sqlite_vec.db.gz").read_bytes()))
    env_file = tmp_path / ".env"
    env_file.write_text(f"MCP_MEMORY_SQLITE_PATH={theirs}\n", encoding="utf-8")
    with pytest.raises(InstallerError) as failed:
        smoke_test({"command": sys.executable, "args": ["-I", "-m", "server"],
                    "env": {"MCP_MEMORY_ENV_FILE": str(env_file), "MCP_MEMORY_DAEMON": "off"}})  # in this HOME
    assert "TaskGroup" not in failed.value.message
    assert "The smoke test failed: " in failed.value.message and "not ours" in failed.value.message


def test_the_opening_summary_never_shows_an_api_key_from_the_env_file(sandbox):
    sandbox.env_file.parent.mkdir(parents=True)
    sandbox.env_file.write_text("MCP_API_KEY=very-secret-key-123\nMCP_LOG_LEVEL=INFO\n", encoding="utf-8")
    done = sandbox.run(*BASE, "--skip-smoke-test", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "MCP_API_KEY=****" in done.stderr and "MCP_LOG_LEVEL=INFO" in done.stderr
    assert "very-secret-key-123" not in done.stdout + done.stderr
