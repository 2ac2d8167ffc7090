"""The questions the installer asks, in order. Defaults depend on what `detect` found, and a question
whose answer the installation already gives (our entry in a client's config, say) is not asked again."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from installer import entries
from installer.clients import OTHER_CLIENTS, Client, claude_code_project_config_path, claude_code_user_config_path
from installer.detect import REPO, Detected
from installer.errors import UsageError
from installer.questions import Choice, Question
from installer.recommend import Recommendation
from server.settings import CLOUD_BACKENDS, default_base_dir

LOCAL = "sqlite_vec"
CLOUD = "cloudflare"
PROJECT_SCOPES = ("project", "workspace")


def _uses_cloud(answers: Any) -> bool:
    return answers.get("storage_backend") in CLOUD_BACKENDS


def _local(answers: Any) -> bool:
    return answers.get("storage_backend") != CLOUD  # only the cloudflare backend keeps nothing here


def build_questions(found: Detected, recommendation: Recommendation | None = None,
                    dry_run: bool = False, given: frozenset[str] = frozenset(),
                    coming_from: str | None = None) -> tuple[Question, ...]:
    """`given`: the clients named by a flag or the environment, configured even when not detected here.
    `coming_from`: "unified" or "classic" when an mcp-memory-service installation (or a database to import)
    was found, by the tool names of its release; None when there is none."""
    recommended = recommendation.backend if recommendation else LOCAL
    return (
        Question(
            name="storage_backend", kind="select", env="MCP_MEMORY_STORAGE_BACKEND",
            env_file_key="MCP_MEMORY_STORAGE_BACKEND",
            prompt="Where should memories be stored?",
            help="arrows to choose, Enter to confirm",
            choices=(
                Choice(LOCAL, "On this computer only - no account needed (sqlite_vec)"),
                Choice("hybrid", "This computer plus a Cloudflare copy - for several computers (hybrid)"),
                Choice(CLOUD, "Cloudflare only - nothing kept on this computer (cloudflare)"),
            ),
            default=lambda _: recommended,
            intro=(lambda _: f"Recommended: {recommendation.reason}") if recommendation else None,
        ),
        *cloudflare_questions(),
        Question(
            name="data_dir", kind="path", env="MCP_MEMORY_BASE_DIR",
            env_file_key="MCP_MEMORY_BASE_DIR",
            prompt="Folder for the database",
            help="Where memories.db is kept.",
            default=lambda _: default_base_dir(), when=_local,
        ),
        Question(
            name="embedding_engine", kind="select", env="MCP_EMBEDDING_ENGINE",
            env_file_key="MCP_EMBEDDING_ENGINE",
            prompt="Embedding engine (turns text into vectors on this computer)",
            help="Both give the same vectors; onnx is small and starts in under a second.",
            choices=(
                Choice("onnx", "onnx                  - no torch, ~300 MB install (recommended)"),
                Choice("sentence-transformers", "sentence-transformers - needs torch, ~1.5 GB install"),
            ),
            default=lambda _: "onnx", when=_local,
        ),
        Question(
            name="tool_profile", kind="select", env="MCP_MEMORY_TOOL_PROFILE",
            env_file_key="MCP_MEMORY_TOOL_PROFILE",
            prompt="Which tool names should your AI clients see?",
            help="arrows to choose, Enter to confirm",
            choices=(
                Choice("unified", "unified - memory_store, memory_search, ... (mcp-memory-service 11 and later)"),
                Choice("classic", "classic - store_memory, retrieve_memory, ... (mcp-memory-service up to 10)"),
            ),
            intro=lambda _: ("mcp-memory-service is installed here: its prompts name its tools. Choose the names "
                             "your prompts and habits use (README: Tools lists both)."),
            default=lambda _: coming_from or "classic",
            # Asked only of someone coming from mcp-memory-service; anyone else gets the classic names.
            installed=lambda _: None if coming_from else "classic",
        ),
        _desktop_question(found),
        Question(
            name="claude_code", kind="select", env="MCP_INSTALL_CLAUDE_CODE",
            prompt="Configure Claude Code?",
            help="user: every project on this machine; project: a .mcp.json in one project folder.",
            choices=(
                Choice("user", "user    - available in every project"),
                Choice("project", "project - only in one project folder (.mcp.json)"),
                Choice("none", "none    - do not configure Claude Code"),
            ),
            default=lambda _: "user" if found.claude_cli or found.claude_code_config else "none",
            installed=lambda _: "user" if entries.our_names(claude_code_user_config_path(found.platform)) else None,
        ),
        *(_client_question(found, client) for client in OTHER_CLIENTS
          if client in found.other_clients or client.key in given),
        Question(
            name="project_dir", kind="path", env="MCP_INSTALL_PROJECT_DIR",
            prompt="Project folder (its .mcp.json / .vscode / .cursor / .gemini get our server)",
            help="The folder of the project whose clients get our server.",
            default=lambda _: _project_default(),
            when=lambda answers: any(value in PROJECT_SCOPES for value in answers.values()),
            check=_existing_folder,
        ),
        Question(
            name="hooks", kind="confirm", env="MCP_INSTALL_HOOKS",
            prompt="Recall and keep memories automatically?",
            help="Adds hooks to the client's settings (backed up; --uninstall removes them); the rest is kept.",
            intro=lambda answers: (
                f"{_hook_titles(answers)} can run our hooks: when a session starts, what matters for its project "
                "(its latest sessions, then the most relevant memories) is put in the context; when it ends or is "
                "compacted, a record of it is kept (secrets and <private> text removed), and each \"remember ...\" "
                "you type becomes a memory."),
            # A client configured now gets them; one whose entry of ours was set up earlier without them keeps
            # working as it did (a re-run with -y adds nothing unasked).
            default=lambda answers: not _configured_without_hooks(found, answers),
            when=lambda answers: bool(_hook_titles(answers)),
            installed=lambda answers: True if _hooks_installed(found, answers) else None,
        ),
        Question(
            name="prompt_hooks", kind="confirm", env="MCP_INSTALL_PROMPT_HOOKS",
            prompt="Also look up memories for each prompt you type?",
            help="Only memories clearly relevant to the prompt are added; it stays quiet otherwise.",
            default=lambda _: False,
            when=lambda answers: bool(answers.get("hooks")),
            installed=lambda answers: _prompt_hooks_installed(found, answers),
        ),
        Question(
            name="replace_existing_entry", kind="confirm",
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
            name="launch", kind="confirm", env="MCP_INSTALL_LAUNCH",
            prompt="Also start an HTTP server now, for HTTP clients (in this terminal)?",
            help="Not needed for the clients configured above: they share one memory process, started for them.",
            intro=lambda _: "The configured clients start the shared memory process when they need it. An HTTP "
                            "server (http://127.0.0.1:8000/mcp) is only for clients that connect by URL.",
            # Off by default when a client was configured: it starts the server itself. On a re-run the
            # installation exists: nothing to ask, the closing lines say how to start it.
            default=lambda answers: not _any_client(answers),
            when=lambda _: not dry_run,
            installed=lambda _: False if found.env_file_text is not None else None,
        ),
    )


def _desktop_question(found: Detected) -> Question:
    problem = found.problem(found.desktop_config)
    if problem is not None:  # known before asking: offer to skip it now, not after every other answer
        def refuse(configure: bool) -> bool:
            if configure:
                raise UsageError(f"Claude Desktop's config cannot be read: {problem}",
                                 "fix or move the file, then run the installer again (or pass --no-claude-desktop)")
            return False

        return Question(
            name="claude_desktop", kind="confirm", env="MCP_INSTALL_CLAUDE_DESKTOP",
            prompt="Configure Claude Desktop anyway? (No skips it; fix the file and run the installer again)",
            help="", intro=lambda _: f"Claude Desktop's config cannot be read: {problem}",
            default=lambda _: False, validate=refuse,
            when=lambda _: found.desktop_config is not None,
        )
    return Question(
        name="claude_desktop", kind="confirm", env="MCP_INSTALL_CLAUDE_DESKTOP",
        prompt=f"Configure Claude Desktop ({found.desktop_config})?",
        help="Adds our server to Claude Desktop's config; other servers and settings are kept.",
        default=lambda _: True,
        when=lambda _: found.desktop_config is not None,
        installed=lambda _: True if found.desktop_config and entries.our_names(found.desktop_config) else None,
    )


def _client_question(found: Detected, client: Client) -> Question:
    user_config = client.config_path(found.platform, "user")
    if len(client.scopes) == 1:
        return Question(
            name=client.key, kind="confirm", env=f"MCP_INSTALL_{client.key.upper()}",
            prompt=f"Configure {client.title} ({user_config})?",
            help=f"Adds our server to {client.title}'s config; everything else in it is kept.",
            default=lambda _: found.problem(user_config) is None,
            installed=lambda _: True if entries.our_names(user_config, client.container) else None,
        )
    project = client.scopes[1]
    return Question(
        name=client.key, kind="select", env=f"MCP_INSTALL_{client.key.upper()}",
        prompt=f"Configure {client.title}?",
        help=f"user: {user_config}; {project}: one project folder.",
        choices=(Choice("user", f"user      - every project ({user_config})"),
                 Choice(project, f"{project:9s} - only in one project folder"),
                 Choice("none", f"none      - do not configure {client.title}")),
        default=lambda _: "none" if found.problem(user_config) else "user",
        installed=lambda _: "user" if entries.our_names(user_config, client.container) else None,
    )


def _hook_titles(answers: Any) -> str:
    """The clients with hooks that the answers configure, by name ("Claude Code and Gemini CLI")."""
    from installer.hooks import HOOK_CLIENTS

    titles = [c.title for c in HOOK_CLIENTS if answers.get(c.key) not in (None, False, "none")]
    return " and ".join(titles)


def _hooks_installed(found: Detected, answers: Any) -> bool:
    from installer import hooks
    from installer.files import read_text_or_none

    return any(hooks.installed(read_text_or_none(path), path) for _, path in hooks.targets(answers, found.platform))


def _configured_without_hooks(found: Detected, answers: Any) -> bool:
    """A client with hooks that already has our server entry, and none of our hooks."""
    from installer.hooks import GEMINI

    project = Path(answers["project_dir"]) if answers.get("project_dir") else None
    scope = answers.get("claude_code")
    configs = [claude_code_user_config_path(found.platform) if scope == "user" else
               claude_code_project_config_path(project) if scope == "project" and project else None]
    gemini = next(c for c in OTHER_CLIENTS if c.key == GEMINI.key)
    if answers.get(gemini.key) not in (None, False, "none"):
        configs.append(gemini.config_path(found.platform, str(answers[gemini.key]), project))
    had_entry = any(path is not None and entries.our_names(path, ("mcpServers",)) for path in configs)
    return had_entry and not _hooks_installed(found, answers)


def _prompt_hooks_installed(found: Detected, answers: Any) -> bool | None:
    """With our hooks installed: whether they include each prompt's lookup; None when none are installed."""
    from installer import hooks
    from installer.files import read_text_or_none

    events = [(client, hooks.installed(read_text_or_none(path), path))
              for client, path in hooks.targets(answers, found.platform)]
    if not any(found_events for _, found_events in events):
        return None
    return any(client.events["prompt"] in found_events for client, found_events in events)


