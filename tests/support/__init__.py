"""What the tests share: a fake home with clients (installer.py), the Cloudflare emulator, the hybrid
devices, the leading project's databases, and ports on 127.0.0.1 (net.py)."""
