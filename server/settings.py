"""The one place that reads settings: the process environment and a `.env` file.

Names follow the leading project (mcp-memory-service) so its users can switch without renaming anything.
Every other module receives a `Settings` value; nothing else reads `os.environ`.

Precedence: the process environment, then the `.env` file. The `.env` file is the one named by
`MCP_MEMORY_ENV_FILE` (an absolute path, so a client that starts the server from any working directory
gets the same settings), else `<user config dir>/mcp-memory/.env` when it exists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import platformdirs
from dotenv import dotenv_values

from server.cloudflare import facts
from server.embeddings import ENGINES
from server.errors import SettingsError
from server.storage.local.identify import default_database_path
from server.storage.local.sqlite_driver import DEFAULT_BUSY_TIMEOUT_MS

APP_NAME = "mcp-memory"
BACKENDS = ("sqlite_vec", "cloudflare", "hybrid")
CLOUD_BACKENDS = ("cloudflare", "hybrid")  # need the CLOUDFLARE_* settings and a live cloud
LOCAL_DATABASE_BACKENDS = ("sqlite_vec", "hybrid")  # keep a SQLite file on this machine
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DEFAULT_MODEL = "all-MiniLM-L6-v2"
# Both spellings name the one model whose files ship in our dependencies.
KNOWN_MODELS = {"all-minilm-l6-v2": DEFAULT_MODEL, "sentence-transformers/all-minilm-l6-v2": DEFAULT_MODEL}
DEFAULT_PRAGMAS = f"busy_timeout={DEFAULT_BUSY_TIMEOUT_MS},cache_size=20000"
# The longest memory a device accepts, on every backend. Long memories are whole and all of them findable:
# FTS5 holds the text; locally each 1,000-character window has a vector (server/search/chunks.py), in the
# cloud each 2,000-character part (server/storage/cloud/parts.py). A device's own limit: the cloud holds whatever
# any device stored, and every device reads it whole.
DEFAULT_MAX_CONTENT_LENGTH = 200_000

Backend = Literal["sqlite_vec", "cloudflare", "hybrid"]
Engine = Literal["onnx", "sentence-transformers"]
# classic: store_memory, retrieve_memory, ... (ours, and mcp-memory-service's up to 10.x);
# unified: memory_store, memory_search, ... (mcp-memory-service 11.0 and later).
TOOL_PROFILES = ("classic", "unified")


# Pragma name -> allowed values: a (low, high) integer range or a set of keywords (upper case).
# Names are interpolated into SQL, so only these are accepted.
PRAGMA_RULES: dict[str, tuple[int, int] | frozenset[str]] = {
    "busy_timeout": (0, 3_600_000),
    "cache_size": (-4_000_000, 4_000_000),
    "synchronous": frozenset({"OFF", "NORMAL", "FULL", "EXTRA", "0", "1", "2", "3"}),
    "journal_mode": frozenset({"WAL"}),
    "temp_store": frozenset({"DEFAULT", "FILE", "MEMORY", "0", "1", "2"}),
    "mmap_size": (0, 1 << 40),
    "wal_autocheckpoint": (0, 1_000_000),
    "journal_size_limit": (-1, 1 << 40),
}
# Always applied first; MCP_MEMORY_SQLITE_PRAGMAS may change them (journal_mode only to WAL).
BASE_PRAGMAS = (("journal_mode", "WAL"), ("synchronous", "NORMAL"))


@dataclass(frozen=True)
class CloudflareSettings:
    api_token: str = field(repr=False)
    account_id: str
    d1_database_id: str
    vectorize_index: str = facts.DEFAULT_INDEX
    embedding_model: str = facts.DEFAULT_MODEL
    api_base_url: str = facts.DEFAULT_BASE_URL


SYNC_OWNERS = ("both", "http", "mcp")


@dataclass(frozen=True)
class HybridSettings:
    """The hybrid backend's sync (names and defaults of the leading project)."""

    sync_interval: float = 300.0  # seconds between pulls of other devices' changes
    batch_size: int = 50  # outbox rows per push
    sync_on_startup: bool = True  # compare hash sets with the cloud once at start
    sync_updates: bool = True  # metadata edits converge (newer updated_at wins)
    drift_check_interval: float = 3600.0  # seconds between full hash-set comparisons
    drift_batch_size: int = 100  # memories fetched per request when converging
    sync_owner: str = "both"  # which kind of server process may run the sync: both | http | mcp


