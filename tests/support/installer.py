"""A fake home for the installer: a clean environment, client folders, and the two ways to run it
(a subprocess for unattended runs, a pseudo-terminal for the wizard)."""

from __future__ import annotations

import io
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pexpect

from tests.support.environment import clean_environ

REPO = Path(__file__).resolve().parents[2]
DOWN, UP, ENTER, CTRL_C, CTRL_D = "\x1b[B", "\x1b[A", "\r", "\x03", "\x04"
# What each other client's folder is, in a Linux home (installer/clients.py has every OS).
CLIENT_FOLDERS = {"cursor": ".cursor", "vscode": ".config/Code/User", "windsurf": ".codeium/windsurf",
                  "codex": ".codex", "gemini": ".gemini"}


class FakeHome:
    """Where a Linux home keeps our settings and Claude Desktop's config."""

    home: Path

    @property
    def env_file(self) -> Path:
        return self.home / ".config" / "mcp-memory" / ".env"

    @property
    def desktop_config(self) -> Path:
        return self.home / ".config" / "Claude" / "claude_desktop_config.json"


@dataclass
class Sandbox(FakeHome):
    root: Path

    @property
    def home(self) -> Path:  # type: ignore[override]
        return self.root / "home"

    def install_clients(self, *names: str) -> None:
        """Make these clients look installed (their config folders exist)."""
        for name in names:
            (self.home / CLIENT_FOLDERS[name]).mkdir(parents=True, exist_ok=True)

    def environ(self, **extra: str) -> dict[str, str]:
        return clean_environ(self.home, **extra)

    def run(self, *args: str, env: dict[str, str] | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "installer", *args], cwd=cwd, env=env or self.environ(),
                              capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)

    def files(self) -> dict[str, bytes]:
        return {str(p.relative_to(self.root)): p.read_bytes() for p in sorted(self.root.rglob("*"))
                if p.is_file() and "mcp-memory/memories.db" not in str(p) and "data" not in p.parts}


class Wizard(FakeHome):
    """The installer in a real pseudo-terminal (pexpect): what the person sees, and their keys."""

    def __init__(self, root: Path, *args: str, extra_env: dict[str, str] | None = None,
                 command: list[str] | None = None, cwd: Path = REPO) -> None:
        self.home = root / "home"
        (self.home / ".config" / "Claude").mkdir(parents=True, exist_ok=True)
        # PROMPT_TOOLKIT_NO_CPR: a terminal answers prompt_toolkit's cursor-position request at once; a pty
        # under pexpect never does, and each question then waited a second for the answer.
        env = clean_environ(self.home, TERM="xterm-256color", PROMPT_TOOLKIT_NO_CPR="1", **(extra_env or {}))
        command = command or [sys.executable, "-m", "installer", "--skip-smoke-test"]
        self.child = pexpect.spawn(command[0], [*command[1:], *args], cwd=str(cwd),
                                   env=env, encoding="utf-8", dimensions=(40, 140), timeout=30)
        self.transcript = io.StringIO()  # everything the terminal showed
        self.child.logfile_read = self.transcript

    def expect(self, text: str, timeout: float = 30) -> None:
        self.child.expect_exact(text, timeout=timeout)

    def send(self, keys: str) -> None:
        self.child.send(keys)

    def exit_status(self) -> int:
        self.child.expect(pexpect.EOF)
        self.child.close()
        return self.child.exitstatus

    def nothing_written(self) -> bool:
        return not self.env_file.exists() and not self.desktop_config.exists()


def usage(w: Wizard, several: str = ENTER, survive: str = ENTER) -> None:
    """The recommendation's two plain questions; Enter says no to both (this computer only)."""
    w.expect("more than one computer?")
    w.send(several)
    if several == ENTER:
        w.expect("survive losing this computer")
        w.send(survive)


def answer_all(w: Wizard, data_dir: Path) -> None:
    usage(w)
    w.expect("Where should memories be stored?")
    w.send(ENTER)  # Enter keeps the recommendation: sqlite_vec
    w.expect("Folder for the database")
    w.send("\x15")  # Ctrl-U clears the pre-filled default
    w.send(f"{data_dir}{ENTER}")
    w.expect("Embedding engine")
    w.send(ENTER)
    w.expect("Configure Claude Desktop")
    w.send("y" + ENTER)
    w.expect("Configure Claude Code?")
    w.send(UP + ENTER)  # from the default "none" (no CLI here) up to "project"
    w.expect("Project folder")
    (data_dir.parent / "project").mkdir(exist_ok=True)
    w.send(f"\x15{data_dir.parent / 'project'}{ENTER}")
    w.expect("Recall and keep memories automatically?")
    w.send("y" + ENTER)
    w.expect("Also look up memories for each prompt")
    w.send(ENTER)  # the default: no
    w.expect("Also start an HTTP server now")
    w.send("n" + ENTER)
