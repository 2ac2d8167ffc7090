"""Time phrases in recall queries -> half-open ranges [start, end), plus the words left for semantic search.

Every range is computed in the timezone of the ``now`` the caller passes, so "today" means the caller's
day. Supported phrases (case-insensitive; a leading "on", "in", "during", "from", "for", "of", "over",
"within" or "throughout" is accepted and becomes part of the expression):

==========================================  ==================================================================
today, yesterday, (the) day before y.       that calendar day
this/yesterday morning|afternoon|evening    05:00-12:00, 12:00-17:00, 17:00-24:00 of that day
last night                                  yesterday 18:00 until today 06:00
this/current week|month|year                the calendar unit containing now (weeks start on Monday)
last/previous week|month|year               the calendar unit before it
N minutes|hours ago                         a window one unit wide centred on now - N units
N days|weeks|months|years ago               the calendar day/week/month/year containing now - N units
last/past N units, (in) the last N units    rolling: now - N units until now (units from minutes to years)
past week, the past month, the last year    rolling, one unit ("last week" without "the" is the calendar week)
monday, on friday, last/previous friday     the most recent such day before today
this friday                                 that day of the current week
in march, during may                        the most recent such month, the current one included
last march                                  the most recent such month before the current one
march 2026, 2026-03                         that month
march 3, 3 march, mar 3rd, 3rd of march     that day, the most recent one when no year is given
november 2, 2026, 2026-11-02                that day
2026-11-02T10:00 (also with seconds/offset) [t, t + 1 minute); as a range end, the instant t itself
in 2025                                     that year
since X                                     from the start of X until now
from X to Y, X to Y, X..Y, between X and Y  from the start of X to the end of Y (so a date Y is included);
                                            X and Y may be any phrase above; an instant ("2 hours ago", an ISO
                                            datetime) counts as itself, not as the window drawn around it
==========================================  ==================================================================

N is digits, one..twelve, "a"/"an" or "a couple (of)". Weekdays and dates without a year mean the most
recent past one, except at the end of a range that would otherwise end before it starts: there they move
on by a week or a year, so "from friday to monday" and "from december 20 to january 5" read as meant.
Any other range that ends before it starts is rejected, as is a "since" that is not in the past. Inside a
longer query a bare month or year ("may", "2024") is a time only after "in", "during", "from" or
"throughout"; on its own ("march") it is always one.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone, tzinfo

from server.errors import TimeParseError

EXAMPLES = '"yesterday", "last week", "3 days ago", "last month", "2026-11-02", "from 2026-11-01 to 2026-11-05"'


@dataclass(frozen=True)
class TimeRange:
    start: datetime  # timezone-aware, inclusive
    end: datetime  # timezone-aware, exclusive
    expression: str  # the matched words, as found in the text


@dataclass(frozen=True)
class RecallQuery:
    time_range: TimeRange
    semantic_query: str  # the words left once the time and the filler are removed; "" if none


@dataclass(frozen=True)
class _Span:
    """A handler's answer. ``point`` is set when the phrase names an instant ("2 hours ago", an ISO
    datetime): "since" and range ends then use that instant instead of the window drawn around it."""

    start: datetime
    end: datetime
    point: datetime | None = None
    movable: str | None = None  # "week" or "year": the phrase named no year, so a range end may move on

    @property
    def as_start(self) -> datetime:
        return self.start if self.point is None else self.point

    @property
    def as_end(self) -> datetime:
        return self.end if self.point is None else self.point


Handler = Callable[[re.Match[str], datetime], _Span]

# ---------------------------------------------------------------------------------------------------------
# Calendar arithmetic. Dates are local to now's timezone; instants move in UTC so "2 hours ago" is 2 real
# hours even across a DST change.

_UNIT_DELTAS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1),
                "week": timedelta(weeks=1)}


def _midnight(day: date, tz: tzinfo | None) -> datetime:
    return datetime.combine(day, time(), tzinfo=tz)


def _days(first: date, count: int, tz: tzinfo | None) -> _Span:
    return _Span(_midnight(first, tz), _midnight(first + timedelta(days=count), tz))


def _add_months(day: date, months: int) -> date:
    """Clamp to the target month's length: one month before March 31 is February 28 (or 29)."""
    years, month0 = divmod(day.month - 1 + months, 12)
    year, month = day.year + years, month0 + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


