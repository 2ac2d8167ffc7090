"""The questions the installer asks, in order. Defaults depend on what `detect` found."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from installer import entries
from installer.clients import claude_code_project_config_path, claude_code_user_config_path
from installer.detect import Detected
from installer.questions import Choice, Question
from server.settings import CLOUD_BACKENDS
from server.settings import default_base_dir

LOCAL = "sqlite_vec"
CLOUD = "cloudflare"


# One notion of "cloud backend", the server's.


def _uses_cloud(answers: Any) -> bool:
    return answers.get("storage_backend") in CLOUD_BACKENDS


def build_questions(found: Detected) -> tuple[Question, ...]:
    def code_default(_: Any) -> str:
        return "user" if found.claude_cli or found.claude_code_config else "none"

    return (
        Question(
            name="storage_backend", kind="select", flag="--storage-backend", env="MCP_MEMORY_STORAGE_BACKEND",
            env_file_key="MCP_MEMORY_STORAGE_BACKEND",
            prompt="Where should memories be stored?",
            help="sqlite_vec keeps everything on this machine; hybrid adds a Cloudflare copy for several "
                 "devices; cloudflare keeps nothing locally.",
            choices=(
                Choice(LOCAL, "sqlite_vec  - this machine only, no cloud account (recommended)"),
                Choice("hybrid", "hybrid      - local speed plus a Cloudflare copy, for several devices"),
                Choice("cloudflare", "cloudflare  - Cloudflare only, no local disk"),
            ),
            default=lambda _: LOCAL,
        ),
        *cloudflare_questions(),
        Question(
            name="data_dir", kind="path", flag="--data-dir", env="MCP_MEMORY_BASE_DIR",
            env_file_key="MCP_MEMORY_BASE_DIR",
            prompt="Data directory (the database lives here)",
            help="Where sqlite_vec.db is kept.",
            default=lambda _: default_base_dir(),
        ),
        Question(
            name="embedding_engine", kind="select", flag="--embedding-engine", env="MCP_EMBEDDING_ENGINE",
            env_file_key="MCP_EMBEDDING_ENGINE",
            prompt="Embedding engine",
            help="Both give the same vectors; onnx is small and starts in under a second.",
            choices=(
                Choice("onnx", "onnx                  - no torch, ~300 MB install (recommended)"),
                Choice("sentence-transformers", "sentence-transformers - needs torch, ~1.5 GB install"),
            ),
            default=lambda _: "onnx",
        ),
        Question(
            name="claude_desktop", kind="confirm", flag="--claude-desktop", env="MCP_INSTALL_CLAUDE_DESKTOP",
            prompt=f"Configure Claude Desktop ({found.desktop_config})?",
            help="Adds our server to Claude Desktop's config; other servers and settings are kept.",
            default=lambda _: True,
            when=lambda _: found.desktop_config is not None,
        ),
        Question(
            name="claude_code", kind="select", flag="--claude-code", env="MCP_INSTALL_CLAUDE_CODE",
            prompt="Configure Claude Code?",
            help="user: every project on this machine; project: a .mcp.json in one project folder.",
            choices=(
                Choice("user", "user    - available in every project"),
                Choice("project", "project - only in one project folder (.mcp.json)"),
                Choice("none", "none    - do not configure Claude Code"),
            ),
            default=code_default,
        ),
        Question(
            name="project_dir", kind="path", flag="--project-dir", env="MCP_INSTALL_PROJECT_DIR",
            prompt="Project folder for Claude Code",
            help="The folder whose .mcp.json gets our server.",
            default=lambda _: Path.cwd(),
            when=lambda answers: answers.get("claude_code") == "project",
        ),
        Question(
            name="replace_existing_entry", kind="confirm", flag="--replace-existing-entry",
            env="MCP_INSTALL_REPLACE_EXISTING_ENTRY",
            prompt="Replace it? (No keeps it and adds ours as 'mcp-memory'.)",
            help="Replacing backs the config up first, and --uninstall puts the original entry back.",
            default=lambda _: False,
            when=lambda answers: bool(existing_entries(found, answers)),
            intro=lambda answers: "\n".join(
                f"{client} already has a server named 'memory' that is not ours; it runs: {entries.describe(entry)}"
                for client, entry in existing_entries(found, answers).items()),
        ),
        Question(
            name="launch", kind="confirm", flag="--launch", env="MCP_INSTALL_LAUNCH",
            prompt="Start the server now (HTTP, in this terminal)?",
            help="Starts the memory server at http://127.0.0.1:8000/mcp; Ctrl-C stops it.",
            default=lambda _: True,
        ),
    )


def existing_entries(found: Detected, answers: Any) -> dict[str, Any]:
    """The clients being configured that hold a foreign entry named `memory`, with that entry."""
    configs = {}
    if answers.get("claude_desktop") and found.desktop_config is not None:
        configs["Claude Desktop"] = found.desktop_config
    if answers.get("claude_code") == "user":
        configs["Claude Code"] = claude_code_user_config_path(found.platform)
    elif answers.get("claude_code") == "project" and answers.get("project_dir"):
        configs["Claude Code"] = claude_code_project_config_path(Path(answers["project_dir"]))
    # A client that already has our entry (under any name) keeps it there: nothing to ask again.
    found_entries = {client: entries.foreign_entry(path) for client, path in configs.items()
                     if not entries.our_names(path)}
    return {client: entry for client, entry in found_entries.items() if entry is not None}


def cloudflare_questions() -> tuple[Question, ...]:
    """What the cloudflare backend needs. The token comes from a hidden prompt, CLOUDFLARE_API_TOKEN, the
    existing .env, or a file (--cloudflare-api-token-file): never from a flag value, which shells keep."""
    from server.cloudflare.facts import DEFAULT_INDEX, DEFAULT_MODEL, MODEL_DIMENSIONS, TOKEN_PERMISSIONS

    return (
        Question(
            name="cloudflare_api_token", kind="secret", flag="--cloudflare-api-token-file", flag_is_file=True,
            env="CLOUDFLARE_API_TOKEN", env_file_key="CLOUDFLARE_API_TOKEN",
            prompt="Cloudflare API token (input hidden)",
            help=f"An API token with {TOKEN_PERMISSIONS}.", when=_uses_cloud,
        ),
        Question(
            name="cloudflare_account_id", kind="text", flag="--cloudflare-account-id", env="CLOUDFLARE_ACCOUNT_ID",
            env_file_key="CLOUDFLARE_ACCOUNT_ID", prompt="Cloudflare account ID",
            help="32 hex characters, on the dashboard's account home.", when=_uses_cloud,
        ),
        Question(
            name="cloudflare_d1_database_id", kind="text", flag="--cloudflare-d1-database-id",
            env="CLOUDFLARE_D1_DATABASE_ID", env_file_key="CLOUDFLARE_D1_DATABASE_ID", prompt="D1 database ID",
            help="The UUID of the D1 database that holds the memories.", when=_uses_cloud,
        ),
        Question(
            name="cloudflare_vectorize_index", kind="text", flag="--cloudflare-vectorize-index",
            env="CLOUDFLARE_VECTORIZE_INDEX", env_file_key="CLOUDFLARE_VECTORIZE_INDEX",
            prompt="Vectorize index name", help="The index that holds the vectors.",
            default=lambda _: DEFAULT_INDEX, when=_uses_cloud,
        ),
        Question(
            name="cloudflare_embedding_model", kind="select", flag="--cloudflare-embedding-model",
            env="CLOUDFLARE_EMBEDDING_MODEL", env_file_key="CLOUDFLARE_EMBEDDING_MODEL",
            prompt="Workers AI embedding model", help="Its dimensions must match the index's.",
            choices=tuple(Choice(m, f"{m} ({d} dimensions)") for m, d in MODEL_DIMENSIONS.items()),
            default=lambda _: DEFAULT_MODEL, when=_uses_cloud,
        ),
    )
