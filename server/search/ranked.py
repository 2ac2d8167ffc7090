"""The `ranked` search mode of mcp-memory-service's memory_search: relevance blended with how recent a
memory is, by weights the caller may give (normalised to sum 1).

That project also weighs how often a memory was read and a quality score; this project keeps neither, so
those weights are dropped (and said so by the tool) rather than counted against every memory alike."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

from server.errors import InvalidInputError
from server.storage.base import ScoredMemory

WEIGHT_NAMES = ("semantic", "time_decay", "access_frequency", "quality")
USED = ("semantic", "time_decay")  # the parts this project has data for
DEFAULT_WEIGHTS = {"semantic": 0.7, "time_decay": 0.3}
HALF_LIFE_DAYS = 30.0  # a memory this old counts half as recent as one stored now


def weights(given: Mapping[str, float] | None) -> dict[str, float]:
    """The weights of the parts used here, summing to 1; unknown names and negative values are refused."""
    if not given:
        return dict(DEFAULT_WEIGHTS)
    unknown = sorted(set(given) - set(WEIGHT_NAMES))
    if unknown:
        raise InvalidInputError(f"ranking_weights takes {', '.join(WEIGHT_NAMES)}; not {', '.join(unknown)}.")
    for name, value in given.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
            raise InvalidInputError(f"ranking_weights.{name} must be a number >= 0; got {value!r}.")
    used = {name: float(given.get(name, 0.0)) for name in USED}
    total = sum(used.values())
    if total <= 0:
        raise InvalidInputError("ranking_weights gives no weight to semantic or time_decay, the parts this server "
                                "ranks by (it keeps no access counts or quality scores).")
    return {name: value / total for name, value in used.items()}


def dropped(given: Mapping[str, float] | None) -> list[str]:
    """The weights given that this server cannot use (nothing to weigh)."""
    return [name for name in ("access_frequency", "quality") if given and given.get(name)]


def rerank(hits: Sequence[ScoredMemory], blend: Mapping[str, float], now: float, limit: int) -> list[ScoredMemory]:
    """The hits re-scored as blend[semantic] * relevance + blend[time_decay] * recency, best first."""
    def score(hit: ScoredMemory) -> float:
        age_days = max(0.0, now - hit.memory.created_at) / 86400
        recency = 0.5 ** (age_days / HALF_LIFE_DAYS)
        return blend["semantic"] * hit.similarity + blend["time_decay"] * recency

    order = sorted(hits, key=lambda hit: (-score(hit), hit.memory.content_hash))[:limit]
    return [replace(hit, similarity=min(1.0, max(0.0, score(hit)))) for hit in order]
