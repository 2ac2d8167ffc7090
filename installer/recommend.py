"""A backend recommended from how the person will use their memories, not a fixed label.

Two plain questions (several computers? must memories outlive this computer?), then one about Cloudflare,
whose default is always No: Enter, EOF and Ctrl-C never lead to a cloud backend. What detection found
(Cloudflare settings already in the environment or the .env) changes the wording and the explanation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CLOUDFLARE_KEYS = ("CLOUDFLARE_ACCOUNT_ID", "CLOUDFLARE_D1_DATABASE_ID", "CLOUDFLARE_API_TOKEN")


@dataclass(frozen=True)
class Recommendation:
    backend: str
    reason: str  # one line, shown above the backend question


def recommend(prompter: Any, environ: Mapping[str, str], env_file_values: Mapping[str, str]) -> Recommendation:
    several = prompter.confirm("Will you use these memories on more than one computer?", False)
    keep = several or prompter.confirm("Must your memories survive losing this computer (a copy elsewhere)?", False)
    if not keep:
        return Recommendation("sqlite_vec", "on this computer only: fast, private, no account needed.")
    found = [k for k in CLOUDFLARE_KEYS if environ.get(k, "").strip() or env_file_values.get(k, "").strip()]
    where = " (Cloudflare settings found: " + ", ".join(found) + ")" if found else ""
    online = reachable(environ.get("CLOUDFLARE_API_BASE_URL", "").strip() or "https://api.cloudflare.com")
    if prompter.confirm(f"Use a Cloudflare account for the copy? (the free plan is enough){where}", False):
        why = "for several computers" if several else "so a copy survives this computer"
        offline = "" if online else " Cloudflare cannot be reached from here now: hybrid works locally meanwhile."
        return Recommendation("hybrid", f"this computer plus a Cloudflare copy, {why}; local speed, and the "
                                        f"background sync loses nothing.{offline}")
    return Recommendation("sqlite_vec", "on this computer only (a copy elsewhere needs Cloudflare: run the installer "
                                        "again with --storage-backend hybrid when you have an account).")


def reachable(url: str, timeout: float = 1.0) -> bool:
    """Whether the API's host name resolves within `timeout` (no request is sent): a hint, not a check."""
    import socket
    import threading
    from urllib.parse import urlsplit

    host = urlsplit(url).hostname or ""
    answer: list[bool] = []

    def resolve() -> None:
        try:
            socket.getaddrinfo(host, 443)
            answer.append(True)
        except OSError:
            answer.append(False)

    worker = threading.Thread(target=resolve, daemon=True)  # getaddrinfo has no timeout of its own
    worker.start()
    worker.join(timeout)
    return bool(answer and answer[0])
