"""What a newcomer meets (issue 12): answers before any bootstrap, the end of the run, every MCP client
they use, writes that say exactly what they did, and an uninstall that says what it leaves."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.installer import CTRL_C, ENTER, REPO, Sandbox, Wizard, answer_all, usage
from tests.support.net import free_port

BASE = ("--non-interactive", "--no-launch", "--claude-code", "none", "--no-claude-desktop")


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    box = Sandbox(tmp_path)
    (box.home / ".config" / "Claude").mkdir(parents=True)
    return box


# -- before the bootstrap ------------------------------------------------------------------------------

@pytest.fixture
def fresh_copy(tmp_path: Path) -> Path:
    """install.py and the installer package, without a .venv: a fresh clone as far as the bootstrap sees."""
    copy = tmp_path / "clone"
    shutil.copytree(REPO / "installer", copy / "installer", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "install.py", copy / "install.py")
    shutil.copy(REPO / "pyproject.toml", copy / "pyproject.toml")
    return copy


def test_the_import_command_takes_its_path_before_or_after_the_flags():
    from installer.arguments import parse_args

    for argv in (["import", "--dry-run", "/x/sqlite_vec.db"], ["import", "/x/sqlite_vec.db", "--dry-run"],
                 ["--dry-run", "import", "/x/sqlite_vec.db"]):
        args = parse_args(argv)
        assert (args.command, args.source, args.dry_run) == ("import", "/x/sqlite_vec.db", True), argv


def test_help_and_a_mistyped_flag_answer_at_once_before_any_bootstrap(fresh_copy):
    started = time.monotonic()
    shown = subprocess.run([sys.executable, "install.py", "--help"], cwd=fresh_copy, capture_output=True, text=True,
                           timeout=30)
    assert shown.returncode == 0 and "--storage-backend" in shown.stdout and "--cursor" in shown.stdout
    typo = subprocess.run([sys.executable, "install.py", "--storage-backed", "sqlite_vec"], cwd=fresh_copy,
                          capture_output=True, text=True, timeout=30)
    assert typo.returncode == 2
    assert typo.stderr.splitlines() == ["error: unknown option --storage-backed",
                                        "  hint: did you mean --storage-backend?"]
    assert time.monotonic() - started < 10  # no pip, no venv: these answer in well under a second each
    assert not (fresh_copy / ".venv").exists()
    wrong = subprocess.run([sys.executable, "install.py", "--remove-data"], cwd=fresh_copy, capture_output=True,
                           text=True, timeout=30)
    assert wrong.returncode == 2 and "--remove-data only goes with --uninstall" in wrong.stderr


# -- the end of the run --------------------------------------------------------------------------------

def _mark_installed() -> None:
    """install.py skips pip when its stamp matches; tests/run installed the project into .venv already."""
    stamp = REPO / ".venv" / ".mcp-memory-installed"
    wanted = f"{(REPO / 'pyproject.toml').stat().st_mtime_ns} "
    if not stamp.exists() or stamp.read_text(encoding="utf-8") != wanted:
        stamp.write_text(wanted, encoding="utf-8")


def launching_install(tmp_path: Path, port: int) -> Wizard:
    """`python install.py --launch` in a terminal, on an installed clone: it ends by serving HTTP on `port`."""
    if Path(sys.executable).resolve() != (REPO / ".venv" / "bin" / "python").resolve():
        pytest.skip("install.py hands over to the repo's .venv; these tests run from another Python")
    _mark_installed()
    return Wizard(tmp_path, *BASE[:1], "--launch", "--port", str(port), "--claude-code", "none", "--no-claude-desktop",
                  "--skip-smoke-test", "--data-dir", str(tmp_path / "data"),
                  command=[sys.executable, str(REPO / "install.py")], cwd=tmp_path)


@pytest.mark.slow
def test_ctrl_c_stops_the_launched_server_through_install_py_with_its_own_closing_line_and_exit_0(tmp_path):
    port = free_port()
    w = launching_install(tmp_path, port)
    w.expect("Next steps")
    w.expect("Ctrl-C stops it.")
    w.expect("Serving MCP at", timeout=60)
    w.send(CTRL_C)
    w.expect("Server stopped.")
    assert w.exit_status() == 0
    assert "Interrupted" not in w.transcript.getvalue()


@pytest.mark.slow
@pytest.mark.parametrize("in_flight", [False, True], ids=["idle", "a request in flight"])
def test_a_second_ctrl_c_stops_the_launched_server_at_once_without_a_traceback_and_closes_the_database(
        tmp_path, in_flight):
    port = free_port()
    w = launching_install(tmp_path, port)
    w.expect("Serving MCP at", timeout=60)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        if in_flight:  # a request whose body never finishes: the first Ctrl-C waits for it
            client.sendall(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                           b"Content-Length: 500\r\n\r\n{")
            time.sleep(0.5)
        w.send(CTRL_C)
        if in_flight:
            w.expect("Stopping once open requests finish (Ctrl-C again stops without waiting).")
        w.send(CTRL_C)
        w.expect("Server stopped.")
        assert w.exit_status() == 0
    shown = w.transcript.getvalue()
    assert "Traceback" not in shown and "Interrupted" not in shown and "Error" not in shown
    with sqlite3.connect(tmp_path / "data" / "memories.db") as db:
        assert db.execute("PRAGMA quick_check").fetchone() == ("ok",)
    assert not (tmp_path / "data" / "memories.db-wal").exists() or \
        (tmp_path / "data" / "memories.db-wal").stat().st_size == 0  # closed: the log was checkpointed


def test_the_bootstrap_leaves_ctrl_c_to_the_installer_not_ignored(tmp_path):
    """Prompts read Ctrl-C as a key, but pip, the smoke test and an import need the signal: an ignored
    SIGINT would be inherited by the installer (SIG_IGN survives exec) and Ctrl-C would do nothing."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bootstrap", REPO / "install.py")
    bootstrap = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bootstrap)
    probe = tmp_path / "disposition"
    code = f"import signal, pathlib; pathlib.Path({str(probe)!r}).write_text(str(signal.getsignal(signal.SIGINT)))"
    assert bootstrap.hand_over([sys.executable, "-c", code]) == 0
    assert "default_int_handler" in probe.read_text()


