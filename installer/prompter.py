"""Asking questions in a terminal (questionary), or refusing to when there is none."""

from __future__ import annotations

from typing import Any

from installer.questions import Question


class Interrupted(Exception):
    """Ctrl-C or EOF at a prompt: the installer stops, exit code 130."""


class TerminalPrompter:
    interactive = True

    def ask(self, question: Question, default: Any) -> Any:
        import questionary  # imported here: non-interactive runs (CI) never need prompt_toolkit

        if question.kind == "select":
            choices = [questionary.Choice(c.title, value=c.value) for c in question.choices]
            prompt = questionary.select(question.prompt, choices=choices, default=default,
                                        instruction=f"({question.help})")
        elif question.kind == "confirm":
            prompt = _confirm(question.prompt, bool(default))
        elif question.kind == "secret":
            # Hidden input; a known value is never shown, only offered by pressing Enter.
            suffix = " (Enter keeps the current one)" if default else ""
            prompt = questionary.password(f"{question.prompt}{suffix}")
            answer = self._ask(prompt)
            return answer or default
        elif question.kind == "text":
            prompt = questionary.text(question.prompt, default=str(default or ""), validate=_validator(question),
                                      instruction=f"({question.help})" if question.help else None)
        else:
            prompt = questionary.path(question.prompt, default=str(default or ""), only_directories=True,
                                      validate=_validator(question))
        return self._ask(prompt)

    @staticmethod
    def _ask(prompt: Any) -> Any:
        discard_typeahead()  # keys pressed while we worked (an extra Enter) must not answer this question
        try:
            # unsafe_ask: plain ask() would turn Ctrl-C into None, which looks like an answer.
            return prompt.unsafe_ask()
        except (KeyboardInterrupt, EOFError) as exc:
            raise Interrupted() from exc

    def choose(self, message: str, choices: list[tuple[str, str]]) -> str:
        import questionary

        return str(self._ask(questionary.select(message, choices=[questionary.Choice(t, value=v) for v, t in choices])))

    def confirm(self, message: str, default: bool = True) -> bool:
        return bool(self._ask(_confirm(message, default)))


def _confirm(message: str, default: bool) -> Any:
    """A yes/no question that waits for Enter: questionary's own submits on the letter alone, and the Enter
    typed after it then answered the next question."""
    import questionary

    return questionary.confirm(message, default=default, auto_enter=False)


def discard_typeahead() -> None:
    """Forget what was typed before the question was shown: the terminal's unread input, and the keys
    prompt_toolkit read past the end of the previous answer (it hands those to the next prompt)."""
    import sys

    try:
        from prompt_toolkit.input import create_input
        from prompt_toolkit.input.typeahead import clear_typeahead

        clear_typeahead(create_input())
    except Exception:  # noqa: BLE001 - no terminal to read from: nothing was typed ahead
        pass
    try:
        if sys.platform == "win32":
            import msvcrt

            while msvcrt.kbhit():
                msvcrt.getwch()
        else:
            import termios

            if sys.stdin.isatty():
                termios.tcflush(sys.stdin.fileno(), termios.TCIFLUSH)
    except (OSError, ValueError, ImportError):
        pass


def _validator(question: Question) -> Any:
    """questionary's validate: True, or the line that says what is wrong (the prompt stays open)."""

    def validate(raw: str) -> bool | str:
        if question.kind == "text" and not raw.strip():
            return "an answer is needed"
        return question.check(raw.strip()) or True

    return validate


class NoPrompter:
    """Non-interactive mode: every answer must come from flags, environment, .env or defaults."""

    interactive = False

    def ask(self, question: Question, default: Any) -> Any:  # pragma: no cover - resolve() never calls it
        raise AssertionError("non-interactive runs never prompt")

    def confirm(self, message: str, default: bool = True) -> bool:
        return True
