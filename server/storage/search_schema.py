"""The lexical index's schema, one definition for both dialects: FTS5 over a memory's content and tags,
external content (the text is not stored twice), kept in step with `memories` by triggers so every write
path (store, import, sync, update, delete) updates it in its own transaction, whichever device writes.

Porter stemming finds "running" for "run"; unicode61 splits identifiers at punctuation, and a quoted query
word ("E1042", "app.py", "ERR_RESET") is matched as a phrase of its parts, so identifiers stay findable.
'rebuild' indexes the rows already there and is safe to run again. The local store's migration 0003 and
D1's 0004 are both made here; they differ only in what a delete also clears (`also_on_delete`).
"""

from __future__ import annotations

TOKENIZER = "porter unicode61 remove_diacritics 2"


def fts5_statements(also_on_delete: str = "") -> tuple[str, ...]:
    """The table, its three triggers and the first rebuild. `also_on_delete` is one more statement for the
    delete trigger (the local store's chunk vectors go with their memory)."""
    extra = f" {also_on_delete.rstrip(';')};" if also_on_delete else ""
    remove_old = "INSERT INTO memory_text(memory_text, rowid, content, tags) VALUES ('delete', old.id, old.content, old.tags);"
    add_new = "INSERT INTO memory_text(rowid, content, tags) VALUES (new.id, new.content, new.tags);"
    return (
        "CREATE VIRTUAL TABLE IF NOT EXISTS memory_text USING fts5(content, tags, content='memories', "
        f"content_rowid='id', tokenize='{TOKENIZER}')",
        f"CREATE TRIGGER IF NOT EXISTS memory_text_insert AFTER INSERT ON memories BEGIN {add_new} END",
        f"CREATE TRIGGER IF NOT EXISTS memory_text_delete AFTER DELETE ON memories BEGIN {remove_old}{extra} END",
        "CREATE TRIGGER IF NOT EXISTS memory_text_update AFTER UPDATE OF content, tags ON memories BEGIN "
        f"{remove_old} {add_new} END",
        "INSERT INTO memory_text(memory_text) VALUES ('rebuild')",
    )