def _shift_date(day: date, count: int, unit: str) -> date:
    if unit in ("month", "year"):
        return _add_months(day, count * (12 if unit == "year" else 1))
    return day + count * _UNIT_DELTAS[unit]


def _elapsed(now: datetime, delta: timedelta) -> datetime:
    return (now.astimezone(timezone.utc) + delta).astimezone(now.tzinfo)


def _shift_instant(now: datetime, count: int, unit: str) -> datetime:
    if unit in ("minute", "hour"):
        return _elapsed(now, count * _UNIT_DELTAS[unit])
    return datetime.combine(_shift_date(now.date(), count, unit), now.timetz())


def _unit_span(unit: str, day: date, tz: tzinfo | None) -> _Span:
    """The calendar day, week (Monday first), month or year that contains ``day``."""
    if unit == "day":
        return _days(day, 1, tz)
    if unit == "week":
        return _days(day - timedelta(days=day.weekday()), 7, tz)
    first = day.replace(day=1) if unit == "month" else date(day.year, 1, 1)
    after = _add_months(first, 1 if unit == "month" else 12)
    return _Span(_midnight(first, tz), _midnight(after, tz))


def _real_date(year: int, month: int, day: int, phrase: str) -> date:
    if not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(year, month)[1]:
        raise TimeParseError(f"{phrase!r} is not a real date. Try: {EXAMPLES}.")
    return date(year, month, day)


# ---------------------------------------------------------------------------------------------------------
# Words.

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
            "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12}

_MONTH = (r"(?P<month>january|february|march|april|may|june|july|august|september|october|november|december"
          r"|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)")
_WEEKDAY = r"(?P<weekday>monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?(?!\d)"
_YEAR = r"(?P<year>\d{4})"
_ISO_DATE = r"(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})"
_NUMBER = r"(?P<n>\d{1,6}|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|(?:a\s+)?couple(?:\s+of)?)"
_UNIT = r"(?P<unit>minutes?|mins?|hours?|hrs?|days?|weeks?|wks?|months?|years?|yrs?)"


def _number(word: str) -> int:
    word = word.lower()
    if "couple" in word:
        return 2
    return int(word) if word.isdigit() else _NUMBERS[word]


def _unit(word: str) -> str:
    word = word.lower()
    for prefix, unit in (("mi", "minute"), ("h", "hour"), ("d", "day"), ("w", "week"), ("mo", "month")):
        if word.startswith(prefix):
            return unit
    return "year"


def _month(word: str) -> int:
    return _MONTHS.index(word.lower()[:3]) + 1


# ---------------------------------------------------------------------------------------------------------
# Handlers: one per phrase shape. Each gets the match and now, and returns a _Span.

def _iso_datetime(m: re.Match[str], now: datetime) -> _Span:
    day = _real_date(int(m["y"]), int(m["mo"]), int(m["d"]), m["body"])
    hour, minute, second = int(m["hh"]), int(m["mm"]), int(m["ss"] or 0)
    if hour > 23:
        raise TimeParseError(f"{m['body']!r} has an hour above 23. Try: {EXAMPLES}.")
    tz: tzinfo | None = now.tzinfo
    if m["tz"]:
        tz = _offset(m["tz"])
    point = datetime.combine(day, time(hour, minute, second), tzinfo=tz).astimezone(now.tzinfo)
    return _Span(point, point + timedelta(minutes=1), point)


def _offset(text: str) -> timezone:
    if text.lower() == "z":
        return timezone.utc
    digits = text[1:].replace(":", "")
    delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return timezone(-delta if text[0] == "-" else delta)


def _iso_date(m: re.Match[str], now: datetime) -> _Span:
    return _days(_real_date(int(m["y"]), int(m["mo"]), int(m["d"]), m["body"]), 1, now.tzinfo)


def _iso_month(m: re.Match[str], now: datetime) -> _Span:
    return _unit_span("month", _real_date(int(m["y"]), int(m["mo"]), 1, m["body"]), now.tzinfo)


