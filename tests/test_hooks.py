"""The clients' hooks, run as the clients run them: `python -m server hook ...` with the client's documented JSON
on stdin and realistic transcripts of several hundred turns (secrets and <private> blocks planted), through
the shared daemon or in the hook's own process; a hook never breaks its client."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from server.privacy import REMOVED, scrub
from server.service import content_hash
from tests.conftest import REPO
from tests.support.database import reading
from tests.support.environment import without_our_settings
from tests.support.transcripts import PRIVATE, REMEMBERED, SECRETS, claude_code_events, gemini_events, write_jsonl
from tests.test_daemon import daemons

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform == "win32", reason="the daemon's Unix socket")]


@pytest.fixture
def env(tmp_path):
    environ = without_our_settings()
    environ.update(MCP_MEMORY_BASE_DIR=str(tmp_path / "data"), MCP_MEMORY_RUNTIME_DIR=str(tmp_path / "run"),
                   HF_HUB_OFFLINE="1")
    yield environ
    for pid in daemons(tmp_path):
        os.kill(pid, signal.SIGKILL)


def hook(env: dict[str, str], event: str, payload: dict | str, client: str = "claude-code",
         cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return subprocess.run([sys.executable, "-I", "-m", "server", "hook", event, "--client", client], input=data,
                          env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def context(done: subprocess.CompletedProcess[str], event_name: str = "SessionStart") -> str:
    assert done.returncode == 0, done.stderr
    if not done.stdout.strip():
        return ""
    out = json.loads(done.stdout)["hookSpecificOutput"]
    assert out["hookEventName"] == event_name
    return out["additionalContext"]


def project(tmp_path: Path, name: str = "atlas-api") -> Path:
    folder = tmp_path / name
    (folder / ".git").mkdir(parents=True)
    (folder / "src").mkdir()
    return folder


def rows(tmp_path: Path) -> list[dict]:
    with reading(tmp_path / "data" / "memories.db") as conn:
        return [{"content": row[0], "tags": json.loads(row[1]), "memory_type": row[2], "metadata": json.loads(row[3])}
                for row in conn.execute("SELECT content, tags, memory_type, metadata FROM memories")]


def test_a_long_session_is_kept_once_without_secrets_and_a_resumed_one_updates_its_record(tmp_path, env):
    folder = project(tmp_path)
    transcript = write_jsonl(tmp_path / "t.jsonl", claude_code_events(300, "s-1", str(folder)))
    end = {"session_id": "s-1", "transcript_path": str(transcript), "cwd": str(folder),
           "hook_event_name": "SessionEnd", "reason": "other"}
    assert hook(env, "end", end).returncode == 0
    stored = rows(tmp_path)
    sessions = [r for r in stored if r["memory_type"] == "session"]
    assert len(sessions) == 1
    record = sessions[0]["content"]
    assert record.startswith("Session in atlas-api") and "300 request(s)" in record
    assert "src/form.py" in record and "pytest -q tests/test_form.py" in record  # files changed, commands run
    assert "We decided to keep the retry count" in record and "Outcome: All done" in record
    assert set(sessions[0]["tags"]) >= {"session", "atlas-api", "session:s-1"}
    remembered = sorted(r["content"] for r in stored if r["memory_type"] == "note")
    assert remembered == sorted(f"{fact}." for fact in REMEMBERED)  # each "remember ..." is its own memory
    everything = json.dumps(stored)
    for secret in (*SECRETS, PRIVATE):
        assert secret not in everything
    assert REMOVED in record

    # Resumed: the same session id, more turns; then compacted (PreCompact runs the same command).
    longer = write_jsonl(transcript, claude_code_events(320, "s-1", str(folder)))
    assert hook(env, "end", {**end, "transcript_path": str(longer), "hook_event_name": "PreCompact"}).returncode == 0
    sessions = [r for r in rows(tmp_path) if r["memory_type"] == "session"]
    assert len(sessions) == 1 and "320 request(s)" in sessions[0]["content"]  # updated, not another record
    assert sessions[0]["metadata"]["prompts"] == 320
    assert len([r for r in rows(tmp_path) if r["memory_type"] == "note"]) == 2  # not remembered twice


def test_session_start_gives_this_projects_sessions_and_memories_within_the_budget_and_nothing_elsewhere(tmp_path, env):
    folder = project(tmp_path)
    transcript = write_jsonl(tmp_path / "t.jsonl", claude_code_events(40, "s-1", str(folder)))
    hook(env, "end", {"session_id": "s-1", "transcript_path": str(transcript), "cwd": str(folder)})
    start = {"session_id": "s-2", "cwd": str(folder / "src"), "hook_event_name": "SessionStart", "source": "startup"}
    given = context(hook(env, "start", start))
    [record] = [r for r in rows(tmp_path) if r["memory_type"] == "session"]
    digest = content_hash(record["content"])
    assert "Memory for the project atlas-api" in given and f"[{digest}]" in given  # with its hash, to open it
    assert "Outcome: All done" in given and "The staging database is called atlas-2." in given
    assert len(given) <= 1500 * 4

    small = context(hook({**env, "MCP_MEMORY_HOOK_TOKENS": "60"}, "start", start))
    assert 0 < len(small) <= 240  # the budget holds: whole lines only

    elsewhere = tmp_path / "unrelated-notes"
    elsewhere.mkdir()
    nothing = hook(env, "start", {**start, "cwd": str(elsewhere)})
    assert nothing.returncode == 0 and nothing.stdout == ""  # nothing relevant: nothing injected


def test_the_prompt_hook_speaks_only_when_a_memory_clearly_bears_on_the_prompt(tmp_path, env):
    folder = project(tmp_path)
    transcript = write_jsonl(tmp_path / "t.jsonl", claude_code_events(12, "s-1", str(folder)))
    hook(env, "end", {"session_id": "s-1", "transcript_path": str(transcript), "cwd": str(folder)})
    asked = {"session_id": "s-2", "cwd": str(folder), "hook_event_name": "UserPromptSubmit"}
    relevant = context(hook(env, "prompt", {**asked, "prompt": "What is the staging database called?"}),
                       "UserPromptSubmit")
    assert "atlas-2" in relevant
    quiet = hook(env, "prompt", {**asked, "prompt": "How long should sourdough proof in a cold kitchen?"})
    assert quiet.returncode == 0 and quiet.stdout == ""


def test_gemini_cli_hooks_read_its_transcript_and_answer_in_its_shape(tmp_path, env):
    folder = project(tmp_path, "web-shop")
    transcript = write_jsonl(tmp_path / "session-2026-12-04T09-00-ab12.jsonl", gemini_events(30, "g-1"))
    end = hook(env, "end", {"session_id": "g-1", "transcript_path": str(transcript), "cwd": str(folder),
                            "hook_event_name": "SessionEnd", "reason": "exit", "timestamp": "2026-12-04T10:00:00Z"},
               client="gemini")
    assert end.returncode == 0 and json.loads(end.stdout) == {}  # Gemini CLI reads JSON on stdout, always
    [record] = [r["content"] for r in rows(tmp_path) if r["memory_type"] == "session"]
    assert "Session in web-shop" in record and "src/form.ts" in record and "npm test" in record
    assert "rewound" not in record  # the prompt the user rewound is not part of the session
    assert SECRETS[1] not in record and PRIVATE not in record
    start = hook(env, "start", {"session_id": "g-2", "cwd": str(folder), "hook_event_name": "SessionStart",
                                "source": "startup"}, client="gemini")
    assert "Session in web-shop" in context(start)


def test_a_hook_never_breaks_its_client_and_never_writes_into_another_programs_database(tmp_path, env):
    folder = project(tmp_path)
    for bad in ("", "not json", "[1, 2]", json.dumps({"cwd": 5})):
        done = hook(env, "start", bad)
        assert done.returncode == 0 and done.stdout == ""
    missing = hook(env, "end", {"session_id": "s", "transcript_path": str(tmp_path / "gone.jsonl"), "cwd": str(folder)})
    assert missing.returncode == 0 and missing.stdout == ""
    gemini = hook(env, "end", "garbage", client="gemini")
    assert gemini.returncode == 0 and gemini.stdout == "{}\n"
    log = (tmp_path / "run" / "hooks.log").read_text()
    assert "nothing done" in log and "gone.jsonl" in log  # why, where the user can read it

    # Another program's database at our path, no daemon: answered in-process, refused, left as it was.
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    _foreign_db(foreign / "memories.db")
    before = hashlib.sha256((foreign / "memories.db").read_bytes()).hexdigest()
    off = {**env, "MCP_MEMORY_DAEMON": "off", "MCP_MEMORY_BASE_DIR": str(foreign)}
    transcript = write_jsonl(tmp_path / "t.jsonl", claude_code_events(5, "s", str(folder)))
    done = hook(off, "end", {"session_id": "s", "transcript_path": str(transcript), "cwd": str(folder)})
    assert done.returncode == 0 and done.stdout == ""
    assert hashlib.sha256((foreign / "memories.db").read_bytes()).hexdigest() == before
    assert "not ours; it was left untouched" in (tmp_path / "run" / "hooks.log").read_text()


def test_without_the_daemon_session_start_needs_no_model_and_the_session_is_still_kept(tmp_path, env):
    folder = project(tmp_path)
    off = {**env, "MCP_MEMORY_DAEMON": "off"}
    transcript = write_jsonl(tmp_path / "t.jsonl", claude_code_events(20, "s-1", str(folder)))
    assert hook(off, "end", {"session_id": "s-1", "transcript_path": str(transcript), "cwd": str(folder)}).returncode == 0
    given = context(hook(off, "start", {"session_id": "s-2", "cwd": str(folder), "source": "startup"}))
    assert "Session in atlas-api" in given
    log = (tmp_path / "run" / "hooks.log").read_text()
    assert "answering in this process" in log
    assert "Embedding engine" not in hook(off, "start", {"cwd": str(folder)}).stderr  # no model loaded for it
    assert not daemons(tmp_path)


def _foreign_db(path: Path) -> None:
    import sqlite3

    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        conn.execute("INSERT INTO notes (body) VALUES ('somebody else''s data')")
    conn.close()


def test_secrets_and_private_text_are_removed_by_pattern():
    text = ("export OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwx; curl -H 'Authorization: Bearer abcdefghijklmnop12' "
            "postgres://admin:s3cretpw@db/app --api-key QWERTY123456 {\"password\": \"pa55word!\"} "
            "ghp_abcdefghijklmnopqrstuvwxyz0123 AKIAABCDEFGHIJKLMNOP eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlX3g "
            "<private>the door code is 4711</private> -----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----")
    clean = scrub(text)
    for secret in ("sk-proj", "abcdefghijklmnop12", "s3cretpw", "QWERTY123456", "pa55word", "ghp_", "AKIA", "eyJhbGci",
                   "4711", "MIIE"):
        assert secret not in clean, secret
    for said, secret in (('{"password": "correct horse battery staple"}', "horse"), ("mysql -u root -pS3cret db", "S3cret"),
                         ("curl -u admin:pw123 https://x", "pw123"), ("PASSWORD=$ecret!x9", "$ecret")):
        assert secret not in scrub(said), said
    kept = "Rotate the API key weekly; the keyboard shortcut is ctrl-k; KEY=${MY_KEY}; token: <your token>; mkdir -p b"
    assert scrub(kept) == kept  # words about secrets, variables and placeholders stay
    assert scrub("keep <private>unclosed to the end") == "keep "
