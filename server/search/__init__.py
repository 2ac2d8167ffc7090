"""Finding memories: lexical queries (FTS5), the fusion of lexical and semantic scores, and the chunks a
long memory is embedded in. Pure functions; the storages run the queries."""

SEARCH_MODES = ("semantic", "lexical", "hybrid")
DEFAULT_MODE = "hybrid"
