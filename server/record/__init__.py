"""The memory record, in one place: its fields and columns (memory.py), what it may hold (checks.py), and the
typed reports built from it (status.py). `from server import record` gives all of them."""

from server.record.checks import (
    HARD_CONTENT_LIMIT, HARD_METADATA_CHARS, LATEST_TIME, MAX_METADATA_CHARS, MAX_METADATA_DEPTH, MAX_TAG_LENGTH,
    MAX_TAGS, MAX_TYPE_LENGTH, check_content, check_metadata, check_tags, check_time, check_type, checked,
    content_hash, from_row, unreadable, visible, write_problem,
)
from server.record.memory import (
    CHANGEABLE, COLUMNS, NAMES, PROBE_TAG, SELECT_LIST, SYSTEM_TYPES, ASSOCIATION_TYPE, SUMMARY_TYPE, Memory, MetadataChange, UnreadableRecord, changed, decode_row,
    iso_utc, to_row,
)

__all__ = [
    "CHANGEABLE", "COLUMNS", "HARD_CONTENT_LIMIT", "HARD_METADATA_CHARS", "LATEST_TIME", "MAX_METADATA_CHARS",
    "MAX_METADATA_DEPTH", "MAX_TAGS", "MAX_TAG_LENGTH", "MAX_TYPE_LENGTH", "NAMES", "PROBE_TAG", "SELECT_LIST", "SYSTEM_TYPES", "ASSOCIATION_TYPE", "SUMMARY_TYPE",
    "Memory", "MetadataChange", "UnreadableRecord", "changed", "check_content", "check_metadata", "check_tags",
    "check_time", "check_type", "checked", "content_hash", "decode_row", "from_row", "iso_utc", "to_row", "unreadable", "visible",
    "write_problem",
]
