"""Figures for the dashboard: how many memories the user has, memories per day, the most used tags, and the
tags and types in use (for suggestions). Memories the server writes itself (associations, cluster summaries:
SYSTEM_TYPES) are counted apart and left out of the rest. The same SQL runs on the local database and on D1
(the same schema).

Every figure is read as "all, minus the system memories' part": the first from an index alone (no row is
read), the second through the type index over the system memories only, which are few. Filtering the user's
rows directly would read every row (0.17 s at 100k memories, and on D1 a bill for each).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from server.record import SYSTEM_TYPES

DAYS = 90
TOP_TAGS = 15
KNOWN_TAGS = 300  # suggestions: the most used this many tags
KNOWN_TYPES = 100
_SYSTEM = f"memory_type IN ({', '.join(repr(t) for t in SYSTEM_TYPES)})"  # our own constants, never input
_DAY = "CAST(created_at / 86400 AS INTEGER)"
# Bounded above too: a stored time that is no real date (an older version accepted Infinity) must not become a day.
_RECENT = "created_at >= ? AND created_at <= 253402300799"
PER_DAY = f"SELECT {_DAY} AS day, count(*) AS n FROM memories WHERE {_RECENT} GROUP BY day"
SYSTEM_PER_DAY = f"SELECT {_DAY} AS day, count(*) AS n FROM memories WHERE {_SYSTEM} AND {_RECENT} GROUP BY day"
TAGS = "SELECT tag, count(*) AS n FROM memory_tags GROUP BY tag ORDER BY n DESC, tag LIMIT ?"
SYSTEM_TAGS = ("SELECT t.tag, count(*) AS n FROM memories m JOIN memory_tags t ON t.memory_id = m.id "
               f"WHERE m.{_SYSTEM} GROUP BY t.tag")
TYPES = ("SELECT memory_type, count(*) AS n FROM memories WHERE memory_type IS NOT NULL "
         f"AND NOT {_SYSTEM} GROUP BY memory_type ORDER BY n DESC, memory_type LIMIT ?")
COUNTS = f"SELECT (SELECT count(*) FROM memories) AS n, (SELECT count(*) FROM memories WHERE {_SYSTEM}) AS s"


def stats(rows: Callable[[str, list[Any]], list[tuple[Any, ...]]], now: float | None = None) -> dict[str, Any]:
    since = (now or time.time()) - DAYS * 86400
    days = Counter(dict(rows(PER_DAY, [since])))
    days.subtract(dict(rows(SYSTEM_PER_DAY, [since])))
    per_day = [(time.strftime("%Y-%m-%d", time.gmtime(day * 86400)), n) for day, n in sorted(days.items()) if n > 0]
    system_tags = dict(rows(SYSTEM_TAGS, []))
    # Enough of the most used tags that the user's own top ones are among them after the system's are taken off.
    tags = Counter(dict(rows(TAGS, [KNOWN_TAGS + len(system_tags)])))
    tags.subtract(system_tags)
    ranked = sorted(((tag, n) for tag, n in tags.items() if n > 0), key=lambda pair: (-pair[1], pair[0]))[:KNOWN_TAGS]
    total, system = rows(COUNTS, [])[0]
    return {"per_day": per_day, "top_tags": ranked[:TOP_TAGS], "days": DAYS, "memories": int(total) - int(system),
            "system_memories": int(system), "tags": [t for t, _ in ranked],
            "types": [t for t, _ in rows(TYPES, [KNOWN_TYPES])]}