@pytest.mark.slow
def test_a_busy_port_ends_the_install_in_one_line_that_says_it_succeeded_and_how_to_choose_another(sandbox):
    port = free_port()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen(1)
        done = sandbox.run(*BASE[:1], "--launch", "--port", str(port), "--claude-code", "none",
                           "--no-claude-desktop", "--skip-smoke-test")
        assert done.returncode == 0, done.stderr
        last = done.stderr.strip().splitlines()[-1]
        assert "installation is done" in last and f"port {port} is already in use" in last and "--port" in last
        assert "Serving" not in done.stderr and "Errno" not in done.stderr
        # The server itself: one line, exit 2, and "Serving" is never logged for a port it does not hold.
        server = subprocess.run([sys.executable, "-m", "server", "--transport", "http", "--port", str(port)],
                                env=sandbox.environ(MCP_MEMORY_ENV_FILE=str(sandbox.env_file)), capture_output=True,
                                text=True, timeout=60, cwd=REPO)
    assert server.returncode == 2
    assert f"port {port} on 127.0.0.1 is already in use" in server.stderr and "Serving" not in server.stderr
    assert "Traceback" not in server.stderr


def test_the_closing_panel_says_what_was_configured_and_how_to_check_and_undo(sandbox):
    sandbox.install_clients("codex")
    # As the person typed it: `python3.11 install.py` (install.py tells the installer).
    env = sandbox.environ(MCP_INSTALL_COMMAND="python3.11 install.py")
    done = sandbox.run("--non-interactive", "--no-launch", "--claude-code", "none", "--claude-desktop", "--codex",
                       "--skip-smoke-test", env=env)
    assert done.returncode == 0, done.stderr
    panel = done.stderr[done.stderr.index("Next steps"):]
    for line in ("Configured: Claude Desktop", "Restart Claude Desktop", "share one memory process",
                 "Check Codex: codex mcp list", "python3.11 install.py doctor",
                 "Undo: python3.11 install.py --uninstall", "--transport http"):
        assert line in panel, line
    for absent in ("claude mcp list", "gemini mcp list", "Cursor", "VS Code", "Windsurf"):  # not configured
        assert absent not in panel, absent


