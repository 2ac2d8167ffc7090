"""Time phrases in recall queries, against a fixed now: exact [start, end) for every supported shape."""

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from server.errors import InvalidInputError, TimeParseError
from server.timeparse import EXAMPLES, RecallQuery, TimeRange, parse_recall_query, parse_time_expression

PLUS1 = timezone(timedelta(hours=1))
NOW = datetime(2026, 11, 23, 15, 30, tzinfo=PLUS1)  # a Monday


def at(*parts: int, tz: timezone = PLUS1) -> datetime:
    return datetime(*parts, tzinfo=tz)


def day(y: int, m: int, d: int, tz: timezone = PLUS1) -> tuple[datetime, datetime]:
    start = at(y, m, d, tz=tz)
    return start, start + timedelta(days=1)


def span(text: str, now: datetime = NOW) -> tuple[datetime, datetime]:
    found = parse_time_expression(text, now)
    return found.start, found.end


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # days and parts of days
        ("today", day(2026, 11, 23)),
        ("Yesterday", day(2026, 11, 22)),
        ("day before yesterday", day(2026, 11, 21)),
        ("the day before yesterday", day(2026, 11, 21)),
        ("this morning", (at(2026, 11, 23, 5), at(2026, 11, 23, 12))),
        ("this afternoon", (at(2026, 11, 23, 12), at(2026, 11, 23, 17))),
        ("this evening", (at(2026, 11, 23, 17), at(2026, 11, 24))),
        ("yesterday morning", (at(2026, 11, 22, 5), at(2026, 11, 22, 12))),
        ("last night", (at(2026, 11, 22, 18), at(2026, 11, 23, 6))),
        # calendar units (weeks start on Monday)
        ("this week", (at(2026, 11, 23), at(2026, 11, 30))),
        ("last week", (at(2026, 11, 16), at(2026, 11, 23))),
        ("previous week", (at(2026, 11, 16), at(2026, 11, 23))),
        ("this month", (at(2026, 11, 1), at(2026, 12, 1))),
        ("LAST MONTH", (at(2026, 10, 1), at(2026, 11, 1))),
        ("this year", (at(2026, 1, 1), at(2027, 1, 1))),
        ("last year", (at(2025, 1, 1), at(2026, 1, 1))),
        # "ago": the calendar unit containing the instant, or one unit centred on it below a day
        ("3 days ago", day(2026, 11, 20)),
        ("three days ago", day(2026, 11, 20)),
        ("a day ago", day(2026, 11, 22)),
        ("a couple of days ago", day(2026, 11, 21)),
        ("twelve days ago", day(2026, 11, 11)),
        ("a week ago", (at(2026, 11, 16), at(2026, 11, 23))),
        ("2 weeks ago", (at(2026, 11, 9), at(2026, 11, 16))),
        ("a month ago", (at(2026, 10, 1), at(2026, 11, 1))),
        ("2 months ago", (at(2026, 9, 1), at(2026, 10, 1))),
        ("one year ago", (at(2025, 1, 1), at(2026, 1, 1))),
        ("2 hours ago", (at(2026, 11, 23, 13), at(2026, 11, 23, 14))),
        ("an hour ago", (at(2026, 11, 23, 14), at(2026, 11, 23, 15))),
        ("10 minutes ago", (at(2026, 11, 23, 15, 19, 30), at(2026, 11, 23, 15, 20, 30))),
        ("5 mins ago", (at(2026, 11, 23, 15, 24, 30), at(2026, 11, 23, 15, 25, 30))),
        # rolling windows end now
        ("last 3 days", (at(2026, 11, 20, 15, 30), NOW)),
        ("past 2 weeks", (at(2026, 11, 9, 15, 30), NOW)),
        ("in the last 3 days", (at(2026, 11, 20, 15, 30), NOW)),
        ("within the past 24 hours", (at(2026, 11, 22, 15, 30), NOW)),
        ("the last six months", (at(2026, 5, 23, 15, 30), NOW)),
        ("last 2 years", (at(2024, 11, 23, 15, 30), NOW)),
        ("past week", (at(2026, 11, 16, 15, 30), NOW)),
        ("the last week", (at(2026, 11, 16, 15, 30), NOW)),
        ("the past month", (at(2026, 10, 23, 15, 30), NOW)),
        # weekdays: the most recent one before today (now is a Monday)
        ("monday", day(2026, 11, 16)),
        ("on monday", day(2026, 11, 16)),
        ("friday", day(2026, 11, 20)),
        ("last friday", day(2026, 11, 20)),
        ("on Sunday", day(2026, 11, 22)),
        ("this friday", day(2026, 11, 27)),
        # months: the most recent one, the current one included unless "last" is said
        ("march", (at(2026, 3, 1), at(2026, 4, 1))),
        ("in march", (at(2026, 3, 1), at(2026, 4, 1))),
        ("in december", (at(2025, 12, 1), at(2026, 1, 1))),
        ("in november", (at(2026, 11, 1), at(2026, 12, 1))),
        ("last november", (at(2025, 11, 1), at(2025, 12, 1))),
        ("last march", (at(2026, 3, 1), at(2026, 4, 1))),
        ("march 2026", (at(2026, 3, 1), at(2026, 4, 1))),
        ("Sept 2024", (at(2024, 9, 1), at(2024, 10, 1))),
        ("2025-02", (at(2025, 2, 1), at(2025, 3, 1))),
        ("in 2025", (at(2025, 1, 1), at(2026, 1, 1))),
        # days of months
        ("march 3", day(2026, 3, 3)),
        ("3 march", day(2026, 3, 3)),
        ("mar 3rd", day(2026, 3, 3)),
        ("3rd of march", day(2026, 3, 3)),
        ("december 25", day(2025, 12, 25)),
        ("november 23", day(2026, 11, 23)),
        ("november 2, 2026", day(2026, 11, 2)),
        ("2 nov 2025", day(2025, 11, 2)),
        ("february 29", day(2024, 2, 29)),
        # ISO dates and datetimes
        ("2026-11-02", day(2026, 11, 2)),
        ("2026-11-02T10:00", (at(2026, 11, 2, 10), at(2026, 11, 2, 10, 1))),
        ("2026-11-02 10:00:30", (at(2026, 11, 2, 10, 0, 30), at(2026, 11, 2, 10, 1, 30))),
        ("2026-11-02T09:00Z", (at(2026, 11, 2, 10), at(2026, 11, 2, 10, 1))),
        ("2026-11-02T12:00+03:00", (at(2026, 11, 2, 10), at(2026, 11, 2, 10, 1))),
        # ranges: the end day is included
        ("from 2026-11-01 to 2026-11-05", (at(2026, 11, 1), at(2026, 11, 6))),
        ("2026-11-01 to 2026-11-05", (at(2026, 11, 1), at(2026, 11, 6))),
        ("2026-11-01..2026-11-05", (at(2026, 11, 1), at(2026, 11, 6))),
        ("2026-11-01 - 2026-11-05", (at(2026, 11, 1), at(2026, 11, 6))),
        ("between march 3 and march 5", (at(2026, 3, 3), at(2026, 3, 6))),
        ("from march to may", (at(2026, 3, 1), at(2026, 6, 1))),
        ("yesterday to today", (at(2026, 11, 22), at(2026, 11, 24))),
        ("from 2026-11-02T10:00 to 2026-11-02T12:00", (at(2026, 11, 2, 10), at(2026, 11, 2, 12))),
        ("from december 20 to january 5", (at(2025, 12, 20), at(2026, 1, 6))),
        ("from friday to monday", (at(2026, 11, 20), at(2026, 11, 24))),
        ("from monday until wednesday", (at(2026, 11, 16), at(2026, 11, 19))),
        ("from october to february", (at(2026, 10, 1), at(2027, 3, 1))),
        # since: until now
        ("since monday", (at(2026, 11, 16), NOW)),
        ("since yesterday", (at(2026, 11, 22), NOW)),
        ("since 2026-11-01", (at(2026, 11, 1), NOW)),
        ("since march 3", (at(2026, 3, 3), NOW)),
        ("since last week", (at(2026, 11, 16), NOW)),
        ("since 3 days ago", (at(2026, 11, 20), NOW)),
        ("since 2 hours ago", (at(2026, 11, 23, 13, 30), NOW)),
        ("since 2025", (at(2025, 1, 1), NOW)),
    ],
)
def test_each_phrase_becomes_its_exact_half_open_range(text, expected):
    assert span(text) == expected


