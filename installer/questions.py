"""The installer's questions, as data, and the one loop that answers them.

Each answer comes from, in order: its command-line flag, its environment variable, the existing `.env`,
and only then a prompt (interactive) or its default (non-interactive). A known answer is not asked again
unless `--reconfigure` is given; then it is offered as the default.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from installer.arguments import flag_of
from installer.errors import UsageError

Kind = Literal["select", "confirm", "path", "text", "secret"]


@dataclass(frozen=True)
class Choice:
    value: str
    title: str


@dataclass(frozen=True)
class Question:
    name: str
    prompt: str
    kind: Kind
    env: str
    help: str
    choices: tuple[Choice, ...] = ()
    default: Callable[[Mapping[str, Any]], Any] = lambda answers: None
    env_file_key: str | None = None  # the .env key this answer is stored under, if any
    when: Callable[[Mapping[str, Any]], bool] = lambda answers: True
    validate: Callable[[Any], Any] = field(default=lambda value: value)
    flag_is_file: bool = False  # the flag names a file holding the value (secrets stay out of shell history)
    intro: Callable[[Mapping[str, Any]], str] | None = None  # shown before the prompt: what was found
    # What is wrong with a typed answer (None when fine): the prompt refuses it as typed, a flag fails.
    check: Callable[[str], str | None] = lambda raw: None
    # The answer that what is already installed gives (a client entry of ours, an existing .env), if any.
    installed: Callable[[Mapping[str, Any]], Any] = lambda answers: None

    @property
    def flag(self) -> str:
        """The flag that answers it: from the one table argparse is built from (installer/arguments.py)."""
        return flag_of(self.name)

    def parse(self, raw: Any) -> Any:
        """Turn a flag, environment or .env value into an answer, or fail naming where to fix it."""
        if self.kind == "confirm" and isinstance(raw, str):
            lowered = raw.strip().lower()
            if lowered not in _BOOLEANS:
                raise UsageError(f"{self.env}={raw!r} is not a yes/no value", f"use true or false ({self.flag})")
            raw = _BOOLEANS[lowered]
        if self.kind == "select" and raw not in {c.value for c in self.choices}:
            allowed = " | ".join(c.value for c in self.choices)
            raise UsageError(f"{raw!r} is not a valid answer to {self.flag}", f"allowed: {allowed}")
        if self.kind in ("text", "secret", "path"):
            problem = self.check(str(raw).strip())
            if problem:
                raise UsageError(f"{self.prompt}: {problem}", f"pass a valid {self.flag} (or set {self.env})")
        if self.kind in ("text", "secret"):
            raw = str(raw).strip()
            if not raw:
                raise UsageError(f"{self.prompt}: an empty answer", f"pass {self.flag} (or set {self.env})")
        if self.kind == "path":
            raw = Path(str(raw)).expanduser()
            if not raw.is_absolute():
                raw = raw.resolve()
        return self.validate(raw)


_BOOLEANS = {"1": True, "true": True, "yes": True, "y": True, "on": True,
             "0": False, "false": False, "no": False, "n": False, "off": False}


class Prompter(Protocol):
    interactive: bool

    def ask(self, question: Question, default: Any) -> Any: ...


@dataclass(frozen=True)
class Answer:
    value: Any
    source: str  # "flag", "environment", ".env", "default", "prompt"


def resolve(
    questions: tuple[Question, ...],
    flags: Mapping[str, Any],
    environ: Mapping[str, str],
    env_file_values: Mapping[str, str],
    prompter: Prompter,
    reconfigure: bool = False,
) -> dict[str, Answer]:
    answers: dict[str, Answer] = {}
    missing: list[Question] = []  # unattended: every missing answer is reported at once
    for question in questions:
        values = {name: answer.value for name, answer in answers.items()}
        if not question.when(values):
            continue
        known = _known(question, flags, environ, env_file_values)
        if known is None and not reconfigure and question.installed(values) is not None:
            known = Answer(question.installed(values), "installed")
        if known is not None and not (reconfigure and prompter.interactive and known.source != "flag"):
            answers[question.name] = known
            continue
        default = known.value if known is not None else question.default(values)
        if prompter.interactive:
            if question.intro is not None:
                print(question.intro(values), file=sys.stderr, flush=True)
            answers[question.name] = Answer(question.parse(prompter.ask(question, default)), "prompt")
        elif default is None:
            missing.append(question)
        else:
            answers[question.name] = Answer(default, "default")
    if missing:
        raise UsageError("No answer for: " + "; ".join(q.prompt for q in missing),
                         "pass " + ", ".join(f"{q.flag} (or set {q.env})" for q in missing))
    return answers


def _known(question: Question, flags: Mapping[str, Any], environ: Mapping[str, str],
           env_file_values: Mapping[str, str]) -> Answer | None:
    if flags.get(question.name) is not None:
        raw = flags[question.name]
        if question.flag_is_file:
            raw = _read_value_file(question, raw)
        return Answer(question.parse(raw), "flag")
    if environ.get(question.env, "").strip():
        return Answer(question.parse(environ[question.env].strip()), "environment")
    key = question.env_file_key
    if key and env_file_values.get(key, "").strip():
        return Answer(question.parse(env_file_values[key].strip()), ".env")
    return None


def _read_value_file(question: Question, path: str) -> str:
    try:
        value = Path(path).expanduser().read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise UsageError(f"Cannot read {question.flag} {path}: {exc.strerror}", "give a readable file") from exc
    if not value:
        raise UsageError(f"{question.flag} {path} is empty", "put the value on the file's first line")
    return value
