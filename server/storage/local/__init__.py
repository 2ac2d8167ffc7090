"""The local store: everything that runs SQL on our SQLite file (sqlite_vec.py is its face)."""