def test_the_whole_phrase_is_reported_as_the_expression():
    found = parse_time_expression("  From 2026-11-01 to 2026-11-05? ", NOW)
    assert found == TimeRange(at(2026, 11, 1), at(2026, 11, 6), "From 2026-11-01 to 2026-11-05")


@pytest.mark.parametrize(
    ("text", "expression", "semantic"),
    [
        ("what did I store last week about python", "last week", "python"),
        ("what did I store today about databases", "today", "databases"),
        ("memories from yesterday", "from yesterday", ""),
        ("yesterday", "yesterday", ""),
        ("Python notes from 3 days ago", "from 3 days ago", "Python notes"),
        ("anything on kubernetes since monday?", "since monday", "kubernetes"),
        ("show me everything I saved between march 3 and march 5 about the trip",
         "between march 3 and march 5", "trip"),
        ("what did we discuss in the last 3 days regarding the release plan",
         "in the last 3 days", "discuss release plan"),
        ("introduction to the kernel, stored 2026-11-02", "2026-11-02", "introduction to the kernel"),
        ("yesterday's meeting notes", "yesterday's", "meeting notes"),
        ("ideas from march", "from march", "ideas"),
        ("march", "march", ""),
        ("what I saved this morning about c++", "this morning", "c++"),
        ("recipes from 2026-11-01 to 2026-11-05 please", "from 2026-11-01 to 2026-11-05", "recipes"),
    ],
)
def test_the_time_phrase_is_found_inside_text_and_the_rest_is_the_semantic_query(text, expression, semantic):
    found = parse_recall_query(text, NOW)
    assert found.time_range == parse_time_expression(expression, NOW)
    assert (found.time_range.expression, found.semantic_query) == (expression, semantic)


