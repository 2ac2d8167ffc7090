"""Documents into memory: files read into pieces that carry their source (see ingest.py)."""
