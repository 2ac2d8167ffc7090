"""The Plan: one immutable value that says everything the installer will write.

Every writer reads only the Plan, so what the summary shows is what gets written, and a later decision
(a fallback, say) makes a new Plan rather than patching files. Nothing touches disk while planning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from installer import entries
from server.settings import CLOUD_BACKENDS, LOCAL_DATABASE_BACKENDS, default_base_dir
from installer.clients import OTHER_CLIENTS, Client, claude_code_project_config_path, claude_code_user_config_path
from installer.detect import Detected
from installer.entries import Slot
from installer.envfile import render_env
from installer.files import FileChange, read_text_or_none, secret_values
from installer.jsonconfig import get_server_entry, get_servers, has_container, remove_if_empty, set_server_entry
from installer.questions import Answer
from installer.templates import client_entry

MCP_SERVERS = entries.MCP_SERVERS


@dataclass(frozen=True)
class ClaudeCodeTarget:
    scope: str  # "user" | "project"
    config: Path  # the file the CLI (or we) keep the entry in
    project_dir: Path | None
    use_cli: str | None  # path of the claude CLI, when it is on PATH
    slot: Slot = Slot(entries.PREFERRED_NAME)  # the entry's name, and the foreign entry it replaces

    @property
    def name(self) -> str:
        return self.slot.name


@dataclass(frozen=True)
class Plan:
    backend: str
    data_dir: Path | None  # None for the cloudflare backend: nothing is kept on this computer
    engine: str
    env_file: Path
    server_entry: Mapping[str, Any]  # what every client config gets: command, args, env (no secrets)
    changes: tuple[FileChange, ...]
    claude_code: ClaudeCodeTarget | None
    launch: bool
    desktop_slot: Slot | None = None  # set when Claude Desktop is configured
    keyring_token: str | None = field(default=None, repr=False)  # stored in the OS keyring at write time
    clients: tuple[str, ...] = ()  # the clients that get our entry, by name, for the closing lines
    hooks: tuple[str, ...] = ()  # the clients that get our hooks, by name

    @property
    def pending(self) -> tuple[FileChange, ...]:
        return tuple(c for c in self.changes if c.action != "unchanged")


# -I (isolated mode): the client's working directory is not put on sys.path, so a user's own `server/`
# folder or `server.py` in the project Claude Code starts us in cannot shadow our package; PYTHONPATH
# and the user site are ignored too.
SERVER_ARGS = ("-I", "-m", "server")


def server_entry(python: Path, env_file: Path, template: str = "entry.json") -> dict[str, Any]:
    # The absolute interpreter: Claude Desktop starts servers with a minimal PATH. The .env path is
    # absolute too, so the server finds its settings whatever directory the client starts it in.
    return client_entry(template, python, env_file)


def build_plan(found: Detected, answers: Mapping[str, Answer], keyring_available: bool = False,
               tool_profile: str | None = None, forget_cloudflare_token: bool = False) -> Plan:
    value = {key: answer.value for key, answer in answers.items()}
    entry = server_entry(found.python, found.env_file)
    env_updates: dict[str, str | None] = {"MCP_MEMORY_STORAGE_BACKEND": value["storage_backend"]}
    if value.get("data_dir") is not None:  # not asked for the cloudflare backend, which keeps nothing here
        env_updates["MCP_MEMORY_BASE_DIR"] = str(value["data_dir"])
    if value.get("embedding_engine") is not None:
        env_updates["MCP_EMBEDDING_ENGINE"] = value["embedding_engine"]
    if tool_profile is not None:
        env_updates["MCP_MEMORY_TOOL_PROFILE"] = tool_profile
    secrets: tuple[str, ...] = ()
    keyring_token = None
    if value["storage_backend"] in CLOUD_BACKENDS:
        env_updates.update(_cloudflare_settings(value, found))
        token = value["cloudflare_api_token"]
        if keyring_available:
            keyring_token = token
            env_updates["CLOUDFLARE_API_TOKEN"] = None  # no plaintext copy beside the keyring's
        else:
            env_updates["CLOUDFLARE_API_TOKEN"] = token
            secrets = (token,)
    if forget_cloudflare_token:
        env_updates["CLOUDFLARE_API_TOKEN"] = None
        if value.get("storage_backend") not in CLOUD_BACKENDS:  # after a fallback: the whole earlier cloud setup
            env_updates.update({k: None for k in found.env_file_values if k.startswith("CLOUDFLARE_")})
    # Every secret in the old or the new file is masked in diffs and backups (one list: server.privacy.SECRET_KEY_HINTS).
    secrets = (*secrets, *secret_values(found.env_file_values))
    changes = [
        FileChange(found.env_file, found.env_file_text, render_env(found.env_file_text, env_updates),
                   mode=0o600, secrets=secrets, label="server settings (.env)"),
    ]
    replace = bool(value.get("replace_existing_entry"))
    desktop_slot = None
    slots: dict[Path, Slot] = {}
    clients: list[str] = []
    if value.get("claude_desktop") and found.desktop_config is not None:
        desktop_slot = slots[found.desktop_config] = entries.choose_slot(found.desktop_config, replace)
        changes.append(_entry_change(found.desktop_config, desktop_slot, entry, "Claude Desktop config"))
        clients.append("Claude Desktop")
    code = _claude_code_target(found, value, replace)
    if code is not None:
        slots[code.config] = code.slot
        clients.append(f"Claude Code ({code.scope} scope)")
        if code.use_cli is None:
            changes.append(_entry_change(code.config, code.slot, entry, f"Claude Code config ({code.scope} scope)"))
    for client, scope, path in other_client_targets(found, value):
        slot = slots[path] = entries.choose_slot(path, replace, client.container)
        client_entry_ = server_entry(found.python, found.env_file, client.template)
        changes.append(_entry_change(path, slot, client_entry_, f"{client.title} config ({scope})", client.container))
        clients.append(f"{client.title} ({scope})")
    hooked = _add_hooks(changes, found, value) if value.get("hooks") else []
    if value.get("hooks") is False:  # answered no (--no-hooks): ours come out of the clients configured
        _add_hooks(changes, found, value, remove=True)
    replaced = {path: slot for path, slot in slots.items() if slot.replaces is not None}
    container_of = {path: tuple(client.container) for client, _, path in other_client_targets(found, value)}
    for path in slots:
        container_of.setdefault(path, MCP_SERVERS)
    record = entries.record_change(found.env_file, replaced, _created_containers(changes, container_of))
    if record is not None:
        changes.append(record)
    local = value["storage_backend"] in LOCAL_DATABASE_BACKENDS
    return Plan(
        backend=value["storage_backend"],
        data_dir=Path(value.get("data_dir") or default_base_dir()) if local else None,
        engine=value.get("embedding_engine") or "onnx",
        env_file=found.env_file, server_entry=entry, changes=tuple(changes), claude_code=code,
        launch=bool(value.get("launch")), desktop_slot=desktop_slot, keyring_token=keyring_token,
        clients=tuple(clients), hooks=tuple(hooked),
    )


def _add_hooks(changes: list[FileChange], found: Detected, value: Mapping[str, Any], remove: bool = False) -> list[str]:
    """Our hooks in each configured client that has hooks (with `remove`: taken out); in the same change as the
    client's entry when both live in one file (Gemini CLI's settings.json)."""
    from installer import hooks

    prompts = bool(value.get("prompt_hooks"))
    for client, path in hooks.targets(value, found.platform):
        index = next((i for i, change in enumerate(changes) if change.path == path), None)
        old = read_text_or_none(path) if index is None else changes[index].old
        base = read_text_or_none(path) if index is None else changes[index].new
        if remove:
            new, label = hooks.without_hooks(base, path), f"{client.title} hooks removed"
            if new == (base or ""):
                continue
        else:
            new = hooks.with_hooks(base, path, client, found.python, found.env_file, prompts)
            events = "session start, end and compaction" + (", each prompt" if prompts else "")
            label = f"{client.title} hooks ({events})"
        if index is None:
            changes.append(FileChange(path, old, new, label=label))
        else:
            changes[index] = FileChange(path, old, new, label=f"{changes[index].label}; {label}")
    return [client.title for client, _ in hooks.targets(value, found.platform)]


def other_client_targets(found: Detected, value: Mapping[str, Any]) -> list[tuple[Client, str, Path]]:
    """(client, scope, config file) for each of the other clients the answers configure."""
    targets = []
    for client in OTHER_CLIENTS:
        answer = value.get(client.key)
        if answer in (None, False, "none"):
            continue
        scope = "user" if answer is True else str(answer)
        project = Path(value["project_dir"]) if value.get("project_dir") else None
        path = client.config_path(found.platform, scope, project)
        if path is not None:
            targets.append((client, scope, path))
    return targets


def _cloudflare_settings(value: Mapping[str, Any], found: Detected) -> dict[str, str | None]:
    settings: dict[str, str | None] = {
        "CLOUDFLARE_ACCOUNT_ID": value["cloudflare_account_id"],
        "CLOUDFLARE_D1_DATABASE_ID": value["cloudflare_d1_database_id"],
        "CLOUDFLARE_VECTORIZE_INDEX": value["cloudflare_vectorize_index"],
        "CLOUDFLARE_EMBEDDING_MODEL": value["cloudflare_embedding_model"],
    }
    base_url = found.platform.env.get("CLOUDFLARE_API_BASE_URL", "").strip()
    if base_url:  # a non-default API endpoint (a proxy, or our emulator): the server must use the same
        settings["CLOUDFLARE_API_BASE_URL"] = base_url
    return settings


def removal_plan(found: Detected, scope_project: Path | None) -> tuple[FileChange, ...]:
    """For --uninstall: our entries removed from every client config that has them, and the entries we
    replaced put back; nothing else changes."""
    paths: list[tuple[Path | None, tuple[str, ...]]] = [
        (found.desktop_config, MCP_SERVERS), (claude_code_user_config_path(found.platform), MCP_SERVERS)]
    if scope_project is not None:
        paths.append((claude_code_project_config_path(scope_project), MCP_SERVERS))
    for client in OTHER_CLIENTS:
        paths += [(client.config_path(found.platform, scope, scope_project), client.container) for scope in client.scopes]
    from installer import hooks

    hook_files = [path for client in hooks.HOOK_CLIENTS for scope in ("user", "project")
                  if (path := client.settings_path(found.platform, scope, scope_project)) is not None]
    paths += [(path, ()) for path in hook_files if path not in {p for p, _ in paths}]
    record = entries.read_record(found.env_file)
    created = entries.read_created(found.env_file)
    changes, restored = [], []
    for path, container in paths:
        if path is None:
            continue
        old = read_text_or_none(path)
        new, labels = old or "", []
        if path in hook_files and hooks.installed(old, path):
            new = hooks.without_hooks(new, path)
            labels.append("remove our hooks")
        if not container:
            if labels:
                changes.append(FileChange(path, old, new, label=", ".join(labels)))
            continue
        for name in entries.our_names(path, container):
            new = set_server_entry(new, path, container, name, None)
            labels.append(f"remove {name!r}")
        originals = record.get(str(path), {})
        for name, original in originals.items():
            if name not in get_servers(new, path, container):
                new = set_server_entry(new, path, container, name, original)
                labels.append(f"restore the original {name!r}")
        if str(path) in created and new != remove_if_empty(new, path, container):
            new = remove_if_empty(new, path, container)  # ours made it; it holds nothing else
            labels.append(f"remove the empty {'.'.join(container)} it created")
        if originals or str(path) in created:
            restored.append(path)
        if labels:
            changes.append(FileChange(path, old, new, label=", ".join(labels)))
    cleanup = entries.record_without(found.env_file, restored)
    return tuple(changes) + ((cleanup,) if cleanup is not None else ())


def _created_containers(changes: list[FileChange],
                        container_of: Mapping[Path, tuple[str, ...]]) -> dict[Path, tuple[str, ...]]:
    """The existing client configs whose server container our entry creates now (it was not there before)."""
    created = {}
    for change in changes:
        container = container_of.get(change.path)
        if container is None or change.old is None:
            continue  # not a client config, or a new file (uninstall leaves an emptied file of ours as it is)
        if not has_container(change.old, change.path, container) and has_container(change.new, change.path, container):
            created[change.path] = container
    return created


def claude_code_entry_matches(target: ClaudeCodeTarget, name: str, entry: Mapping[str, Any]) -> bool:
    """True when the config already holds exactly our entry (the CLI adds "type": "stdio")."""
    current = get_server_entry(read_text_or_none(target.config), target.config, MCP_SERVERS, name)
    if current is None:
        return False
    current = {k: v for k, v in current.items() if k != "type"}
    return current == dict(entry)


def _entry_change(path: Path, slot: Slot, entry: Mapping[str, Any], label: str,
                  container: tuple[str, ...] = MCP_SERVERS) -> FileChange:
    old = read_text_or_none(path)
    what = f"{label}, entry {slot.name!r}" + (" replacing the existing one (kept for --uninstall)" if slot.replaces else "")
    return FileChange(path, old, set_server_entry(old, path, container, slot.name, entry), label=what)


def _claude_code_target(found: Detected, value: Mapping[str, Any], replace: bool) -> ClaudeCodeTarget | None:
    scope = value.get("claude_code", "none")
    if scope == "user":
        config = claude_code_user_config_path(found.platform)
        return ClaudeCodeTarget("user", config, None, found.claude_cli, entries.choose_slot(config, replace))
    if scope == "project":
        project = Path(value["project_dir"])
        config = claude_code_project_config_path(project)
        return ClaudeCodeTarget("project", config, project, found.claude_cli, entries.choose_slot(config, replace))
    return None