def test_last_week_in_a_sentence_is_the_calendar_week_and_python_the_query():
    found = parse_recall_query("what did I store last week about python", NOW)
    assert found == RecallQuery(TimeRange(at(2026, 11, 16), at(2026, 11, 23), "last week"), "python")


def test_the_longest_phrase_wins_so_a_range_is_not_read_as_its_first_day():
    found = parse_recall_query("notes between march 3 and march 5", NOW)
    assert found.time_range.expression == "between march 3 and march 5"


def test_words_that_only_look_like_months_or_years_need_a_preposition_inside_text():
    found = parse_recall_query("I may need the 2024 report from yesterday", NOW)
    assert found.time_range.expression == "from yesterday"
    assert found.semantic_query == "may need the 2024 report"  # "I" is filler


UTC = timezone.utc


@pytest.mark.parametrize(
    ("now", "text", "expected"),
    [
        (at(2026, 3, 31, 12, tz=UTC), "last month", (at(2026, 2, 1, tz=UTC), at(2026, 3, 1, tz=UTC))),
        (at(2026, 1, 15, 12, tz=UTC), "last month", (at(2025, 12, 1, tz=UTC), at(2026, 1, 1, tz=UTC))),
        (at(2026, 1, 15, 12, tz=UTC), "last year", (at(2025, 1, 1, tz=UTC), at(2026, 1, 1, tz=UTC))),
        (at(2026, 1, 1, 0, 5, tz=UTC), "last week", (at(2025, 12, 22, tz=UTC), at(2025, 12, 29, tz=UTC))),
        (at(2026, 3, 31, 12, tz=UTC), "a month ago", (at(2026, 2, 1, tz=UTC), at(2026, 3, 1, tz=UTC))),
        (at(2026, 3, 31, 12, tz=UTC), "past month", (at(2026, 2, 28, 12, tz=UTC), at(2026, 3, 31, 12, tz=UTC))),
        (at(2024, 3, 31, 12, tz=UTC), "last 1 month", (at(2024, 2, 29, 12, tz=UTC), at(2024, 3, 31, 12, tz=UTC))),
        (at(2028, 2, 29, 12, tz=UTC), "a year ago", (at(2027, 1, 1, tz=UTC), at(2028, 1, 1, tz=UTC))),
        (at(2028, 2, 29, 12, tz=UTC), "past year", (at(2027, 2, 28, 12, tz=UTC), at(2028, 2, 29, 12, tz=UTC))),
        (at(2026, 1, 15, 12, tz=UTC), "in december", (at(2025, 12, 1, tz=UTC), at(2026, 1, 1, tz=UTC))),
        (at(2026, 1, 15, 12, tz=UTC), "january 15", (at(2026, 1, 15, tz=UTC), at(2026, 1, 16, tz=UTC))),
        (at(2026, 12, 25, 12, tz=UTC), "from december 20 to january 5",
         (at(2026, 12, 20, tz=UTC), at(2027, 1, 6, tz=UTC))),
    ],
)
def test_month_and_year_arithmetic_handles_uneven_lengths_in_utc(now, text, expected):
    assert span(text, now) == expected


