"""The Cloudflare token in the OS keyring, when a real keyring exists.

keyring's fallback backends are not secret stores (the "fail" backend refuses, plaintext ones are base64
files) and some prompt for a password, which would hang a server started by a client: only a backend
with a positive priority that is not one of those counts.
"""

from __future__ import annotations

KEYRING_SERVICE = "mcp-memory"
KEYRING_USER = "cloudflare-api-token"


def usable_keyring() -> bool:
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return False
    backend = keyring.get_keyring()
    name = type(backend).__name__
    if isinstance(backend, fail.Keyring) or "Plaintext" in name or "Encrypted" in name or "Null" in name:
        return False
    return getattr(backend, "priority", 0) > 0


def read_token() -> str | None:
    if not usable_keyring():
        return None
    import keyring

    return keyring.get_password(KEYRING_SERVICE, KEYRING_USER)


def store_token(token: str) -> None:
    import keyring

    keyring.set_password(KEYRING_SERVICE, KEYRING_USER, token)
