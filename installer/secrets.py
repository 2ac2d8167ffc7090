"""Where the installer keeps the Cloudflare token: the server's keyring store (one definition of it)."""

from server.keyring_store import store_token, usable_keyring

__all__ = ["store_token", "usable_keyring"]