def test_day_boundaries_follow_the_timezone_of_now():
    tokyo = timezone(timedelta(hours=9))
    now = datetime(2026, 11, 23, 1, 0, tzinfo=tokyo)  # still November 22 in UTC
    assert span("today", now) == (datetime(2026, 11, 23, tzinfo=tokyo), datetime(2026, 11, 24, tzinfo=tokyo))


def test_a_day_across_a_dst_change_is_23_hours_and_hours_ago_are_real_hours():
    berlin = ZoneInfo("Europe/Berlin")
    now = datetime(2026, 3, 29, 12, 0, tzinfo=berlin)  # clocks went from 02:00 to 03:00 this morning
    start, end = span("today", now)
    assert end.timestamp() - start.timestamp() == 23 * 3600  # aware subtraction in one zone ignores DST
    assert span("the past 12 hours", now)[0] == datetime(2026, 3, 28, 23, 0, tzinfo=berlin)


@pytest.mark.parametrize("text", ["blah", "what did I store about python", "march madness bracket 2024"])
def test_text_without_a_time_names_what_was_not_understood_and_lists_examples(text):
    with pytest.raises(TimeParseError) as caught:
        parse_recall_query(text, NOW)
    message = str(caught.value)
    assert message == f"Could not find a time in {text!r}. Try: {EXAMPLES}."
    assert '"yesterday"' in message and '"from 2026-11-01 to 2026-11-05"' in message


def test_the_exact_message_for_blah_matches_the_documented_wording():
    with pytest.raises(TimeParseError, match=r"^Could not find a time in 'blah'\. Try: \"yesterday\", \"last week\", "
                                             r"\"3 days ago\", \"last month\", \"2026-11-02\", "
                                             r"\"from 2026-11-01 to 2026-11-05\"\.$"):
        parse_recall_query("blah", NOW)


@pytest.mark.parametrize("parse", [parse_recall_query, parse_time_expression])
@pytest.mark.parametrize("text", ["", "   "])
def test_empty_text_is_refused_with_examples(parse, text):
    with pytest.raises(TimeParseError, match="empty.*yesterday"):
        parse(text, NOW)


def test_a_whole_text_parse_refuses_extra_words():
    with pytest.raises(TimeParseError, match=r"Could not understand 'yesterday about python' as a time\. Try:"):
        parse_time_expression("yesterday about python", NOW)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("2026-02-30", "'2026-02-30' is not a real date"),
        ("notes from 2026-02-30", "'2026-02-30' is not a real date"),
        ("2026-13-01", "is not a real date"),
        ("2026-13", "is not a real date"),
        ("february 30", "'february 30' is not a real date"),
        ("april 31, 2026", "is not a real date"),
        ("february 29, 2026", "is not a real date"),
        ("2026-11-02T25:00", "hour above 23"),
        ("from 2026-11-05 to 2026-11-01", "ends before it starts"),
        ("between 2026-11-05 and 2026-11-01", "ends before it starts"),
        ("from today to last week", "ends before it starts"),
        ("since 2027-01-01", "not in the past"),
        ("999999 years ago", "too far from today"),
    ],
)
def test_impossible_dates_and_backwards_ranges_are_refused(text, needle):
    with pytest.raises(TimeParseError, match=needle) as caught:
        parse_recall_query(text, NOW)
    assert "2026-11-0" in str(caught.value)  # every message shows a form that works


def test_time_parse_errors_are_input_errors_so_tools_report_them_to_the_caller():
    assert issubclass(TimeParseError, InvalidInputError)


def test_a_naive_now_is_a_programming_error_not_a_user_error():
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_recall_query("yesterday", datetime(2026, 11, 23, 15, 30))