@dataclass(frozen=True)
class Settings:
    storage_backend: Backend = "sqlite_vec"
    base_dir: Path = field(default_factory=lambda: default_base_dir())
    sqlite_path: Path | None = None
    sqlite_pragmas: tuple[tuple[str, str], ...] = ()
    embedding_model: str = DEFAULT_MODEL
    embedding_engine: Engine = "onnx"
    max_content_length: int = DEFAULT_MAX_CONTENT_LENGTH
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    http_enabled: bool = False  # the shared daemon also serves HTTP (dashboard, /mcp) at http_host:http_port
    api_key: str | None = field(default=None, repr=False)
    log_level: str = "INFO"
    env_file: Path | None = None
    cloudflare: CloudflareSettings | None = None  # set when the backend is cloudflare or hybrid
    hybrid: HybridSettings = field(default_factory=HybridSettings)
    tool_profile: str = "classic"
    hook_tokens: int = 1500  # what the hooks inject at most, in tokens (about 4 characters each)
    hook_threshold: float = 0.5  # the search score a memory needs to be injected by a hook (bench/bench_hooks.py)
    http_header_timeout: float = 10.0  # seconds a client has to send a whole request head
    allowed_hosts: tuple[str, ...] = ()  # extra Host values for the HTTP server (a reverse proxy's names)
    allowed_origins: tuple[str, ...] = ()
    transport: str = "stdio"  # set by the command line; decides who may own the hybrid sync

    def __post_init__(self) -> None:
        if self.sqlite_path is None:
            object.__setattr__(self, "sqlite_path", default_database_path(self.base_dir))
        if not self.sqlite_pragmas:
            object.__setattr__(self, "sqlite_pragmas", parse_pragmas(DEFAULT_PRAGMAS))

    @property
    def uses_cloud(self) -> bool:
        return self.storage_backend in CLOUD_BACKENDS

    @property
    def has_local_database(self) -> bool:
        return self.storage_backend in LOCAL_DATABASE_BACKENDS

    @property
    def database_path(self) -> Path:
        assert self.sqlite_path is not None  # set in __post_init__
        return self.sqlite_path


def default_base_dir() -> Path:
    """The OS's per-user data folder: ~/.local/share/mcp-memory, ~/Library/Application Support/mcp-memory,
    %LOCALAPPDATA%\\mcp-memory (the leading project's locations)."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_env_file() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / ".env"


def parse_pragmas(text: str, variable: str = "MCP_MEMORY_SQLITE_PRAGMAS") -> tuple[tuple[str, str], ...]:
    """Parse `name=value,name=value` into validated pairs, base pragmas first, later entries winning."""
    pairs: dict[str, str] = dict(BASE_PRAGMAS)
    allowed_names = ", ".join(sorted(PRAGMA_RULES))
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = (piece.strip() for piece in item.partition("="))
        name = name.lower()
        if not sep or not value:
            raise SettingsError(variable, text, f"write each pragma as name=value, e.g. {DEFAULT_PRAGMAS}")
        rule = PRAGMA_RULES.get(name)
        if rule is None:
            raise SettingsError(variable, text, f"pragma {name!r} is not supported; allowed: {allowed_names}")
        if isinstance(rule, frozenset):
            if value.upper() not in rule:
                raise SettingsError(variable, text, f"{name} must be one of {', '.join(sorted(rule))}")
            value = value.upper()
        else:
            low, high = rule
            if not re.fullmatch(r"-?\d+", value) or not low <= int(value) <= high:
                raise SettingsError(variable, text, f"{name} must be an integer from {low} to {high}")
            value = str(int(value))
        pairs[name] = value
    return tuple(pairs.items())


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Build `Settings` from an environment mapping (normally `os.environ`) and the `.env` it points to."""
    env_file = _env_file_path(environ)
    values: dict[str, str] = {}
    if env_file is not None:
        values.update(_read_env_file(env_file))
    values.update(environ)
    return settings_from_values(values, env_file)


