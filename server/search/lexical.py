"""The FTS5 query for a person's question.

FTS5 ANDs bare terms, so a question with one word the memory lacks would find nothing; an OR of quoted
words finds every memory sharing a word and lets BM25 rank them (rarer words weigh more). Quoting makes
every word a literal phrase: FTS5 operators and punctuation in the question cannot break the query, and
an identifier such as "E1042", "app.py" or "ERR_CONN_RESET" matches as the phrase of its parts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TypeVar

K = TypeVar("K")

# Words that carry no meaning on their own: they only make every memory a match.
_STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below between
both but by can could did do does doing down during each few for from further had has have having he her
here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not
now of off on once only or other our ours ourselves out over own same she should so some such than that the
their theirs them themselves then there these they this those through to too under until up very was we
were what when where which while who whom why will with would you your yours yourself yourselves
did does tell note noted remember know
""".split())
_WORD = re.compile(r"[^\s\"]+")
_EDGE = re.compile(r"^[^\w]+|[^\w]+$")
MAX_TERMS = 32  # a pasted paragraph is still one bounded query


def fts_query(text: str) -> str | None:
    """An OR of quoted words (stopwords dropped, unless nothing else is left); None when there is none."""
    return any_of(terms(text))


def terms(text: str) -> list[str]:
    """The question's words that count, lower case, each once, at most MAX_TERMS."""
    words = [_EDGE.sub("", w) for w in _WORD.findall(text)]
    words = [w for w in words if w]
    kept = [w for w in words if w.lower() not in _STOPWORDS] or words
    seen: dict[str, None] = {}
    for word in kept:
        seen.setdefault(word.lower(), None)
    return list(seen)[:MAX_TERMS]


def words_in_texts(words: list[str], texts: Mapping[K, str]) -> dict[K, set[int]]:
    """Which of `words` (by index) each text holds, as FTS5 would match them, near enough: the word's stem at
    the start of a word of the text (booked, books -> book), in any case."""
    stems = [_stem(w).lower() for w in words]
    if not stems:
        return {key: set() for key in texts}
    pattern = re.compile(r"\b(" + "|".join(sorted({re.escape(s) for s in stems}, key=len, reverse=True)) + ")",
                         re.IGNORECASE)
    held = {}
    for key, text in texts.items():
        found = {m.lower() for m in pattern.findall(text)}
        held[key] = {w for w, s in enumerate(stems) if s in found}
    return held


def _stem(word: str) -> str:
    """A prefix that the word's inflections share: what is left after a common ending."""
    lower = word.lower()
    for ending in ("ings", "ing", "ies", "ied", "es", "ed", "ly", "s"):
        if lower.endswith(ending) and len(lower) - len(ending) >= 3:
            return word[:len(word) - len(ending)]
    return word


def any_of(words: list[str]) -> str | None:
    return " OR ".join(f'"{w}"' for w in words) if words else None


def all_of(words: list[str]) -> str | None:
    return " AND ".join(f'"{w}"' for w in words) if words else None


_TOKEN = re.compile(r"\S+")
# What makes a word an identifier: a letter next to digits (E1042, v2, iOS16, x86), a path or a module
# (src/app.py, C:\\temp, os.path), snake_case, camelCase, a ticket (JIRA-1234; #4521 is taken whole).
_MIXED = re.compile(r"(?=.*\d)(?=.*[a-z])", re.IGNORECASE)
_ORDINAL_OR_UNIT = re.compile(r"\d+(st|nd|rd|th|am|pm|h|hrs?|m|min|s|ms|k|km|kg|mb|gb|tb|x|px|pt|%)", re.IGNORECASE)
_STRUCTURED = re.compile(r"[_/\\]|::|[a-z][A-Z]|^#\d|\w\.\w|\d-\w|\w-\d")
_ABBREVIATION = re.compile(r"([a-z]\.){1,3}[a-z]?\.?", re.IGNORECASE)  # a.m., e.g., U.S.: words, not identifiers


def identifiers(text: str) -> list[str]:
    """The words of a question that are identifiers: error codes, versions, paths, file and module names,
    snake_case and camelCase names, tickets. Not a hyphenated word (on-call, Wi-Fi), a time (10:00), an ordinal
    or a quantity (3rd, 2pm, 30s), an abbreviation (a.m., e.g.) or an acronym (API, HR): a memory holding one
    of those is not what the question names, and BM25 already weighs such words by how rare they are."""
    found = []
    for raw in _TOKEN.findall(text):
        word = _EDGE.sub("", raw)
        if raw.startswith("#") and word.isdigit() and len(word) >= 2:  # a ticket or an issue number
            found.append(f"#{word}")
            continue
        if len(word) < 2 or _ORDINAL_OR_UNIT.fullmatch(word) or _ABBREVIATION.fullmatch(word):
            continue
        if not any(c.isalpha() for c in word):  # 10:00, 1.26, 2026-12-05, 43: times, dates, quantities...
            if re.fullmatch(r"\d+(\.\d+){2,}|\d{3,}", word):  # ...but 4.2.0 (a version), 5433, 429 (a port, a code)
                found.append(word)
            continue
        if (_MIXED.match(word) or _STRUCTURED.search(word) or word.count("-") >= 2  # acme-prod-logs, not on-call
                or (word.isupper() and len(word) >= 5)):  # ECONNRESET, SIGKILL; not API, HR, HTTP
            found.append(word.lower())
    return list(dict.fromkeys(found))
