"""The stdio shim: what a client's entry runs (`python -m server`, unless MCP_MEMORY_DAEMON=off). It connects to
this user's memory daemon (server/daemon.py), starting it when none runs, and relays the client's MCP lines
both ways. Standard library and platformdirs only: it must answer in milliseconds.

- One daemon per user and settings: the socket's name is a hash of the settings that choose the data (the
  MCP_* and CLOUDFLARE_* variables and the .env file), in a 0700 folder of the user's runtime directory.
- Started race-free: whoever holds the folder's lock file starts the daemon; the others wait for its socket.
- Versions: each side names its version first; an older daemon is asked to stop (it finishes what is in
  flight) and this shim starts its own; a newer one is left alone and this older shim serves in-process.
- A socket file nobody listens on (a daemon killed) is removed before a new daemon starts.
- When no daemon can be had (no runtime folder, a start that fails), `run()` returns None and the caller
  serves in-process as before, having said why in the log.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from server import __version__

START_TIMEOUT = 60.0  # seconds for a new daemon to listen (it loads nothing heavy before it does)
HANDSHAKE_TIMEOUT = 10.0


class NoDaemon(Exception):
    """The daemon cannot be reached or started; the reason, for the log."""


def daemon_wanted(environ: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """Whether clients go through the shared daemon: unless MCP_MEMORY_DAEMON=off."""
    return environ.get("MCP_MEMORY_DAEMON", "on").strip().lower() not in ("off", "0", "false", "no")


def transport(environ: dict[str, str] | os._Environ[str] = os.environ) -> str:
    """`unix`: a Unix socket in the private folder; `tcp`: a loopback port whose per-user secret is in a file
    in that folder (Windows, or MCP_MEMORY_DAEMON_TRANSPORT=tcp)."""
    return "tcp" if os.name == "nt" or environ.get("MCP_MEMORY_DAEMON_TRANSPORT", "").strip() == "tcp" else "unix"


def runtime_dir(environ: dict[str, str] | os._Environ[str] = os.environ) -> Path:
    """This user's folder for daemon sockets: private (0700, ours) or refused."""
    import platformdirs

    base = environ.get("MCP_MEMORY_RUNTIME_DIR") or environ.get("XDG_RUNTIME_DIR") or platformdirs.user_cache_dir(
        "mcp-memory", appauthor=False)
    folder = Path(base) / "mcp-memory-daemon" if not environ.get("MCP_MEMORY_RUNTIME_DIR") else Path(base)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if os.name == "nt":  # the user's own LocalAppData: private by its access list
        return folder
    info = folder.stat()
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise NoDaemon(f"{folder} is not private to this user (owner {info.st_uid}, mode {oct(info.st_mode & 0o777)})")
    return folder


# Variables that do not choose the data: the daemon's own, a hook's check mode, the installer's answers.
NOT_SETTINGS = ("MCP_MEMORY_DAEMON", "MCP_MEMORY_HOOK_CHECK", "MCP_INSTALL_")


def settings_key(environ: dict[str, str] | os._Environ[str] = os.environ) -> str:
    """A name for the settings that choose the data: equal settings share one daemon."""
    import platformdirs

    chosen = sorted((k, v) for k, v in environ.items() if k.startswith(("MCP_", "CLOUDFLARE_", "XDG_"))
                    and not k.startswith(NOT_SETTINGS))
    env_file = Path(environ.get("MCP_MEMORY_ENV_FILE", "").strip() or
                    Path(platformdirs.user_config_dir("mcp-memory", appauthor=False)) / ".env")
    try:
        text = env_file.read_bytes()
    except OSError:
        text = b""
    digest = hashlib.sha256(json.dumps([chosen, str(env_file)]).encode() + b"\0" + text)
    return digest.hexdigest()[:16]


def endpoint(environ: dict[str, str] | os._Environ[str] = os.environ) -> Path:
    """The daemon's socket (`.sock`), or the file naming its loopback port and secret (`.tcp`)."""
    suffix = ".tcp" if transport(environ) == "tcp" else ".sock"
    return runtime_dir(environ) / f"{settings_key(environ)}{suffix}"


