"""Cloudflare facts, once: used by the server's cloud backend and the installer's live checks alike, so the
two can never disagree about what "a working setup" is."""

from __future__ import annotations

# Workers AI embedding models and the dimensions of the vectors each returns (its Vectorize index must match).
MODEL_DIMENSIONS = {"@cf/baai/bge-small-en-v1.5": 384, "@cf/baai/bge-base-en-v1.5": 768,
                    "@cf/baai/bge-large-en-v1.5": 1024}
DEFAULT_MODEL = "@cf/baai/bge-base-en-v1.5"  # the leading project's default, so its users keep their index
DEFAULT_INDEX = "mcp-memory-index"
DEFAULT_BASE_URL = "https://api.cloudflare.com/client/v4"  # CLOUDFLARE_API_BASE_URL changes it (an emulator, a proxy)
DATABASE_NAME = "mcp-memory"  # what --create-cloudflare-resources names a new D1 database
METRIC = "cosine"
TOKEN_PERMISSIONS = "Account: D1 Edit, Vectorize Edit and Workers AI Read"