def _any_client(answers: Any) -> bool:
    keys = ("claude_desktop", "claude_code", *(client.key for client in OTHER_CLIENTS))
    return any(answers.get(key) not in (None, False, "none") for key in keys)


def _project_default() -> Path | None:
    # The folder the installer was started from, unless that is the installer's own clone.
    cwd = Path.cwd()
    return None if cwd == REPO else cwd


def _existing_folder(raw: str) -> str | None:
    path = Path(raw).expanduser()
    if not raw:
        return "a folder is needed"
    return None if path.is_dir() else f"{path} is not an existing folder"


def existing_entries(found: Detected, answers: Any) -> dict[str, Any]:
    """The clients being configured that hold a foreign entry named `memory`, with that entry."""
    configs: dict[str, tuple[Path | None, tuple[str, ...]]] = {}
    if answers.get("claude_desktop") and found.desktop_config is not None:
        configs["Claude Desktop"] = (found.desktop_config, ("mcpServers",))
    if answers.get("claude_code") == "user":
        configs["Claude Code"] = (claude_code_user_config_path(found.platform), ("mcpServers",))
    elif answers.get("claude_code") == "project" and answers.get("project_dir"):
        configs["Claude Code"] = (claude_code_project_config_path(Path(answers["project_dir"])), ("mcpServers",))
    for client in OTHER_CLIENTS:
        scope = answers.get(client.key)
        if scope is True or scope == "user":
            configs[client.title] = (client.config_path(found.platform, "user"), client.container)
    # A client that already has our entry (under any name) keeps it there: nothing to ask again.
    found_entries = {client: entries.foreign_entry(path, container=container)
                     for client, (path, container) in configs.items() if path and not entries.our_names(path, container)}
    return {client: entry for client, entry in found_entries.items() if entry is not None}


