"""Living beside the leading project: its database and its client entries are never written to.

Each test hashes the other program's files before and after, with real subprocesses of the server and
the installer on a real mcp-memory-service 12.4.0 database."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from server.errors import ForeignDatabaseError
from server.settings import settings_from_values
from server.storage.local.identify import identify, require_ours
from server.storage.local.sqlite_vec import SqliteVecStorage
from tests.conftest import PYTHON, REPO, server_env
from tests.support.mms_fixtures import real_database, sha256
from tests.test_installer_noninteractive import BASE, Sandbox

THEIR_ENTRY = {"command": "memory", "args": ["server"]}


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    box = Sandbox(tmp_path)
    (box.home / ".config" / "Claude").mkdir(parents=True)
    return box


def their_install(box: Sandbox) -> tuple[Path, Path]:
    """The leading project as its users have it: its database in the shared data folder, its entry."""
    database = real_database(box.home / ".local" / "share" / "mcp-memory")
    box.desktop_config.write_text(json.dumps({"mcpServers": {"memory": THEIR_ENTRY}}, indent=2), encoding="utf-8")
    return database, box.desktop_config


def test_the_leading_projects_database_is_identified_read_only_and_described(tmp_path):
    database = real_database(tmp_path)
    before = sha256(database)
    found = identify(database)
    assert found.kind == "foreign"
    assert found.description == "an mcp-memory-service 12.x database (schema 19) with 11 memories"
    with pytest.raises(ForeignDatabaseError, match="import its memories"):
        require_ours(database)
    assert sha256(database) == before and sorted(p.name for p in tmp_path.iterdir()) == ["sqlite_vec.db"]


def test_a_storage_opened_on_a_foreign_file_refuses_before_writing_anything(tmp_path, embedder):
    database = real_database(tmp_path)
    before = sha256(database)
    store = SqliteVecStorage(database, settings_from_values({}).sqlite_pragmas, embedder)
    with pytest.raises(ForeignDatabaseError):
        store.open()
    assert sha256(database) == before and sorted(p.name for p in tmp_path.iterdir()) == ["sqlite_vec.db"]


def test_the_server_refuses_a_foreign_database_in_one_line_and_leaves_it_byte_identical(tmp_path):
    database = real_database(tmp_path / "theirs")
    before = sha256(database)
    env = server_env(tmp_path, MCP_MEMORY_SQLITE_PATH=str(database))
    done = subprocess.run([PYTHON, "-m", "server"], env=env, cwd=REPO, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "an mcp-memory-service 12.x database (schema 19) with 11 memories" in lines[0]
    assert "install.py import" in lines[0] and "MCP_MEMORY_SQLITE_PATH" in lines[0]
    assert sha256(database) == before and sorted(p.name for p in database.parent.iterdir()) == ["sqlite_vec.db"]


def test_our_default_file_name_is_not_the_leading_projects_and_an_old_database_of_ours_keeps_being_used(tmp_path,
                                                                                                        embedder):
    assert settings_from_values({"MCP_MEMORY_BASE_DIR": str(tmp_path)}).database_path == tmp_path / "memories.db"
    real_database(tmp_path)  # theirs at sqlite_vec.db: not ours, so not used
    assert settings_from_values({"MCP_MEMORY_BASE_DIR": str(tmp_path)}).database_path == tmp_path / "memories.db"
    mine = tmp_path / "mine"
    old = SqliteVecStorage(mine / "sqlite_vec.db", settings_from_values({}).sqlite_pragmas, embedder)
    old.open()  # an installation of ours from before the rename
    old.close()
    assert settings_from_values({"MCP_MEMORY_BASE_DIR": str(mine)}).database_path == mine / "sqlite_vec.db"


def test_a_default_install_beside_the_leading_project_works_and_keeps_its_database_and_entry(sandbox):
    database, config = their_install(sandbox)
    before = sha256(database)
    done = sandbox.run(*BASE)
    assert done.returncode == 0, done.stderr
    assert "mcp-memory-service: " in done.stderr and "11 memories" in done.stderr  # shown, not imported unasked
    servers = json.loads(config.read_text(encoding="utf-8"))["mcpServers"]
    assert servers["memory"] == THEIR_ENTRY
    assert servers["mcp-memory"]["args"] == ["-I", "-m", "server"]
    assert (database.parent / "memories.db").exists()
    assert sha256(database) == before

    doctor = sandbox.run("doctor")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "'mcp-memory' starts" in doctor.stdout
    again = sandbox.run(*BASE, "--skip-smoke-test")  # a re-run keeps our entry where it is
    assert again.returncode == 0 and "nothing was changed" in again.stderr, again.stderr

    gone = sandbox.run("--uninstall", "--remove-data", "--yes")
    assert gone.returncode == 0, gone.stderr
    assert json.loads(config.read_text(encoding="utf-8"))["mcpServers"] == {"memory": THEIR_ENTRY}
    assert not (database.parent / "memories.db").exists()
    assert sha256(database) == before


def test_installer_doctor_and_uninstall_never_touch_a_foreign_file_named_as_our_database(sandbox):
    database, config = their_install(sandbox)
    before, config_before = sha256(database), sha256(config)
    sandbox.env_file.parent.mkdir(parents=True)
    sandbox.env_file.write_text(f"MCP_MEMORY_SQLITE_PATH={database}\n", encoding="utf-8")
    done = sandbox.run(*BASE)
    assert done.returncode == 2, done.stderr
    assert "mcp-memory-service 12.x database" in done.stderr and "left untouched" in done.stderr
    assert "--import-from" in done.stderr and sha256(config) == config_before  # refused before writing anything
    doctor = sandbox.run("doctor")
    assert doctor.returncode == 1 and "✗ database" in doctor.stdout and "not ours" in doctor.stdout
    gone = sandbox.run("--uninstall", "--remove-data", "--yes")
    assert gone.returncode == 0 and "kept, it is an mcp-memory-service 12.x database" in gone.stderr
    assert sha256(database) == before
    assert sorted(p.name for p in database.parent.iterdir()) == ["sqlite_vec.db"]


def test_replacing_their_entry_keeps_a_backup_and_uninstall_puts_it_back(sandbox):
    _, config = their_install(sandbox)
    original = config.read_text(encoding="utf-8")
    done = sandbox.run(*BASE, "--skip-smoke-test", "--replace-existing-entry")
    assert done.returncode == 0, done.stderr
    assert "replacing the existing one" in done.stderr
    servers = json.loads(config.read_text(encoding="utf-8"))["mcpServers"]
    assert list(servers) == ["memory"] and servers["memory"]["args"] == ["-I", "-m", "server"]
    backups = sandbox.env_file.parent / "backups"
    assert any(p.read_text(encoding="utf-8") == original for p in backups.glob("*.bak-*"))
    assert not list(config.parent.glob("*.bak-*"))  # none beside the person's own config
    record = sandbox.env_file.with_name("replaced-client-entries.json")
    assert oct(record.stat().st_mode & 0o777) == "0o600"
    gone = sandbox.run("--uninstall", "--yes")
    assert gone.returncode == 0, gone.stderr
    assert json.loads(config.read_text(encoding="utf-8"))["mcpServers"] == {"memory": THEIR_ENTRY}
    assert "restore the original 'memory'" in gone.stderr


def test_an_entry_of_another_server_named_memory_is_kept_in_claude_codes_config_too(sandbox):
    claude_json = sandbox.home / ".claude.json"
    other = {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-memory"]}
    claude_json.parent.mkdir(parents=True, exist_ok=True)
    claude_json.write_text(json.dumps({"numStartups": 3, "mcpServers": {"memory": other}}), encoding="utf-8")
    done = sandbox.run("--non-interactive", "--no-launch", "--claude-code", "user", "--skip-smoke-test",
                       env=sandbox.environ(PATH=os.defpath.replace(":/usr/local/bin", "")))
    assert done.returncode == 0, done.stderr
    data = json.loads(claude_json.read_text(encoding="utf-8"))
    assert data["mcpServers"]["memory"] == other and data["numStartups"] == 3
    assert data["mcpServers"]["mcp-memory"]["args"] == ["-I", "-m", "server"]


def _env_values(box: Sandbox) -> dict[str, str]:
    from installer.envfile import read_env_values

    return read_env_values(box.env_file.read_text(encoding="utf-8"))


def test_a_user_of_its_11_plus_release_gets_its_tool_names_unless_a_flag_or_the_environment_says_otherwise(sandbox):
    database, _ = their_install(sandbox)
    before = sha256(database)
    done = sandbox.run(*BASE, "--skip-smoke-test")
    assert done.returncode == 0, done.stderr
    assert _env_values(sandbox)["MCP_MEMORY_TOOL_PROFILE"] == "unified"  # its prompts say memory_store, ...
    # Keeping its entry means two memory servers: said in the plan (before anything is written) and at the end.
    assert done.stderr.count("will list two memory servers") == 2, done.stderr
    assert "--import-from auto --replace-existing-entry" in done.stderr
    flagged = sandbox.run(*BASE, "--skip-smoke-test", "--tool-profile", "classic")
    assert flagged.returncode == 0 and _env_values(sandbox)["MCP_MEMORY_TOOL_PROFILE"] == "classic"
    # The .env says classic now: an import of its 11+ database does not override it.
    imported = sandbox.run(*BASE, "--skip-smoke-test", "--import-from", str(database))
    assert imported.returncode == 0 and _env_values(sandbox)["MCP_MEMORY_TOOL_PROFILE"] == "classic"
    environment = sandbox.run(*BASE, "--skip-smoke-test", env=sandbox.environ(MCP_MEMORY_TOOL_PROFILE="unified"))
    assert environment.returncode == 0 and _env_values(sandbox)["MCP_MEMORY_TOOL_PROFILE"] == "unified"
    assert sha256(database) == before


def test_the_import_is_in_the_plan_counted_truthfully_and_a_dry_run_after_it_says_nothing_is_left(sandbox):
    database, _ = their_install(sandbox)
    dry = sandbox.run(*BASE, "--dry-run", "--import-from", str(database))
    assert dry.returncode == 0 and "import    11 memories from" in dry.stderr, dry.stderr
    done = sandbox.run(*BASE, "--skip-smoke-test", "--import-from", str(database), "--replace-existing-entry")
    assert done.returncode == 0, done.stderr
    plan, _, after = done.stderr.partition("import    11 memories from")
    assert after and "wrote" in after and "will list two memory servers" not in done.stderr  # replaced: one server
    again = sandbox.run(*BASE, "--dry-run", "--import-from", str(database))
    assert "import    0 memories from" in again.stderr and "(11 already here" in again.stderr, again.stderr


def test_the_wizard_does_not_offer_an_import_that_was_done_already(tmp_path):
    from tests.support.installer import Wizard

    box = Sandbox(tmp_path)
    (box.home / ".config" / "Claude").mkdir(parents=True)
    database, _ = their_install(box)
    assert box.run(*BASE, "--skip-smoke-test", "--import-from", str(database)).returncode == 0
    w = Wizard(tmp_path, "--no-launch", "--claude-code", "none")
    w.expect("Its memories are all here already (imported earlier)")
    w.expect("Next steps")  # every answer is known from the first run: nothing is asked
    assert w.exit_status() == 0
    assert "Import the" not in w.transcript.getvalue()