@pytest.mark.slow
def test_no_at_write_these_changes_is_a_choice_exit_0_and_nothing_written(tmp_path):
    w = Wizard(tmp_path)
    answer_all(w, tmp_path / "data")
    w.expect("Write these changes?")
    w.send("n" + ENTER)
    w.expect("Nothing was written.")
    assert w.exit_status() == 0
    assert w.nothing_written()


@pytest.mark.slow
def test_the_recommendation_follows_the_answers_and_a_missing_project_folder_is_refused_as_typed(tmp_path):
    w = Wizard(tmp_path)
    usage(w, several="y" + ENTER)
    w.expect("Use a Cloudflare account for the copy?")
    w.send("y" + ENTER)
    w.expect("Recommended: this computer plus a Cloudflare copy, for several computers")
    w.expect("Where should memories be stored?")
    w.send(ENTER)  # the recommendation, which came from an explicit yes
    w.expect("D1 Edit, Vectorize Edit and Workers AI Read")
    w.send(CTRL_C)
    assert w.exit_status() == 130 and w.nothing_written()

    local = Wizard(tmp_path / "again", "--storage-backend", "sqlite_vec", "--no-claude-desktop", "--data-dir",
                   str(tmp_path / "data"), "--embedding-engine", "onnx")
    local.expect("Configure Claude Code?")
    local.send("\x1b[A" + ENTER)  # project
    local.expect("Project folder")
    local.send(f"\x15{tmp_path / 'no-such-folder'}{ENTER}")
    local.expect("is not an existing folder")
    local.send(CTRL_C)
    assert local.exit_status() == 130


# -- every MCP client ----------------------------------------------------------------------------------

CODEX_CONFIG = '# my Codex settings\nmodel = "o3"  # the one I like\n\n[mcp_servers.docs]\ncommand = "npx"\nargs = ["-y", "docs-server"]\n'
GEMINI_SETTINGS = '{\n    "theme": "Dracula",\n    "mcpServers": {\n        "other": {\n            "command": "other"\n        }\n    }\n}\n'


def _client_files(sandbox: Sandbox) -> dict[str, Path]:
    home = sandbox.home
    return {"cursor": home / ".cursor" / "mcp.json", "vscode": home / ".config" / "Code" / "User" / "mcp.json",
            "windsurf": home / ".codeium" / "windsurf" / "mcp_config.json", "codex": home / ".codex" / "config.toml",
            "gemini": home / ".gemini" / "settings.json"}