_ACCOUNT_ID = re.compile(r"[0-9a-f]{32}\Z")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


def _account_id_problem(raw: str) -> str | None:
    return None if _ACCOUNT_ID.match(raw.lower()) else "an account ID is 32 hexadecimal characters (0-9, a-f)"


def _uuid_problem(raw: str) -> str | None:
    return None if _UUID.match(raw.lower()) else \
        "a D1 database ID is a UUID like 01234567-89ab-cdef-0123-456789abcdef"


def cloudflare_questions() -> tuple[Question, ...]:
    """What the cloudflare backend needs. The token comes from a hidden prompt, CLOUDFLARE_API_TOKEN, the
    existing .env, or a file (--cloudflare-api-token-file): never from a flag value, which shells keep."""
    from server.cloudflare.facts import DEFAULT_INDEX, DEFAULT_MODEL, MODEL_DIMENSIONS, TOKEN_PERMISSIONS

    return (
        Question(
            name="cloudflare_api_token", kind="secret", flag_is_file=True,
            env="CLOUDFLARE_API_TOKEN", env_file_key="CLOUDFLARE_API_TOKEN",
            prompt="Cloudflare API token (input hidden)",
            help=f"An API token with {TOKEN_PERMISSIONS}.", when=_uses_cloud,
            intro=lambda _: f"The token needs {TOKEN_PERMISSIONS}. Create one at dash.cloudflare.com > My Profile > "
                            "API Tokens > Create Token (Custom token).",
        ),
        Question(
            name="cloudflare_account_id", kind="text", env="CLOUDFLARE_ACCOUNT_ID",
            env_file_key="CLOUDFLARE_ACCOUNT_ID", prompt="Cloudflare account ID",
            help="32 hex characters: in the dashboard's URL after dash.cloudflare.com/, or Account Home > "
                 "the account's menu > Copy account ID", when=_uses_cloud, check=_account_id_problem,
        ),
        Question(
            name="cloudflare_d1_database_id", kind="text",
            env="CLOUDFLARE_D1_DATABASE_ID", env_file_key="CLOUDFLARE_D1_DATABASE_ID", prompt="D1 database ID",
            help="a UUID: Storage & Databases > D1 > your database; `npx wrangler d1 create mcp-memory` makes one",
            when=_uses_cloud, check=_uuid_problem,
        ),
        Question(
            name="cloudflare_vectorize_index", kind="text",
            env="CLOUDFLARE_VECTORIZE_INDEX", env_file_key="CLOUDFLARE_VECTORIZE_INDEX",
            prompt="Vectorize index name", help="the index that holds the vectors; created for you if missing",
            default=lambda _: DEFAULT_INDEX, when=_uses_cloud,
        ),
        Question(
            name="cloudflare_embedding_model", kind="select",
            env="CLOUDFLARE_EMBEDDING_MODEL", env_file_key="CLOUDFLARE_EMBEDDING_MODEL",
            prompt="Workers AI embedding model", help="Its dimensions must match the index's.",
            choices=tuple(Choice(m, f"{m} ({d} dimensions)") for m, d in MODEL_DIMENSIONS.items()),
            default=lambda _: DEFAULT_MODEL, when=_uses_cloud,
        ),
    )