class Answer(NamedTuple):
    """What a daemon says of itself: its version, and the URL of its HTTP server (None without one)."""

    version: str
    http: str | None = None


def hello(sock: socket.socket, stop: bool = False, probe: bool = False, hook: bool = False) -> Answer:
    """Say our version (with stop, ask the daemon to stop; with probe, only ask who it is; with hook, a hook's
    one request follows instead of an MCP session)."""
    said = {"mcp-memory-shim": __version__, "stop": stop, "probe": probe, **({"hook": True} if hook else {})}
    sock.sendall(json.dumps(said).encode() + b"\n")
    said = json.loads(_line(sock, HANDSHAKE_TIMEOUT, "the daemon closed the connection during the handshake"))
    return Answer(str(said.get("mcp-memory-daemon", "")), said.get("http") or None)


def connect(path: Path) -> socket.socket | None:
    """A connection to the daemon at `path`, or None when none listens there. Over loopback the connection
    opens with the secret only this user can read, so another user's process is refused."""
    if path.suffix == ".tcp":
        try:
            said = json.loads(path.read_text(encoding="utf-8"))
            sock = socket.create_connection(("127.0.0.1", int(said["port"])), timeout=HANDSHAKE_TIMEOUT)
        except (OSError, ValueError, KeyError, TypeError):
            return None  # no file, a file half-written, or nobody at its port: no daemon
        sock.sendall(json.dumps({"secret": str(said.get("secret", ""))}).encode() + b"\n")
        return sock
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
        return sock
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        return None


def daemon_connection(environ: dict[str, str] | os._Environ[str] = os.environ, hook: bool = False,
                      start_timeout: float = START_TIMEOUT) -> socket.socket:
    """A connection to this user's daemon, of our version, past the handshake; started when needed (waiting
    at most `start_timeout` seconds for it)."""
    path = endpoint(environ)
    for _ in range(3):  # at most: an old daemon replaced, then ours
        sock = connect(path)
        if sock is None:
            _start(path, environ, start_timeout)
            continue
        version = hello(sock, hook=hook).version
        if version == __version__:
            return sock
        sock.close()
        if _release(version) > _release(__version__):  # never stop a newer daemon for an older shim
            raise NoDaemon(f"a newer daemon ({version}) runs; this shim is {__version__}")
        _replace(path, version)
    raise NoDaemon(f"no daemon of version {__version__} could be started at {path}")


def _line(sock: socket.socket, timeout: float, closed: str) -> bytes:
    """What the daemon sends until a whole line has come (within `timeout` seconds); NoDaemon(closed) if it
    closes first. The socket is left blocking again."""
    sock.settimeout(timeout)
    answer = b""
    while b"\n" not in answer:
        chunk = sock.recv(65536)
        if not chunk:
            raise NoDaemon(closed)
        answer += chunk
    sock.settimeout(None)
    return answer


def ask(request: dict[str, object], timeout: float, environ: dict[str, str] | os._Environ[str] = os.environ) -> dict:
    """One hook request answered by the daemon (started when needed, within `timeout` too): its JSON answer."""
    sock = daemon_connection(environ, hook=True, start_timeout=timeout)
    try:
        sock.settimeout(timeout)
        sock.sendall(json.dumps(request).encode() + b"\n")
        answer = _line(sock, timeout, "the daemon closed the connection before it answered")
    finally:
        sock.close()
    said = json.loads(answer)
    if not isinstance(said, dict):
        raise NoDaemon("the daemon's answer is not a JSON object")
    return said


def _release(version: str) -> tuple[int, ...]:
    """"0.10.2" -> (0, 10, 2); anything unreadable sorts first (an old or foreign daemon is replaced)."""
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        return ()


def _replace(path: Path, version: str) -> None:
    """A daemon of another version: ask it to stop, and wait until its socket is gone."""
    print(f"mcp-memory: the running daemon is version {version}; asking it to stop for {__version__}",
          file=sys.stderr)
    sock = connect(path)
    if sock is not None:
        try:
            hello(sock, stop=True)
        except (OSError, NoDaemon, ValueError):
            pass
        sock.close()
    deadline = time.monotonic() + START_TIMEOUT
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # the old daemon finishes what is in flight, then removes its socket


