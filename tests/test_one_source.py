"""Facts that have one home, and the places that must stay in step with it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from installer.arguments import ANSWER_FLAGS, build_parser
from installer.catalog import build_questions
from installer.clients import OTHER_CLIENTS, Platform
from installer.detect import detect
from installer.pins import TORCH

ROOT = Path(__file__).resolve().parent.parent


def tracked_text_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return [ROOT / name for name in names if not name.startswith("tests/fixtures/") and (ROOT / name).is_file()
            and (ROOT / name).suffix in {"", ".py", ".toml", ".md", ".sh", ".txt", ".cfg"}]


def files_holding(pattern: str) -> set[str]:
    found = set()
    for path in tracked_text_files():
        try:
            if re.search(pattern, path.read_text(encoding="utf-8")):
                found.add(str(path.relative_to(ROOT)))
        except UnicodeDecodeError:
            continue
    return found


def every_question(tmp_path: Path) -> dict[str, object]:
    """The wizard's questions with every client present (so each client's question is built)."""
    home = tmp_path / "home"
    (home / ".config" / "Claude").mkdir(parents=True)
    found = detect(Platform("Linux", home, {}))
    return {q.name: q for q in build_questions(found, given=frozenset(c.key for c in OTHER_CLIENTS))}


def test_each_question_is_answered_by_a_flag_of_the_one_table_and_each_answer_flag_by_a_question(tmp_path):
    questions = every_question(tmp_path)
    assert set(questions) == set(ANSWER_FLAGS)
    parser = build_parser()
    known = {option: action for action in parser._actions for option in action.option_strings}
    for name, question in questions.items():
        action = known[question.flag]  # argparse knows the flag the question names in its errors
        assert action.dest == name or question.flag == "--cloudflare-api-token-file", name
        if action.choices is not None:  # the same answers allowed on the command line and in the wizard
            assert set(action.choices) == {c.value for c in question.choices}, name


def test_flags_reach_their_questions(tmp_path):
    args = build_parser().parse_args(["--storage-backend", "hybrid", "--no-windsurf", "--vscode", "workspace",
                                      "--cloudflare-api-token-file", "/tmp/token"])
    from installer.arguments import answers_given

    given = answers_given(args)
    assert (given["storage_backend"], given["windsurf"], given["vscode"]) == ("hybrid", False, "workspace")
    assert given["cloudflare_api_token"] == "/tmp/token" and given["cursor"] is None


def test_the_torch_pin_is_written_once():
    version = TORCH.split("==")[1]
    assert files_holding(rf"torch==\s*{re.escape(version)}|torch==\d") == {"installer/pins.py"}


def test_the_busy_timeout_default_is_written_once():
    product = {f for f in files_holding(r"busy_timeout.{0,12}[\"']\d{3,}[\"']|busy_timeout=\d{3,}")
               if f.startswith(("server/", "installer/"))}
    assert product == set()  # no fallback value of its own anywhere in the product
    assert files_holding(r"\nDEFAULT_BUSY_TIMEOUT_MS = \d") == {"server/storage/local/sqlite_driver.py"}