def _month_day(m: re.Match[str], now: datetime) -> _Span:
    month, day = _month(m["month"]), int(m["day"])
    if m["year"]:
        return _days(_real_date(int(m["year"]), month, day, m["body"]), 1, now.tzinfo)
    _real_date(2024, month, day, m["body"])  # a leap year: rejects only days no year has (april 31)
    today = now.date()
    # The most recent past occurrence; eight years back always reaches a February 29.
    year = next(y for y in range(today.year, today.year - 9, -1)
                if day <= calendar.monthrange(y, month)[1] and date(y, month, day) <= today)
    return replace(_days(date(year, month, day), 1, now.tzinfo), movable="year")


def _month_of_year(m: re.Match[str], now: datetime) -> _Span:
    return _unit_span("month", date(int(m["year"]), _month(m["month"]), 1), now.tzinfo)


def _month_name(m: re.Match[str], now: datetime) -> _Span:
    """The most recent such month; "last" skips the current month, a bare name includes it."""
    today, month = now.date(), _month(m["month"])
    skip_current = "last" in m.re.groupindex and m["last"] is not None
    this_year = month < today.month or (month == today.month and not skip_current)
    span = _unit_span("month", date(today.year if this_year else today.year - 1, month, 1), now.tzinfo)
    return replace(span, movable="year")


def _named_day(m: re.Match[str], now: datetime) -> _Span:
    back = {"today": 0, "yesterday": 1}[m["word"].lower()]
    return _unit_span("day", now.date() - timedelta(days=back), now.tzinfo)


def _day_before_yesterday(m: re.Match[str], now: datetime) -> _Span:
    return _unit_span("day", now.date() - timedelta(days=2), now.tzinfo)


_DAY_PARTS = {"morning": (5, 12), "afternoon": (12, 17), "evening": (17, 24)}


def _day_part(m: re.Match[str], now: datetime) -> _Span:
    day = now.date() - timedelta(days=1 if m["which"].lower() == "yesterday" else 0)
    first, last = _DAY_PARTS[m["part"].lower()]
    midnight = _midnight(day, now.tzinfo)
    return _Span(midnight + timedelta(hours=first), midnight + timedelta(hours=last))


def _last_night(m: re.Match[str], now: datetime) -> _Span:
    today = _midnight(now.date(), now.tzinfo)
    return _Span(today - timedelta(hours=6), today + timedelta(hours=6))


def _ago(m: re.Match[str], now: datetime) -> _Span:
    count, unit = _number(m["n"]), _unit(m["unit"])
    if unit in ("minute", "hour"):
        # "2 hours ago" is never exact: take one unit centred on the instant, so 2 hours ago is 1.5-2.5 h ago.
        point, half = _elapsed(now, -count * _UNIT_DELTAS[unit]), _UNIT_DELTAS[unit] / 2
        return _Span(_elapsed(point, -half), _elapsed(point, half), point)
    return _unit_span(unit, _shift_date(now.date(), -count, unit), now.tzinfo)


def _rolling(m: re.Match[str], now: datetime) -> _Span:
    count = _number(m["n"]) if "n" in m.re.groupindex and m["n"] else 1
    return _Span(_shift_instant(now, -count, _unit(m["unit"])), now)


def _calendar_unit(m: re.Match[str], now: datetime) -> _Span:
    back = 0 if m["which"].lower() in ("this", "current") else 1
    unit = m["unit"].lower()
    return _unit_span(unit, _shift_date(now.date(), -back, unit), now.tzinfo)


def _weekday(m: re.Match[str], now: datetime) -> _Span:
    today, wanted = now.date(), _WEEKDAYS.index(m["weekday"].lower()[:3])
    which = (m["which"] or "").lower()
    if which == "this":
        return _unit_span("day", today + timedelta(days=wanted - today.weekday()), now.tzinfo)
    # Strictly before today: on a Monday, "monday" means a week ago (today would be "today").
    back = (today.weekday() - wanted) % 7 or 7
    return replace(_unit_span("day", today - timedelta(days=back), now.tzinfo), movable="week")


def _year(m: re.Match[str], now: datetime) -> _Span:
    return _unit_span("year", date(int(m["year"]), 1, 1), now.tzinfo)


def _range(m: re.Match[str], now: datetime) -> _Span:
    first, last = _endpoint(m["a"], now), _endpoint(m["b"], now)
    start, end = first.as_start, last.as_end
    if end <= start and last.movable:
        end = datetime.combine(_shift_date(end.date(), 1, last.movable), end.timetz())
    if end <= start:
        raise TimeParseError(f"The range {m['body']!r} ends before it starts ({end.isoformat()} is not after "
                             f"{start.isoformat()}). Put the earlier time first, e.g. "
                             f"\"from 2026-11-01 to 2026-11-05\".")
    return _Span(start, end)