def _start(path: Path, environ: dict[str, str] | os._Environ[str], timeout: float = START_TIMEOUT) -> None:
    """Start the daemon unless another shim is doing so (the lock file decides), and wait for its socket."""
    with _locked(path.with_suffix(".lock")):
        probe = connect(path)
        if probe is not None:  # another shim started it while this one waited for the lock
            probe.close()
            return
        path.unlink(missing_ok=True)  # a stale socket: its daemon is gone
        log = path.with_suffix(".log")
        start = log.stat().st_size if log.exists() else 0
        with open(log, "ab") as out:
            isolated = ["-I"] if sys.flags.isolated else []  # as the client's entry runs Python
            detached: dict[str, Any] = {"start_new_session": True} if os.name != "nt" else {
                "creationflags": subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.DETACHED_PROCESS}  # type: ignore[attr-defined]
            daemon = subprocess.Popen([sys.executable, *isolated, "-m", "server", "daemon", "--socket", str(path)],
                                      env=dict(environ), stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                      cwd=str(Path(__file__).resolve().parent.parent), **detached)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            probe = connect(path)
            if probe is not None:
                probe.close()
                return
            if daemon.poll() is not None:  # it could not start (settings, a foreign database): say why at once
                said = log.read_bytes()[start:].decode("utf-8", "replace").strip().splitlines()
                raise NoDaemon(f"the daemon stopped at start ({said[-1] if said else 'no reason given'}); its log: {log}")
            time.sleep(0.02)
        raise NoDaemon(f"the daemon did not start within {timeout:.0f} s; its log: {log}")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path`, released when it closes, even if this process dies."""
    with open(path, "a+") as lock:
        if os.name == "nt":
            import msvcrt

            lock.seek(0)
            msvcrt.locking(lock.fileno(), msvcrt.LK_LOCK, 1)  # type: ignore[attr-defined]
        else:
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


class Relay:
    """The client's lines to the daemon and its answers back. If the daemon goes away mid-session (killed,
    replaced), every request it had not answered gets a JSON-RPC error saying so, and the shim connects to a
    new daemon and opens the session again with the client's own initialize (its answer is not passed on; a
    client of the newer protocol sends none, each request carrying what it needs), so the client carries on;
    after RECONNECTS failures in a row it ends."""

    RECONNECTS = 3

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.lock = threading.Lock()  # the socket and the bookkeeping are swapped together
        self.pending: dict[str, bytes] = {}  # request id (as JSON) -> nothing more needed
        self.initialize: bytes | None = None
        self.initialized: bytes | None = None
        self.client_done = False
        self.ready = threading.Event()  # set while the connection is usable (cleared while it is replaced)
        self.ready.set()

    def upstream(self) -> None:
        buffer = b""
        try:
            while chunk := os.read(0, 65536):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    self._note_request(line)
                    self._send(line + b"\n")
        except OSError:
            pass
        if buffer.strip():
            self._send(buffer)
        with self.lock:
            self.client_done = True
            try:
                self.sock.shutdown(socket.SHUT_WR)  # the client is gone: the daemon ends this session
            except OSError:
                pass

    def _send(self, data: bytes) -> None:
        """Send, waiting while the daemon is replaced (a request must not be dropped on the way)."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            self.ready.wait(timeout=START_TIMEOUT)
            with self.lock:
                sock = self.sock
            try:
                sock.sendall(data)
                return
            except OSError:
                time.sleep(0.05)  # broken: the downstream side notices, and reconnects

    def _note_request(self, line: bytes) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            return  # the daemon answers it with a parse error
        if not isinstance(message, dict) or "method" not in message:
            return
        if message["method"] == "initialize":
            self.initialize = line
        elif message["method"] == "notifications/initialized":
            self.initialized = line
        if "id" in message:
            with self.lock:
                self.pending[json.dumps(message["id"])] = b""

    def downstream(self) -> int:
        failures = 0
        while True:
            buffer = b""
            try:
                while chunk := self.sock.recv(65536):
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        self._note_answer(line)
                        os.write(1, line + b"\n")
            except OSError:
                pass
            self.ready.clear()
            if self.client_done:
                return 0
            failures += 1
            if failures > self.RECONNECTS:
                print("mcp-memory: the memory daemon went away; restart the client's server", file=sys.stderr)
                return 1
            self._answer_pending("The memory daemon stopped while answering this request; it has been "
                                 "restarted. Try again.")
            try:
                self._reconnect()
                failures = 0
            except (NoDaemon, OSError) as exc:
                print(f"mcp-memory: reconnecting to the memory daemon failed ({exc})", file=sys.stderr)

    def _note_answer(self, line: bytes) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            return
        if isinstance(message, dict) and "id" in message and "method" not in message:
            with self.lock:
                self.pending.pop(json.dumps(message["id"]), None)

    def _answer_pending(self, why: str) -> None:
        with self.lock:
            ids, self.pending = list(self.pending), {}
        for key in ids:
            error = {"jsonrpc": "2.0", "id": json.loads(key), "error": {"code": -32603, "message": why}}
            os.write(1, json.dumps(error).encode() + b"\n")

    def _reconnect(self) -> None:
        """A new daemon (started if needed), and the session opened again as the client opened it."""
        sock = daemon_connection()
        if self.initialize is not None:  # a session opened with initialize (a newer client needs none)
            self._initialize_again(sock)
        print("mcp-memory: the memory daemon was restarted; the session goes on", file=sys.stderr)
        with self.lock:
            self.sock = sock
        self.ready.set()

    def _initialize_again(self, sock: socket.socket) -> None:
        assert self.initialize is not None
        again = json.loads(self.initialize)
        again["id"] = "mcp-memory-shim-reinitialize"
        sock.sendall(json.dumps(again).encode() + b"\n")
        answer = _line(sock, START_TIMEOUT, "the new daemon closed the session while it was opened again")
        if b"mcp-memory-shim-reinitialize" not in answer.split(b"\n", 1)[0]:
            raise NoDaemon("the new daemon did not open the session again")
        if self.initialized is not None:
            sock.sendall(self.initialized + b"\n")


def relay(sock: socket.socket) -> int:
    """Copy the client's lines to the daemon and its answers back, until the client ends."""
    link = Relay(sock)
    threading.Thread(target=link.upstream, name="client-to-daemon", daemon=True).start()
    return link.downstream()


def running_daemons(environ: dict[str, str] | os._Environ[str] = os.environ) -> list[tuple[Path, Answer]]:
    """(socket, what it says) of each daemon of this user that answers (for `install.py doctor`)."""
    found = []
    try:
        folder = runtime_dir(environ)
    except (NoDaemon, OSError):
        return []
    for path in sorted([*folder.glob("*.sock"), *folder.glob("*.tcp")]):
        sock = connect(path)
        if sock is None:
            continue
        try:
            found.append((path, hello(sock, probe=True)))
        except (NoDaemon, OSError, ValueError):
            pass
        finally:
            sock.close()
    return found


def stop_daemons(environ: dict[str, str] | os._Environ[str] = os.environ) -> int:
    """Ask every daemon of this user to stop (they finish what is in flight); how many were asked."""
    asked = 0
    for path, _ in running_daemons(environ):
        sock = connect(path)
        if sock is None:
            continue
        try:
            hello(sock, stop=True)
            asked += 1
        except (NoDaemon, OSError, ValueError):
            pass
        finally:
            sock.close()
    return asked


def run() -> int | None:
    """Serve this client through the daemon; None when there is none to be had (then serve in-process)."""
    try:
        sock = daemon_connection()
    except Exception as exc:  # noqa: BLE001 - whatever stops the daemon, the client is served here instead
        print(f"mcp-memory: serving in this process: the shared daemon is not available ({exc})", file=sys.stderr)
        return None
    return relay(sock)