@pytest.mark.slow
def test_cursor_vscode_windsurf_codex_and_gemini_get_the_same_entry_kept_beside_everything_else(sandbox):
    import tomllib

    sandbox.install_clients("cursor", "vscode", "windsurf", "codex", "gemini")
    files = _client_files(sandbox)
    files["codex"].write_text(CODEX_CONFIG, encoding="utf-8")
    files["gemini"].write_text(GEMINI_SETTINGS, encoding="utf-8")
    before = {name: path.read_bytes() if path.exists() else None for name, path in files.items()}

    done = sandbox.run(*BASE, "--cursor", "user", "--vscode", "user", "--windsurf", "--codex", "--gemini", "user")
    assert done.returncode == 0, done.stderr
    assert "ok: connected" in done.stderr  # the smoke test ran the command every entry names

    codex_text = files["codex"].read_text(encoding="utf-8")
    assert codex_text.startswith(CODEX_CONFIG)  # comments and layout kept; our table added after
    entries = {
        "cursor": json.loads(files["cursor"].read_text())["mcpServers"]["memory"],
        "vscode": json.loads(files["vscode"].read_text())["servers"]["memory"],
        "windsurf": json.loads(files["windsurf"].read_text())["mcpServers"]["memory"],
        "codex": tomllib.loads(codex_text)["mcp_servers"]["memory"],
        "gemini": json.loads(files["gemini"].read_text())["mcpServers"]["memory"],
    }
    assert entries["vscode"].pop("type") == "stdio"
    assert all(entry == entries["cursor"] for entry in entries.values())
    assert entries["cursor"]["args"] == ["-I", "-m", "server"]
    assert entries["cursor"]["env"] == {"MCP_MEMORY_ENV_FILE": str(sandbox.env_file)}
    gemini = files["gemini"].read_text(encoding="utf-8")
    assert json.loads(gemini)["theme"] == "Dracula" and '\n    "mcpServers"' in gemini  # its 4-space indent kept
    # The exact command a client runs starts the server (the smoke test did it for the shared entry).
    probe = subprocess.run([entries["codex"]["command"], *entries["codex"]["args"], "--help"],
                           env=dict(sandbox.environ(), **entries["codex"]["env"]), capture_output=True, text=True,
                           timeout=60, cwd=sandbox.root)
    assert probe.returncode == 0 and "--transport" in probe.stdout

    again = sandbox.run(*BASE, "--cursor", "user", "--vscode", "user", "--windsurf", "--codex", "--gemini", "user",
                        "--skip-smoke-test")
    assert again.returncode == 0 and "nothing was changed" in again.stderr

    removed = sandbox.run("--uninstall", "--non-interactive", "--yes")
    assert removed.returncode == 0, removed.stderr
    for name, path in files.items():
        if before[name] is None:
            assert "memory" not in path.read_text(encoding="utf-8").replace("mcp-memory", "")
        else:
            assert path.read_bytes() == before[name], name  # back to the byte


def test_project_scopes_write_into_the_project_folder_and_the_plan_shows_it(sandbox):
    project = sandbox.root / "project"
    project.mkdir()
    done = sandbox.run(*BASE, "--cursor", "project", "--vscode", "workspace", "--gemini", "project",
                       "--project-dir", str(project), "--skip-smoke-test")
    assert done.returncode == 0, done.stderr
    assert "memory" in json.loads((project / ".cursor" / "mcp.json").read_text())["mcpServers"]
    assert "memory" in json.loads((project / ".vscode" / "mcp.json").read_text())["servers"]
    assert "memory" in json.loads((project / ".gemini" / "settings.json").read_text())["mcpServers"]
    assert f"{project}/.vscode/mcp.json" in done.stderr  # the plan names the folder


def test_a_detected_client_whose_config_is_broken_is_named_before_anything_is_asked(sandbox):
    sandbox.install_clients("cursor")
    (sandbox.home / ".cursor" / "mcp.json").write_text("{not json", encoding="utf-8")
    done = sandbox.run(*BASE, "--skip-smoke-test")
    assert done.returncode == 0, done.stderr
    opening = done.stderr.split("Plan:")[0]
    assert "Cannot use:" in opening and ".cursor/mcp.json is not valid JSON" in opening
    assert (sandbox.home / ".cursor" / "mcp.json").read_text() == "{not json"  # the default skips it


# -- writes --------------------------------------------------------------------------------------------

