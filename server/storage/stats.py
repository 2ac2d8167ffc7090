"""Figures for the dashboard's pictures: memories per day and the most used tags. The same SQL runs on the
local database and on D1 (the same schema); both read only an index range, never every row."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

DAYS = 90
TOP_TAGS = 15
# Bounded above too: a stored time that is no real date (an older version accepted Infinity) must not become a day.
PER_DAY = ("SELECT CAST(created_at / 86400 AS INTEGER) AS day, count(*) AS n FROM memories "
           "WHERE created_at >= ? AND created_at <= 253402300799 GROUP BY day ORDER BY day")
TAGS = "SELECT tag, count(*) AS n FROM memory_tags GROUP BY tag ORDER BY n DESC, tag LIMIT ?"


def stats(rows: Callable[[str, list[Any]], list[tuple[Any, Any]]], now: float | None = None) -> dict[str, Any]:
    since = (now or time.time()) - DAYS * 86400
    per_day = [(time.strftime("%Y-%m-%d", time.gmtime(day * 86400)), n) for day, n in rows(PER_DAY, [since])]
    return {"per_day": per_day, "top_tags": rows(TAGS, [TOP_TAGS]), "days": DAYS}
