"""One Cloudflare API client (D1, Vectorize v2, Workers AI, token checks), shared by the installer's live
checks and the server's cloudflare backend, so "validated" means "the server will work"."""
