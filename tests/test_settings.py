from pathlib import Path

import pytest

from server.errors import SettingsError
from server.settings import default_base_dir, load_settings, parse_pragmas, settings_from_values


def test_defaults_use_the_os_data_dir_and_leading_project_names():
    s = settings_from_values({})
    assert s.storage_backend == "sqlite_vec"
    assert s.base_dir == default_base_dir()
    assert s.base_dir.name == "mcp-memory"
    assert s.database_path.parent == s.base_dir
    assert dict(s.sqlite_pragmas) == {"journal_mode": "WAL", "synchronous": "NORMAL", "busy_timeout": "15000",
                                      "cache_size": "20000"}
    assert s.embedding_engine == "onnx" and s.embedding_model == "all-MiniLM-L6-v2"
    assert (s.http_host, s.http_port, s.max_content_length) == ("127.0.0.1", 8000, 200_000)  # local: long memories


def test_sqlite_path_defaults_under_the_base_dir(tmp_path):
    s = settings_from_values({"MCP_MEMORY_BASE_DIR": str(tmp_path)})
    assert s.database_path == tmp_path / "memories.db"  # not the leading project's sqlite_vec.db
    s = settings_from_values({"MCP_MEMORY_BASE_DIR": str(tmp_path), "MCP_MEMORY_SQLITE_PATH": str(tmp_path / "x.db")})
    assert s.database_path == tmp_path / "x.db"


@pytest.mark.parametrize(
    ("variable", "value", "needle"),
    [
        ("MCP_MEMORY_STORAGE_BACKEND", "chromadb", "sqlite_vec | cloudflare | hybrid"),
        ("MCP_EMBEDDING_ENGINE", "torch", "onnx | sentence-transformers"),
        ("MCP_HTTP_PORT", "eighty", "an integer from 0 to 65535"),
        ("MCP_HTTP_PORT", "70000", "an integer from 0 to 65535"),
        ("MCP_MEMORY_MAX_CONTENT_LENGTH", "0", "an integer from 1"),
        ("MCP_MEMORY_SQLITE_PRAGMAS", "busy_timeout", "name=value"),
        ("MCP_MEMORY_SQLITE_PRAGMAS", "evil=1; DROP TABLE memories", "not supported"),
        ("MCP_MEMORY_SQLITE_PRAGMAS", "busy_timeout=-5", "integer from 0"),
        ("MCP_MEMORY_SQLITE_PRAGMAS", "journal_mode=DELETE", "must be one of WAL"),
        ("MCP_EMBEDDING_MODEL", "bge-large", "only all-MiniLM-L6-v2"),
        ("MCP_LOG_LEVEL", "chatty", "DEBUG | INFO"),
    ],
)
def test_an_invalid_value_names_the_variable_the_value_and_what_is_allowed(variable, value, needle):
    with pytest.raises(SettingsError) as caught:
        settings_from_values({variable: value})
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{variable}={value!r}")
    assert needle in message


def test_pragmas_are_validated_normalised_and_later_entries_win():
    pragmas = dict(parse_pragmas("busy_timeout=100, synchronous=full,cache_size=-2000,busy_timeout=200"))
    assert pragmas == {"journal_mode": "WAL", "synchronous": "FULL", "busy_timeout": "200", "cache_size": "-2000"}


def test_the_env_file_named_by_absolute_path_is_read_and_the_environment_wins(tmp_path):
    env_file = tmp_path / "server.env"
    env_file.write_text("# ours\nMCP_HTTP_PORT=9100\nMCP_MEMORY_BASE_DIR=/from/file\nOTHER=1\n", encoding="utf-8")
    s = load_settings({"MCP_MEMORY_ENV_FILE": str(env_file), "MCP_MEMORY_BASE_DIR": str(tmp_path / "env")})
    assert s.http_port == 9100
    assert s.base_dir == tmp_path / "env"
    assert s.env_file == env_file


def test_a_relative_or_missing_env_file_is_refused(tmp_path):
    with pytest.raises(SettingsError, match="absolute path"):
        load_settings({"MCP_MEMORY_ENV_FILE": "relative/.env"})
    with pytest.raises(SettingsError, match="no such file"):
        load_settings({"MCP_MEMORY_ENV_FILE": str(tmp_path / "missing.env")})


def test_the_api_key_never_appears_in_the_settings_repr():
    s = settings_from_values({"MCP_API_KEY": "sekrit-value"})
    assert s.api_key == "sekrit-value"
    assert "sekrit-value" not in repr(s)


def test_default_env_file_is_read_from_the_user_config_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    (tmp_path / "mcp-memory").mkdir()
    (tmp_path / "mcp-memory" / ".env").write_text("MCP_HTTP_PORT=9200\n", encoding="utf-8")
    assert load_settings({}).http_port == 9200
    assert load_settings({}).env_file == Path(tmp_path / "mcp-memory" / ".env")


def test_hybrid_settings_keep_the_leading_projects_names_and_defaults():
    h = settings_from_values({}).hybrid
    assert (h.sync_interval, h.batch_size, h.sync_on_startup, h.sync_updates) == (300, 50, True, True)
    assert (h.drift_check_interval, h.drift_batch_size, h.sync_owner) == (3600, 100, "both")
    h = settings_from_values({"MCP_HYBRID_SYNC_INTERVAL": "30", "MCP_HYBRID_BATCH_SIZE": "10",
                              "MCP_HYBRID_SYNC_ON_STARTUP": "false", "MCP_HYBRID_SYNC_OWNER": "http"}).hybrid
    assert (h.sync_interval, h.batch_size, h.sync_on_startup, h.sync_owner) == (30, 10, False, "http")


@pytest.mark.parametrize(("variable", "value", "needle"), [
    ("MCP_HYBRID_BATCH_SIZE", "500", "an integer from 1 to 100"),
    ("MCP_HYBRID_SYNC_UPDATES", "maybe", "true or false"),
    ("MCP_HYBRID_SYNC_OWNER", "desktop", "both | http | mcp"),
])
def test_a_bad_hybrid_value_names_the_variable_and_what_is_allowed(variable, value, needle):
    with pytest.raises(SettingsError) as caught:
        settings_from_values({variable: value})
    assert variable in str(caught.value) and needle in str(caught.value)


def test_memories_may_be_long_on_every_backend_and_the_limit_is_each_devices_own():
    assert settings_from_values({}).max_content_length == 200_000
    for backend in ("hybrid", "cloudflare"):
        assert settings_from_values({"MCP_MEMORY_STORAGE_BACKEND": backend, "CLOUDFLARE_API_TOKEN": "t",
                                     "CLOUDFLARE_ACCOUNT_ID": "a", "CLOUDFLARE_D1_DATABASE_ID": "d"}
                                    ).max_content_length == 200_000  # the cloud keeps long ones in parts
    assert settings_from_values({"MCP_MEMORY_MAX_CONTENT_LENGTH": "9000"}).max_content_length == 9000
