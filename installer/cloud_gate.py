"""Prove a Cloudflare setup works before anything is written, or fall back to local storage.

Interactive: after failed checks the user picks retry, edit a value, or sqlite_vec. Non-interactive:
fall back to sqlite_vec and say so loudly, unless --no-fallback, which fails the run. After a fallback
the answers say sqlite_vec and carry no Cloudflare value, so no failed credential is written anywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from installer.catalog import cloudflare_questions
from installer.cloudflare_checks import CheckResult, CloudflareConfig, create_missing, run_checks
from installer.errors import InstallerError
from installer.questions import Answer
from server.cloudflare.facts import DEFAULT_BASE_URL

MAX_ROUNDS = 5  # retries and edits in one run; each round is one set of live checks


def check_cloudflare(answers: dict[str, Answer], environ: Mapping[str, str], prompter: Any, create: bool,
                     no_fallback: bool, say: Callable[[str], None]) -> dict[str, Answer]:
    for _ in range(MAX_ROUNDS):
        config = _config(answers, environ)
        say("Checking Cloudflare (live):")
        results = _report(run_checks(config), say)
        if not all(r.ok for r in results) and _may_create(results, create, prompter):
            config = create_missing(config, results, say)
            answers["cloudflare_d1_database_id"] = Answer(config.database_id, "created")
            results = _report(run_checks(config), say)
        if all(r.ok for r in results):
            return answers
        if not prompter.interactive:
            break
        options = [
            ("edit", "Edit a value and check again"),
            ("retry", "Check again as it is"),
            ("fallback", "Use local storage only (sqlite_vec) instead"),
        ]
        hybrid = answers["storage_backend"].value == "hybrid"
        if hybrid:  # the explicit choice: hybrid can run locally and sync once Cloudflare answers
            options.insert(2, ("later", "Keep hybrid: work locally now, sync when Cloudflare is reachable "
                                        "(these values are written as they are)"))
        choice = prompter.choose("The Cloudflare checks failed. What now?", options)
        if choice == "later":
            say("Keeping hybrid: memories are stored locally and queued; they reach Cloudflare once the checks "
                "would pass (see the sync_status tool, or `install.py doctor`).")
            return answers
        if choice == "fallback":  # the person's own choice: no warning about unattended runs
            say("Using local storage only (sqlite_vec); nothing about Cloudflare will be written.")
            return _local_only(answers, "chosen")
        if choice == "edit":
            answers = _edit(answers, prompter)
    if no_fallback:
        raise InstallerError("The Cloudflare checks failed and --no-fallback was given: nothing was written",
                             "fix the values the failed checks name, or drop --no-fallback to install sqlite_vec")
    return _fallback(answers, say)


def _config(answers: Mapping[str, Answer], environ: Mapping[str, str]) -> CloudflareConfig:
    value = {k: a.value for k, a in answers.items()}
    return CloudflareConfig(
        token=value["cloudflare_api_token"], account_id=value["cloudflare_account_id"],
        database_id=value["cloudflare_d1_database_id"], index=value["cloudflare_vectorize_index"],
        model=value["cloudflare_embedding_model"],
        base_url=environ.get("CLOUDFLARE_API_BASE_URL", "").strip() or DEFAULT_BASE_URL,
    )


def _report(results: list[CheckResult], say: Callable[[str], None]) -> list[CheckResult]:
    for result in results:
        say("  " + result.line())
    return results


def _may_create(results: list[CheckResult], create: bool, prompter: Any) -> bool:
    missing = [r for r in results if r.missing]
    if not missing:
        return False
    if create:
        return True
    return bool(prompter.interactive and prompter.confirm(
        f"Create the missing {' and '.join(r.name for r in missing)} now?", default=False))


def _edit(answers: dict[str, Answer], prompter: Any) -> dict[str, Answer]:
    """Ask which value to change, then that one question, its current value the default (Enter keeps it)."""
    questions = {q.name: q for q in cloudflare_questions()}
    shown = [(name, f"{q.prompt.replace(' (input hidden)', '')}: {_shown(name, answers)}")
             for name, q in questions.items()]
    question = questions[prompter.choose("Which value?", shown)]
    current = answers[question.name].value if question.name in answers else None
    edited = dict(answers)
    edited[question.name] = Answer(question.parse(prompter.ask(question, current)), "prompt")
    return edited


def _shown(name: str, answers: Mapping[str, Answer]) -> str:
    if name not in answers:
        return "(not set)"
    return "****" if name == "cloudflare_api_token" else str(answers[name].value)


def _fallback(answers: dict[str, Answer], say: Callable[[str], None]) -> dict[str, Answer]:
    say("")
    say("!!! The Cloudflare checks failed: FALLING BACK to local storage (sqlite_vec). !!!")
    say("!!! Nothing about Cloudflare will be written. Pass --no-fallback to fail instead. !!!")
    say("")
    return _local_only(answers, "fallback")


def _local_only(answers: dict[str, Answer], source: str) -> dict[str, Answer]:
    kept = {k: a for k, a in answers.items() if not k.startswith("cloudflare_")}
    kept["storage_backend"] = Answer("sqlite_vec", source)
    return kept