def _since(m: re.Match[str], now: datetime) -> _Span:
    start = _endpoint(m["a"], now).as_start
    if start >= now:
        raise TimeParseError(f"{m['body']!r} starts at {start.isoformat()}, which is not in the past. "
                             f"Try: {EXAMPLES}.")
    return _Span(start, now)


# ---------------------------------------------------------------------------------------------------------
# The table. Order matters twice: range ends and "since X" take the first single phrase that fits, so more
# specific shapes come first; and a whole-text parse takes the first rule that matches all of it.

_LEAD = r"on|in|during|from|for|of|over|within|throughout"
_CONTEXT_LEAD = r"in|during|from|throughout"  # a bare "may" or "2025" is only a time after one of these


@dataclass(frozen=True)
class _Rule:
    handler: Handler
    bare: re.Pattern[str]  # the phrase alone: range ends and since
    exact: re.Pattern[str]  # the whole text, lead word optional
    search: re.Pattern[str]  # inside free text; a lead word is required when the phrase is ambiguous alone
    body: str


def _rule(body: str, handler: Handler, needs_context: bool = False) -> _Rule:
    lead = rf"(?:{_CONTEXT_LEAD})\s+" if needs_context else rf"(?:(?:{_LEAD})\s+)?"
    tail = r"(?:'s|’s)?"  # "yesterday's notes"
    return _Rule(
        handler=handler,
        bare=re.compile(rf"(?P<body>{body})", re.IGNORECASE),
        exact=re.compile(rf"(?:(?:{_LEAD})\s+)?(?P<body>{body}){tail}", re.IGNORECASE),
        search=re.compile(rf"(?<!\w){lead}(?P<body>{body}){tail}(?!\w)", re.IGNORECASE),
        body=body,
    )


_SINGLES = (
    _rule(rf"{_ISO_DATE}(?:t|\s+)(?P<hh>\d{{1,2}}):(?P<mm>[0-5]\d)(?::(?P<ss>[0-5]\d)(?:\.\d+)?)?"
          r"(?P<tz>z|[+-]\d\d:?\d\d)?", _iso_datetime),
    _rule(_ISO_DATE, _iso_date),
    _rule(r"(?P<y>\d{4})-(?P<mo>\d\d)", _iso_month),
    _rule(rf"{_MONTH}\s+{_DAY}(?:,?\s+{_YEAR})?", _month_day),
    _rule(rf"{_DAY}\s+(?:of\s+)?{_MONTH}(?:,?\s+{_YEAR})?", _month_day),
    _rule(rf"{_MONTH},?\s+(?:of\s+)?{_YEAR}", _month_of_year),
    _rule(rf"(?P<last>last|previous)\s+{_MONTH}", _month_name),
    _rule(r"(?:the\s+)?day\s+before\s+yesterday", _day_before_yesterday),
    _rule(r"(?P<which>this|yesterday)\s+(?P<part>morning|afternoon|evening)", _day_part),
    _rule(r"last\s+night", _last_night),
    _rule(r"(?P<word>today|yesterday)", _named_day),
    _rule(rf"{_NUMBER}\s+{_UNIT}\s+ago", _ago),
    _rule(rf"(?:the\s+)?(?:last|past)\s+{_NUMBER}\s+{_UNIT}", _rolling),
    _rule(r"(?:(?:the\s+)?past|the\s+last)\s+(?P<unit>minute|hour|day|week|month|year)", _rolling),
    _rule(r"(?P<which>this|current|last|previous)\s+(?P<unit>week|month|year)", _calendar_unit),
    _rule(rf"(?:(?P<which>last|previous|this)\s+)?{_WEEKDAY}", _weekday),
    _rule(_MONTH, _month_name, needs_context=True),
    _rule(r"(?P<year>(?:19|20)\d\d)", _year, needs_context=True),
)

# Any single phrase, without group names (a name may appear only once in a pattern).
_ANY = "|".join(f"(?:{re.sub(r'[(][?]P<[a-z]+>', '(?:', rule.body)})" for rule in _SINGLES)

