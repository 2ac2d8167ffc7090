"""Figures for the dashboard: how many memories the user has, memories per day, the most used tags, and the
tags and types in use (for suggestions). Memories the server writes itself (associations, cluster summaries:
SYSTEM_TYPES) are counted apart and left out of the rest. The same SQL runs on the local database and on D1
(the same schema).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from server.record import SYSTEM_TYPES

DAYS = 90
TOP_TAGS = 15
KNOWN_TAGS = 300  # suggestions: the most used this many tags
KNOWN_TYPES = 100
_SYSTEM = f"memory_type IN ({', '.join(repr(t) for t in SYSTEM_TYPES)})"  # our own constants, never input
_USERS = f"(memory_type IS NULL OR NOT {_SYSTEM})"
# Bounded above too: a stored time that is no real date (an older version accepted Infinity) must not become a day.
PER_DAY = ("SELECT CAST(created_at / 86400 AS INTEGER) AS day, count(*) AS n FROM memories "
           f"WHERE created_at >= ? AND created_at <= 253402300799 AND {_USERS} GROUP BY day ORDER BY day")
TAGS = ("SELECT t.tag, count(*) AS n FROM memory_tags t JOIN memories m ON m.id = t.memory_id "
        f"WHERE {_USERS.replace('memory_type', 'm.memory_type')} GROUP BY t.tag ORDER BY n DESC, t.tag LIMIT ?")
TYPES = ("SELECT memory_type, count(*) AS n FROM memories WHERE memory_type IS NOT NULL "
         f"AND NOT {_SYSTEM} GROUP BY memory_type ORDER BY n DESC, memory_type LIMIT ?")
COUNTS = f"SELECT count(*) AS n, coalesce(sum({_SYSTEM}), 0) AS s FROM memories"


def stats(rows: Callable[[str, list[Any]], list[tuple[Any, ...]]], now: float | None = None) -> dict[str, Any]:
    since = (now or time.time()) - DAYS * 86400
    per_day = [(time.strftime("%Y-%m-%d", time.gmtime(day * 86400)), n) for day, n in rows(PER_DAY, [since])]
    tags = rows(TAGS, [KNOWN_TAGS])
    total, system = rows(COUNTS, [])[0]
    return {"per_day": per_day, "top_tags": tags[:TOP_TAGS], "days": DAYS, "memories": int(total) - int(system),
            "system_memories": int(system), "tags": [t for t, _ in tags],
            "types": [t for t, _ in rows(TYPES, [KNOWN_TYPES])]}