def test_a_target_that_cannot_be_written_stops_the_run_before_the_first_write(sandbox):
    project = sandbox.root / "project"
    project.mkdir()
    (project / ".vscode").write_text("a file where a folder should be", encoding="utf-8")
    done = sandbox.run(*BASE, "--vscode", "workspace", "--project-dir", str(project), "--skip-smoke-test")
    assert done.returncode == 1
    assert ".vscode/mcp.json: Not a directory" in done.stderr
    assert not sandbox.env_file.exists()  # found while planning: nothing was written


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write anywhere")
def test_a_config_folder_without_write_permission_stops_the_run_before_the_first_write(sandbox):
    (sandbox.home / ".cursor").mkdir(parents=True)
    (sandbox.home / ".cursor").chmod(0o500)
    try:
        done = sandbox.run(*BASE, "--cursor", "user", "--skip-smoke-test")
    finally:
        (sandbox.home / ".cursor").chmod(0o700)
    assert done.returncode == 1
    assert "is not writable by you" in done.stderr and "Nothing was written" in done.stderr
    assert not sandbox.env_file.exists()


def test_a_second_run_while_one_is_working_refuses_at_once(sandbox):
    sandbox.env_file.parent.mkdir(parents=True)
    with open(sandbox.env_file.parent / ".installer.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        done = sandbox.run(*BASE, "--skip-smoke-test")
    assert done.returncode == 1 and "Another installer run is working on" in done.stderr
    assert not sandbox.env_file.exists()


@pytest.mark.slow
def test_ctrl_c_during_the_writes_reports_exactly_the_files_that_were_written(sandbox):
    sandbox.install_clients("cursor", "windsurf", "gemini")
    args = [sys.executable, "-m", "installer", "--non-interactive", "--no-launch", "--claude-code", "none",
            "--claude-desktop", "--cursor", "user", "--windsurf", "--gemini", "user", "--skip-smoke-test"]
    targets = [sandbox.env_file, sandbox.desktop_config, *[_client_files(sandbox)[n] for n in ("cursor", "windsurf",
                                                                                                  "gemini")]]
    interrupted = 0
    for trial in range(12):  # bounded: each trial is one run, interrupted a little later each time
        for path in targets:
            path.unlink(missing_ok=True)
        proc = subprocess.Popen(args, cwd=REPO, env=sandbox.environ(), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out = ""
        deadline = time.monotonic() + 30
        while "Write" not in out and "Plan:" not in out and time.monotonic() < deadline and proc.poll() is None:
            out += proc.stderr.readline()
        time.sleep(0.002 * trial)
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=60)[1]
        said = out + rest
        if proc.returncode != 130:
            continue
        interrupted += 1
        existing = {str(p) for p in targets if p.exists()}
        if "nothing was written" in said:
            assert not existing, said
        else:
            line = next(line for line in said.splitlines() if line.startswith("Interrupted after writing"))
            named = set(line.removeprefix("Interrupted after writing ").split(":")[0].split(", "))
            assert named == existing, said
    assert interrupted, "no trial was interrupted"


def test_old_backups_are_pruned_to_the_first_and_the_last_few_and_a_persons_own_copies_stay(tmp_path):
    from installer.files import KEEP_BACKUPS, FileChange, apply_changes

    path = tmp_path / "config.json"
    path.write_text("0", encoding="utf-8")
    (tmp_path / "config.json.bak-2023").write_text("mine", encoding="utf-8")
    for n in range(1, 9):
        apply_changes([FileChange(path, str(n - 1), str(n))])
    ours = sorted(p for p in tmp_path.glob("config.json.bak-*") if p.name != "config.json.bak-2023")
    assert len(ours) == KEEP_BACKUPS + 1
    assert ours[0].read_text(encoding="utf-8") == "0"  # the file as it was before the first change
    assert (tmp_path / "config.json.bak-2023").read_text(encoding="utf-8") == "mine"


# -- uninstall and privacy -----------------------------------------------------------------------------

@pytest.mark.slow
def test_doctor_fails_when_no_client_starts_the_server_and_passes_in_a_project_that_does(sandbox):
    assert sandbox.run(*BASE, "--data-dir", str(sandbox.root / "data")).returncode == 0  # no client chosen
    alone = sandbox.run("doctor")
    assert alone.returncode == 1 and "All checks passed" not in alone.stdout
    assert "✗ clients: no client config has an entry of ours" in alone.stdout and "install.py" in alone.stdout
    project = sandbox.root / "project"
    project.mkdir()
    added = sandbox.run("--non-interactive", "--no-launch", "--no-claude-desktop", "--claude-code", "project",
                        "--project-dir", str(project), "--skip-smoke-test")
    assert added.returncode == 0, added.stderr
    there = sandbox.run("doctor", cwd=project)
    assert there.returncode == 0, there.stdout
    assert "✓ clients: configured in Claude Code (this project)" in there.stdout


def test_uninstall_says_what_it_leaves_and_deletes_data_only_when_told_twice(sandbox):
    data = sandbox.root / "data"
    assert sandbox.run(*BASE, "--data-dir", str(data)).returncode == 0
    assert stat.S_IMODE(data.stat().st_mode) == 0o700 and stat.S_IMODE((data / "memories.db").stat().st_mode) == 0o600

    unattended = sandbox.run("--uninstall", "--remove-data", "--non-interactive")
    assert unattended.returncode == 2 and "--yes" in unattended.stderr
    assert (data / "memories.db").exists()

    kept = sandbox.run("--uninstall", "--non-interactive", "--dry-run")
    assert kept.returncode == 0

    done = sandbox.run("--uninstall", "--remove-data", "--yes")
    assert done.returncode == 0, done.stderr
    assert f"Deleted the database {data / 'memories.db'}" in done.stderr
    assert f"Kept the settings {sandbox.env_file}" in done.stderr and "--remove-settings" in done.stderr
    assert not (data / "memories.db").exists() and sandbox.env_file.exists()

    gone = sandbox.run("--uninstall", "--remove-settings", "--yes")
    assert gone.returncode == 0 and f"Deleted the settings {sandbox.env_file}" in gone.stderr
    assert not sandbox.env_file.exists()


def test_a_new_env_file_comes_from_the_template_with_its_comments_and_is_shown_before_writing(sandbox):
    done = sandbox.run(*BASE, "--skip-smoke-test", env=sandbox.environ(MCP_API_KEY="sk-very-secret-key"))
    assert done.returncode == 0, done.stderr
    text = sandbox.env_file.read_text(encoding="utf-8")
    template = (REPO / "templates" / "env.template").read_text(encoding="utf-8")
    assert text.splitlines()[0] == template.splitlines()[0]
    assert "# Where memories are kept" in text and "MCP_MEMORY_STORAGE_BACKEND=sqlite_vec" in text
    assert "# Where memories are kept" in done.stderr  # the new file's contents, in the plan
    assert "sk-very-secret-key" not in done.stderr + done.stdout


def test_the_client_entries_are_the_templates_rendered():
    from installer.plan import SERVER_ARGS
    from installer.templates import client_entry

    for template in ("entry.json", "entry-vscode.json", "entry-codex.toml"):
        entry = client_entry(template, Path("/py"), Path("/settings/.env"))
        assert entry["command"] == "/py" and tuple(entry["args"]) == SERVER_ARGS
        assert entry["env"] == {"MCP_MEMORY_ENV_FILE": "/settings/.env"}


VSCODE_JSONC = """{
  // my servers; VS Code reads this file as JSON with comments
  "servers": {
    "github": {"type": "http", "url": "https://api.githubcopilot.com/mcp/"},  // compact, as I like it
  },
  "inputs": [],
}
"""
DESKTOP_COMPACT = '{"mcpServers": {"other": {"command": "/bin/other", "args": ["-x"]}}, "preferences": {"a": 1}}\n'
GEMINI_NO_SERVERS = '{\n    "theme": "Dracula"\n}\n'
CODEX_WITH_COMMENTED_TABLE = ('model = "o3"\n\n[mcp_servers.docs]\ncommand = "npx"\n\n'
                              '# the work server: keep this comment with it\n[mcp_servers.work]\ncommand = "work"\n')


@pytest.mark.slow
def test_configs_keep_every_byte_of_what_is_not_ours_and_uninstall_gives_back_the_original(sandbox):
    import tomllib

    sandbox.install_clients("vscode", "gemini", "codex")
    (sandbox.home / ".config" / "Claude").mkdir(parents=True, exist_ok=True)
    files = _client_files(sandbox)
    files["vscode"].write_text(VSCODE_JSONC, encoding="utf-8")
    files["gemini"].write_text(GEMINI_NO_SERVERS, encoding="utf-8")
    files["codex"].write_text(CODEX_WITH_COMMENTED_TABLE, encoding="utf-8")
    sandbox.desktop_config.write_text(DESKTOP_COMPACT, encoding="utf-8")
    before = {path: path.read_bytes() for path in (files["vscode"], files["gemini"], files["codex"],
                                                    sandbox.desktop_config)}
    done = sandbox.run("--non-interactive", "--no-launch", "--claude-code", "none", "--claude-desktop",
                       "--skip-smoke-test", "--vscode", "user", "--gemini", "user", "--codex")
    assert done.returncode == 0, done.stderr

    vscode = files["vscode"].read_text(encoding="utf-8")
    head = '{\n  // my servers; VS Code reads this file as JSON with comments\n  "servers": {\n'
    github = '    "github": {"type": "http", "url": "https://api.githubcopilot.com/mcp/"},  // compact, as I like it\n'
    assert vscode.startswith(head + github + '    "memory": {')  # comments and the compact entry kept as they were
    assert vscode.endswith('\n    },\n  },\n  "inputs": [],\n}\n')  # a trailing comma after ours too, as the file does
    desktop = sandbox.desktop_config.read_text(encoding="utf-8")
    assert desktop.startswith('{"mcpServers": {"other": {"command": "/bin/other", "args": ["-x"]}, "memory": ')
    assert desktop.endswith('"preferences": {"a": 1}}\n')  # the rest, byte for byte
    gemini = files["gemini"].read_text(encoding="utf-8")
    assert gemini.startswith('{\n    "theme": "Dracula",\n    "mcpServers": {\n        "memory": {')
    codex = files["codex"].read_text(encoding="utf-8")
    assert codex.startswith(CODEX_WITH_COMMENTED_TABLE)  # the comment stays with the table it introduces
    assert "memory" in tomllib.loads(codex)["mcp_servers"]
    assert not list(sandbox.home.glob(".*.bak-*")) and not list(sandbox.home.rglob("*.bak-*"))[:0]
    assert not [p for p in sandbox.home.rglob("*.bak-*") if "mcp-memory" not in str(p.parent)]

    removed = sandbox.run("--uninstall", "--yes")
    assert removed.returncode == 0, removed.stderr
    for path, content in before.items():
        assert path.read_bytes() == content, path  # the container Gemini never had is gone again


def test_the_json_editor_inserts_removes_and_keeps_comments_trailing_commas_and_layout():
    from installer import jsonedit

    text = '{\n  // c\n  "a": {"x": 1},  // kept\n  "b": [1, 2],\n}\n'
    root = jsonedit.parse(text, comments=True)
    added = jsonedit.set_member(text, root, "c", {"k": "v"})
    assert added == '{\n  // c\n  "a": {"x": 1},  // kept\n  "b": [1, 2],\n  "c": {\n    "k": "v"\n  },\n}\n'
    assert jsonedit.remove_member(added, jsonedit.parse(added, comments=True), "c") == text
    strict = '{"a": 1, "b": 2}'
    with pytest.raises(jsonedit.JsonSyntaxError, match="comments are not allowed"):
        jsonedit.parse('{"a": 1 // no\n}')
    with pytest.raises(jsonedit.JsonSyntaxError, match="trailing comma"):
        jsonedit.parse('{"a": 1,}')
    root = jsonedit.parse(strict)
    assert jsonedit.remove_member(strict, root, "a") == '{"b": 2}'
    assert jsonedit.remove_member(strict, root, "b") == '{"a": 1}'
    assert jsonedit.set_member(strict, root, "a", [3]) == '{"a": [3], "b": 2}'
