"""The checks a Cloudflare setup must pass before anything is written, as plain functions of what Cloudflare
answered: the server's replica runs them when it opens, and the installer's live checks
(installer/cloudflare_checks.py) run the same ones, so the two cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from server.cloudflare.facts import MODEL_DIMENSIONS
from server.record import NAMES
from server.storage.cloud import parts

SHARED_SETTINGS_HINT = ("every device on one D1 database must use the same values: set CLOUDFLARE_EMBEDDING_MODEL "
                        "to match (and run the same version of this server), or use another D1 database and "
                        "Vectorize index")
FOREIGN_DATABASE_HINT = ("use a new database (install.py --create-cloudflare-resources) or another "
                         "CLOUDFLARE_D1_DATABASE_ID")
DIMENSION_HINT = ("use an index created for this model (install.py --create-cloudflare-resources with a new "
                  "CLOUDFLARE_VECTORIZE_INDEX) or change CLOUDFLARE_EMBEDDING_MODEL")
FIRST_MIGRATION = "0001_memories"


def shared_settings(model: str, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """What every device using one D1 database must agree on (recorded there by the first device): the
    embedding model and its dimension, and the length memories are cut into for their vectors."""
    return {"embedding_model": model, "embedding_dimension": str(MODEL_DIMENSIONS.get(model)),
            "part_length": str(parts.PART_LENGTH), **(overrides or {})}


def settings_clashes(recorded: Mapping[str, str], ours: Mapping[str, str]) -> list[str]:
    """Each setting recorded in the cloud with another value than this device's (unrecorded ones are not)."""
    return [f"{key} is {recorded[key]!r} in the cloud but {value!r} here" for key, value in ours.items()
            if key in recorded and recorded[key] != value]


def dimension_problem(index: str, dimensions: Any, model: str) -> str | None:
    """Why the index cannot hold this model's vectors, or None when it can."""
    expected = MODEL_DIMENSIONS.get(model)
    if expected is None:
        return f"unknown embedding model {model!r} (known: {', '.join(MODEL_DIMENSIONS)})"
    if dimensions != expected:
        return f"the Vectorize index {index!r} has {dimensions} dimensions but {model} makes {expected}"
    return None


def foreign_d1_schema(sql: Callable[[str], list[dict[str, Any]]]) -> str | None:
    """What another program's schema in a D1 database looks like, or None when it is ours or empty.
    `sql(statement)` runs a read-only query."""
    tables = {r["name"] for r in sql("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "memories" not in tables:
        return None
    if "schema_migrations" in tables and any(r["name"] == FIRST_MIGRATION for r in sql("SELECT name FROM schema_migrations")):
        return None
    columns = [r["name"] for r in sql("PRAGMA table_info(memories)")]
    if set(columns) == {"id", *NAMES}:  # ours, its migration record not written yet (another device's
        return None                     # first start, running right now)
    return (f"holds another program's memories table (columns {', '.join(columns[:8])}"
            f"{', ...' if len(columns) > 8 else ''}), not ours")