def settings_from_values(values: Mapping[str, str], env_file: Path | None = None) -> Settings:
    def get(name: str) -> str | None:
        raw = values.get(name)
        return raw.strip() if raw is not None and raw.strip() != "" else None

    base_dir = _path(get("MCP_MEMORY_BASE_DIR")) or default_base_dir()
    return Settings(
        storage_backend=_choice("MCP_MEMORY_STORAGE_BACKEND", get("MCP_MEMORY_STORAGE_BACKEND"), BACKENDS),  # type: ignore[arg-type]
        base_dir=base_dir,
        sqlite_path=_path(get("MCP_MEMORY_SQLITE_PATH")),  # None: our default file in base_dir
        sqlite_pragmas=parse_pragmas(get("MCP_MEMORY_SQLITE_PRAGMAS") or DEFAULT_PRAGMAS),
        embedding_model=_model(get("MCP_EMBEDDING_MODEL")),
        embedding_engine=_choice("MCP_EMBEDDING_ENGINE", get("MCP_EMBEDDING_ENGINE"), ENGINES),  # type: ignore[arg-type]
        max_content_length=_int("MCP_MEMORY_MAX_CONTENT_LENGTH", get("MCP_MEMORY_MAX_CONTENT_LENGTH"),
                                DEFAULT_MAX_CONTENT_LENGTH, 1, 1_000_000),
        http_host=get("MCP_HTTP_HOST") or Settings.http_host,
        http_port=_int("MCP_HTTP_PORT", get("MCP_HTTP_PORT"), Settings.http_port, 0, 65535),
        http_enabled=_bool("MCP_HTTP_ENABLED", get("MCP_HTTP_ENABLED"), Settings.http_enabled),
        api_key=get("MCP_API_KEY"),
        log_level=_choice("MCP_LOG_LEVEL", get("MCP_LOG_LEVEL"), LOG_LEVELS, default="INFO", upper=True),
        env_file=env_file,
        cloudflare=_cloudflare(get) if get("MCP_MEMORY_STORAGE_BACKEND") in CLOUD_BACKENDS else None,
        hybrid=_hybrid(get),
        tool_profile=_choice("MCP_MEMORY_TOOL_PROFILE", get("MCP_MEMORY_TOOL_PROFILE"), TOOL_PROFILES),
        hook_tokens=_int("MCP_MEMORY_HOOK_TOKENS", get("MCP_MEMORY_HOOK_TOKENS"), Settings.hook_tokens, 0, 50_000),
        hook_threshold=_fraction("MCP_MEMORY_HOOK_THRESHOLD", get("MCP_MEMORY_HOOK_THRESHOLD"), Settings.hook_threshold),
        http_header_timeout=_seconds("MCP_HTTP_HEADER_TIMEOUT", get("MCP_HTTP_HEADER_TIMEOUT"), Settings.http_header_timeout,
                                     1, 300),
        allowed_hosts=_list(get("MCP_ALLOWED_HOSTS")),
        allowed_origins=_list(get("MCP_ALLOWED_ORIGINS")),
    )


def _hybrid(get: Any) -> HybridSettings:
    """Each value from its MCP_HYBRID_* variable, or HybridSettings' default."""
    default = HybridSettings
    return HybridSettings(
        sync_interval=_seconds("MCP_HYBRID_SYNC_INTERVAL", get("MCP_HYBRID_SYNC_INTERVAL"), default.sync_interval,
                               1, 86_400),
        batch_size=_int("MCP_HYBRID_BATCH_SIZE", get("MCP_HYBRID_BATCH_SIZE"), default.batch_size, 1, 100),
        sync_on_startup=_bool("MCP_HYBRID_SYNC_ON_STARTUP", get("MCP_HYBRID_SYNC_ON_STARTUP"), default.sync_on_startup),
        sync_updates=_bool("MCP_HYBRID_SYNC_UPDATES", get("MCP_HYBRID_SYNC_UPDATES"), default.sync_updates),
        drift_check_interval=_seconds("MCP_HYBRID_DRIFT_CHECK_INTERVAL", get("MCP_HYBRID_DRIFT_CHECK_INTERVAL"),
                                      default.drift_check_interval, 1, 7 * 86_400),
        drift_batch_size=_int("MCP_HYBRID_DRIFT_BATCH_SIZE", get("MCP_HYBRID_DRIFT_BATCH_SIZE"),
                              default.drift_batch_size, 1, 1000),
        sync_owner=_choice("MCP_HYBRID_SYNC_OWNER", get("MCP_HYBRID_SYNC_OWNER"), SYNC_OWNERS),
    )


def _bool(variable: str, raw: str | None, default: bool) -> bool:
    if raw is None:
        return default
    value = raw.lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise SettingsError(variable, raw, "true or false")


