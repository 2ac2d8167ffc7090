"""The FTS5 query for a person's question.

FTS5 ANDs bare terms, so a question with one word the memory lacks would find nothing; an OR of quoted
words finds every memory sharing a word and lets BM25 rank them (rarer words weigh more). Quoting makes
every word a literal phrase: FTS5 operators and punctuation in the question cannot break the query, and
an identifier such as "E1042", "app.py" or "ERR_CONN_RESET" matches as the phrase of its parts.
"""

from __future__ import annotations

import re

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


def any_of(words: list[str]) -> str | None:
    return " OR ".join(f'"{w}"' for w in words) if words else None


def all_of(words: list[str]) -> str | None:
    return " AND ".join(f'"{w}"' for w in words) if words else None


_IDENTIFIER = re.compile(r"(?=\S*\d)\S*[A-Za-z]\S*|\S+[_./:\\-]\S+|\b[A-Z]{2,}\b")


def identifiers(text: str) -> list[str]:
    """The words of a question that look like identifiers: error codes, versions, paths, ALL-CAPS names."""
    found = [_EDGE.sub("", m.group(0)) for m in _IDENTIFIER.finditer(text)]
    return [f.lower() for f in found if len(f) >= 2]