_RULES = (
    _rule(rf"between\s+(?P<a>{_ANY})\s+and\s+(?P<b>{_ANY})", _range),
    _rule(rf"(?P<a>{_ANY})(?:\s+(?:to|until|till|through|thru)\s+|\s*(?:\.{{2,3}}|[–—])\s*|\s+-\s+)(?P<b>{_ANY})",
          _range),
    _rule(rf"since\s+(?P<a>{_ANY})", _since),
    *_SINGLES,
)


def _endpoint(text: str, now: datetime) -> _Span:
    for rule in _SINGLES:
        m = rule.bare.fullmatch(text)
        if m:
            return rule.handler(m, now)
    raise AssertionError(f"{text!r} matched the endpoint pattern but no single rule")  # the table is inconsistent


# ---------------------------------------------------------------------------------------------------------
# Entry points.

def _quote(text: str, limit: int = 80) -> str:
    """The caller's words in a message, cut short: a 5,000-character query should not come back whole."""
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware: day boundaries are computed in its timezone")


def _resolve(rule: _Rule, m: re.Match[str], now: datetime) -> TimeRange:
    try:
        span = rule.handler(m, now)
    except (OverflowError, ValueError) as exc:  # years beyond 1..9999 after arithmetic
        raise TimeParseError(f"{m['body']!r} is too far from today to compute. Try: {EXAMPLES}.") from exc
    return TimeRange(span.start, span.end, m.group(0).strip())


def _whole(text: str, now: datetime) -> TimeRange | None:
    cleaned = text.strip().strip("?!.,;:").strip()
    for rule in _RULES:
        m = rule.exact.fullmatch(cleaned)
        if m:
            return _resolve(rule, m, now)
    return None


def parse_time_expression(text: str, now: datetime) -> TimeRange:
    """Parse text that is nothing but a time phrase ("last week", "since monday", "2026-11-02")."""
    _require_aware(now)
    if not text.strip():
        raise TimeParseError(f"The time expression is empty. Try: {EXAMPLES}.")
    found = _whole(text, now)
    if found is None:
        raise TimeParseError(f"Could not understand {_quote(text)} as a time. Try: {EXAMPLES}.")
    return found


def parse_recall_query(text: str, now: datetime) -> RecallQuery:
    """Find the time phrase in a recall query; what is left (minus filler) is the semantic query.

    When the text holds several phrases the longest wins (then the first), so "between march 3 and
    march 5" is one range, not two days.
    """
    _require_aware(now)
    if not text.strip():
        raise TimeParseError(f"The query is empty: say when, e.g. {EXAMPLES}.")
    best: tuple[tuple[int, int], _Rule, re.Match[str]] | None = None
    for rule in _RULES:
        for m in rule.search.finditer(text):
            key = (m.end() - m.start(), -m.start())
            if best is None or key > best[0]:
                best = (key, rule, m)
    if best is None:
        # A bare "march" or "2025" is only a time when nothing else is said.
        whole = _whole(text, now)
        if whole is None:
            raise TimeParseError(f"Could not find a time in {_quote(text)}. Try: {EXAMPLES}.")
        return RecallQuery(whole, "")
    _, rule, m = best
    rest = _trim_filler(text[: m.start()]) + _trim_filler(text[m.end():])
    return RecallQuery(_resolve(rule, m, now), " ".join(rest))


# Words that carry no topic when they sit at the edge of what is left ("what did I store ... about").
# Only the edges are trimmed, so a topic such as "introduction to the kernel" keeps its inner words.
_FILLER = frozenset("""
    what what's whats which when where who did do does done have has had i i've ive me my we our us you your
    store stored storing save saved saving add added put remember remembered recall recalled memorize
    memorized memory memories show list find get fetch give tell search look looking up for about regarding
    concerning re on in from during of to the a an any anything all everything something some stuff things
    thing that those these there was were is are be been it please can could would will and or with related
""".split())
_PUNCTUATION = "?!.,;:\"'()[]{}“”‘’"


def _trim_filler(chunk: str) -> list[str]:
    words = [word for word in (raw.strip(_PUNCTUATION) for raw in chunk.split()) if word]
    while words and words[0].lower() in _FILLER:
        words.pop(0)
    while words and words[-1].lower() in _FILLER:
        words.pop()
    return words