def _cloudflare(get: Any) -> CloudflareSettings:
    from server.keyring_store import read_token

    def required(name: str, hint: str) -> str:
        value = get(name)
        if value is None:
            raise SettingsError(name, "", f"required for the cloudflare and hybrid backends: {hint}")
        return str(value)

    token = get("CLOUDFLARE_API_TOKEN") or read_token()
    if not token:
        raise SettingsError("CLOUDFLARE_API_TOKEN", "", "required for the cloudflare and hybrid backends: set it, or run "
                            "install.py, which keeps it in the OS keyring or the 0600 .env")
    return CloudflareSettings(
        api_token=token,
        account_id=required("CLOUDFLARE_ACCOUNT_ID", "the 32-hex-character account ID"),
        d1_database_id=required("CLOUDFLARE_D1_DATABASE_ID", "the UUID of the D1 database"),
        vectorize_index=get("CLOUDFLARE_VECTORIZE_INDEX") or facts.DEFAULT_INDEX,
        embedding_model=get("CLOUDFLARE_EMBEDDING_MODEL") or facts.DEFAULT_MODEL,
        api_base_url=get("CLOUDFLARE_API_BASE_URL") or facts.DEFAULT_BASE_URL,
    )


def _read_env_file(path: Path) -> dict[str, str]:
    """The file's settings; a file that is not UTF-8, or a line python-dotenv cannot parse (which would
    silently drop what follows, e.g. after an unbalanced quote), stops start-up naming the line."""
    import io

    from dotenv.parser import parse_stream

    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SettingsError("MCP_MEMORY_ENV_FILE", str(path), f"the file is not UTF-8 text (byte {exc.start}); "
                            "save it as UTF-8") from exc
    except OSError as exc:
        raise SettingsError("MCP_MEMORY_ENV_FILE", str(path), f"cannot be read ({exc.strerror})") from exc
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            line = binding.original.line
            raise SettingsError("MCP_MEMORY_ENV_FILE", str(path), f"line {line} cannot be read "
                                f"({binding.original.string.strip()[:40]!r}: an unbalanced quote?); fix it")
    return {k: v for k, v in dotenv_values(stream=io.StringIO(text)).items() if v is not None}


def _env_file_path(environ: Mapping[str, str]) -> Path | None:
    named = environ.get("MCP_MEMORY_ENV_FILE", "").strip()
    if named:
        path = Path(named).expanduser()
        if not path.is_absolute():
            raise SettingsError("MCP_MEMORY_ENV_FILE", named, "give an absolute path to the .env file")
        if path.is_dir():
            raise SettingsError("MCP_MEMORY_ENV_FILE", named, "that is a folder; name the .env file inside it")
        if not path.exists():
            raise SettingsError("MCP_MEMORY_ENV_FILE", named, "no such file; create it or unset the variable")
        if not path.is_file():
            raise SettingsError("MCP_MEMORY_ENV_FILE", named, "that is not a regular file (a device or a pipe); "
                                "name a .env file")
        return path
    fallback = default_env_file()
    return fallback if fallback.is_file() else None


def _choice(variable: str, raw: str | None, allowed: tuple[str, ...], default: str | None = None,
            upper: bool = False) -> str:
    if raw is None:
        return default or allowed[0]
    value = raw.upper() if upper else raw
    if value not in allowed:
        raise SettingsError(variable, raw, f"allowed values: {' | '.join(allowed)}")
    return value


def _int(variable: str, raw: str | None, default: int, low: int, high: int) -> int:
    if raw is None:
        return default
    if not re.fullmatch(r"-?\d+", raw) or not low <= int(raw) <= high:
        raise SettingsError(variable, raw, f"an integer from {low} to {high}")
    return int(raw)


def _fraction(variable: str, raw: str | None, default: float) -> float:
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise SettingsError(variable, raw, "a number from 0 to 1")
    return value


def _seconds(variable: str, raw: str | None, default: float, low: int, high: int) -> float:
    """A whole number of seconds from the environment (the default may be a fraction: tests use them)."""
    return default if raw is None else float(_int(variable, raw, 0, low, high))


def _list(raw: str | None) -> tuple[str, ...]:
    return tuple(item.strip() for item in (raw or "").split(",") if item.strip())


def _path(raw: str | None) -> Path | None:
    return Path(raw).expanduser() if raw else None


def _model(raw: str | None) -> str:
    if raw is None:
        return DEFAULT_MODEL
    known = KNOWN_MODELS.get(raw.lower())
    if known is None:
        raise SettingsError(
            "MCP_EMBEDDING_MODEL",
            raw,
            f"only {DEFAULT_MODEL} is available offline (384 dimensions); unset the variable to use it",
        )
    return known
