"""Live checks of a Cloudflare setup, with the same client the server's cloudflare backend uses.

Each check is one line: pass or fail, the reason and a hint. A network error, a timeout or a malformed
answer is a failure, never a pass. Checks that depend on a failed one are reported as skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from installer.errors import InstallerError
from server.cloudflare.client import CloudflareClient
from server.storage.cloud import checks
from server.cloudflare.facts import DATABASE_NAME, DEFAULT_BASE_URL, DEFAULT_INDEX, DEFAULT_MODEL, MODEL_DIMENSIONS, TOKEN_PERMISSIONS
from server.cloudflare.errors import (
    D1_DUPLICATE_NAME, D1_NOT_FOUND, INDEX_DUPLICATE, INDEX_NOT_FOUND, CloudflareError,
)

TRANSIENT_HINT = ("Cloudflare did not answer properly just now (a rate limit or an outage): check again in a "
                  "moment; nothing is wrong with the settings as far as this shows")
MISSING_CODES = {"D1 database": {D1_NOT_FOUND}, "Vectorize index": {INDEX_NOT_FOUND}}
TOKEN_HINT = f"create an API token with {TOKEN_PERMISSIONS} permissions"


@dataclass(frozen=True)
class CloudflareConfig:
    token: str = field(repr=False)
    account_id: str
    database_id: str
    index: str = DEFAULT_INDEX
    model: str = DEFAULT_MODEL
    base_url: str = DEFAULT_BASE_URL

    @property
    def dimensions(self) -> int | None:
        return MODEL_DIMENSIONS.get(self.model)


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str  # "pass" | "fail" | "skip"
    detail: str
    hint: str | None = None
    codes: frozenset[int] = frozenset()  # the API's error codes when the check failed on an API error

    @property
    def missing(self) -> bool:
        """The resource does not exist (decided by the API's code, never by text in a message)."""
        return self.status == "fail" and bool(self.codes & MISSING_CODES.get(self.name, set()))

    @property
    def ok(self) -> bool:
        return self.status == "pass"

    def line(self) -> str:
        mark = {"pass": "✓", "fail": "✗", "skip": "-"}[self.status]
        return f"{mark} {self.name}: {self.detail}" + (f"\n    hint: {self.hint}" if self.hint else "")


def run_checks(config: CloudflareConfig, client: CloudflareClient | None = None) -> list[CheckResult]:
    cf = client or CloudflareClient(config.token, config.account_id, base_url=config.base_url)
    try:
        results = [_check("API token", lambda: _token(cf), _token_hint, config.base_url)]
        steps: list[tuple[str, Callable[[], str], Callable[[CloudflareError], str]]] = [
            ("account", lambda: _account(cf), lambda e: "check CLOUDFLARE_ACCOUNT_ID (32 hex characters, from the "
                                                         "dashboard's account home) and the token's account scope"),
            ("D1 database", lambda: _d1(cf, config), _d1_hint),
            ("Vectorize index", lambda: _index(cf, config), _index_hint(config)),
            ("Workers AI model", lambda: _model(cf, config), lambda e: f"check CLOUDFLARE_EMBEDDING_MODEL "
                                                                        f"(default {DEFAULT_MODEL})"),
            ("shared settings", lambda: _shared(cf, config), _d1_hint),
        ]
        for name, run, hint in steps:
            passed = {r.name for r in results if r.ok}
            if not results[0].ok or (name != "account" and "account" not in passed) or (
                    name == "shared settings" and "D1 database" not in passed):
                results.append(CheckResult(name, "skip", "skipped: an earlier check failed"))
            else:
                results.append(_check(name, run, hint, config.base_url))
        return results
    finally:
        if client is None:
            cf.close()


def _check(name: str, run: Callable[[], str], hint: Callable[[CloudflareError], str],
           base_url: str = DEFAULT_BASE_URL) -> CheckResult:
    try:
        return CheckResult(name, "pass", run())
    except CloudflareError as exc:
        # No answer at all: the address or the network. A passing failure (429, 5xx) says so, and blames no
        # permission or setting.
        if exc.status is None:
            why = (f"nothing answered at {base_url}: check the network, or CLOUDFLARE_API_BASE_URL if you set it "
                   "(the settings themselves could not be checked)")
        else:
            why = TRANSIENT_HINT if exc.retryable else hint(exc)
        return CheckResult(name, "fail", str(exc), why, frozenset(exc.codes))
    except CheckFailed as exc:
        return CheckResult(name, "fail", exc.reason, exc.hint)


class CheckFailed(Exception):
    def __init__(self, reason: str, hint: str | None = None) -> None:
        super().__init__(reason)
        self.reason, self.hint = reason, hint


def _token(cf: CloudflareClient) -> str:
    result = cf.verify_token()
    status = result.get("status") if isinstance(result, dict) else None
    if status != "active":
        raise CheckFailed(f"the token is {status or 'in an unknown state'}", TOKEN_HINT)
    return "active"


def _token_hint(exc: CloudflareError) -> str:
    if exc.status is None:
        return "Cloudflare could not be reached: check the network (or CLOUDFLARE_API_BASE_URL)"
    return f"the token was refused; {TOKEN_HINT}"


def _account(cf: CloudflareClient) -> str:
    # Listing D1 databases proves the account is reachable with this token; GET /accounts/{id} needs an
    # Account Settings permission that a token scoped to D1, Vectorize and Workers AI rightly lacks.
    databases = cf.d1_list()
    return f"reachable ({len(databases)} D1 database(s))"


def _d1(cf: CloudflareClient, config: CloudflareConfig) -> str:
    database = cf.d1_get(config.database_id)
    cf.d1_query(config.database_id, "SELECT 1 AS ok")
    name = database.get("name", config.database_id)
    foreign = checks.foreign_d1_schema(lambda statement: cf.d1_query(config.database_id, statement, []))
    if foreign is not None:  # never migrate or write into another program's database
        raise CheckFailed(f"{name} {foreign}", checks.FOREIGN_DATABASE_HINT)
    # Every write is one transaction in D1's batch form, which only the newer API description has: proven here
    # with two statements that change nothing.
    answered = cf.d1_batch(config.database_id, [("SELECT 1 AS a", []), ("SELECT 2 AS b", [])])
    if not cf.batch_form:
        return (f"{name} exists and answers queries (note: this API refuses D1's batch form, so a write goes one "
                "statement at a time rather than as one transaction; it still completes on a retry)")
    if answered != [[{"a": 1}], [{"b": 2}]]:
        raise CheckFailed(f"{name} answered a two-statement batch with {str(answered)[:80]}",
                          "this D1 API does not run batches as documented; use another account or report it")
    return f"{name} exists, answers queries and runs batches"


def _d1_hint(exc: CloudflareError) -> str:
    if exc.has_code(D1_NOT_FOUND):
        return "check CLOUDFLARE_D1_DATABASE_ID, or pass --create-cloudflare-resources to create one"
    return "the token needs Account: D1 Edit"


def _index(cf: CloudflareClient, config: CloudflareConfig) -> str:
    index = cf.index_get(config.index)
    settings = index.get("config", {}) if isinstance(index, dict) else {}
    dimensions, metric = settings.get("dimensions"), settings.get("metric")
    problem = checks.dimension_problem(config.index, dimensions, config.model)
    if problem is not None:
        raise CheckFailed(problem, checks.DIMENSION_HINT)
    if metric != "cosine":
        raise CheckFailed(f"{config.index} uses the {metric} metric; memories need cosine",
                          "create a new index with --create-cloudflare-resources and another name")
    return f"{config.index}: {dimensions} dimensions, cosine" + _foreign_vectors(cf, config)


def _foreign_vectors(cf: CloudflareClient, config: CloudflareConfig) -> str:
    """A warning when the index holds vectors and the D1 database none of our memories: they are another
    program's (the leading project's index has the same default name). Ours never mix with them by id,
    but they take space and query slots."""
    vectors = cf.index_info(config.index).get("vectorCount") or 0
    if not vectors:
        return ""
    ours = 0
    try:  # the D1 database has a check of its own: a missing one is not this index's problem
        tables = {r["name"] for r in cf.d1_query(config.database_id,
                                                 "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if {"memories", "schema_migrations"} <= tables:
            ours = cf.d1_query(config.database_id, "SELECT id FROM memories LIMIT 1") != []
    except CloudflareError:
        return ""
    if ours:
        return ""
    return (f" (warning: it already holds {vectors} vectors while the D1 database holds none of our memories; they "
            "are probably another program's: a new index, --create-cloudflare-resources with another "
            "CLOUDFLARE_VECTORIZE_INDEX, keeps them apart)")


def _index_hint(config: CloudflareConfig) -> Callable[[CloudflareError], str]:
    def hint(exc: CloudflareError) -> str:
        if exc.has_code(INDEX_NOT_FOUND):
            return f"no index {config.index!r}: pass --create-cloudflare-resources to create it"
        return "the token needs Account: Vectorize Edit"

    return hint


def _model(cf: CloudflareClient, config: CloudflareConfig) -> str:
    vectors = cf.embed(config.model, ["mcp-memory installer check"])
    if config.dimensions is None or len(vectors[0]) != config.dimensions:
        raise CheckFailed(f"{config.model} returned {len(vectors[0])}-dimensional vectors, expected {config.dimensions}")
    return f"{config.model} returns {len(vectors[0])}-dimensional vectors"


def _shared(cf: CloudflareClient, config: CloudflareConfig) -> str:
    """Settings every device on this database must share, as the first device recorded them (if any did)."""
    if not cf.d1_query(config.database_id, "SELECT name FROM sqlite_master WHERE name = 'shared_settings'"):
        return "none recorded yet: this device's will be"
    recorded = {r["key"]: r["value"] for r in cf.d1_query(config.database_id, "SELECT key, value FROM shared_settings")}
    clashes = checks.settings_clashes(recorded, checks.shared_settings(config.model))
    if clashes:
        raise CheckFailed("; ".join(clashes), checks.SHARED_SETTINGS_HINT)
    return "match the values recorded by the first device"


def create_missing(config: CloudflareConfig, results: list[CheckResult], say: Callable[[str], None] = print,
                   client: CloudflareClient | None = None) -> CloudflareConfig:
    """Create a missing D1 database or Vectorize index; returns the config to check again.

    Idempotent: a database named `mcp-memory` or an index of that name that exists already is reused when
    it is ours (or empty) and compatible, and said so; otherwise the reason is explained, nothing created."""
    cf = client or CloudflareClient(config.token, config.account_id, base_url=config.base_url)
    try:
        failed = {r.name: r for r in results if r.missing}
        if "D1 database" in failed:
            config = replace(config, database_id=_database(cf, say))
        if "Vectorize index" in failed and config.dimensions:
            _index_for(cf, config, say)
        return config
    finally:
        if client is None:
            cf.close()


def _database(cf: CloudflareClient, say: Callable[[str], None]) -> str:
    try:
        created = cf.d1_create(DATABASE_NAME)
        say(f"  created the D1 database {DATABASE_NAME} ({created['uuid']})")
        return str(created["uuid"])
    except CloudflareError as exc:
        if not exc.has_code(D1_DUPLICATE_NAME):
            raise InstallerError(f"Creating the D1 database failed: {exc}", _transient_or(exc, "the token needs "
                                 "Account: D1 Edit")) from exc
    existing = next((d for d in cf.d1_list(DATABASE_NAME) if d.get("name") == DATABASE_NAME), None)
    if existing is None:
        raise InstallerError(f"A D1 database named {DATABASE_NAME} exists but could not be listed",
                             "give its ID with --cloudflare-d1-database-id")
    uuid = str(existing["uuid"])
    foreign = checks.foreign_d1_schema(lambda statement: cf.d1_query(uuid, statement, []))
    if foreign is not None:
        raise InstallerError(f"The D1 database named {DATABASE_NAME} ({uuid}) {foreign}",
                             "delete or rename it in the Cloudflare dashboard, or give another database's ID with "
                             "--cloudflare-d1-database-id")
    say(f"  reusing the existing D1 database {DATABASE_NAME} ({uuid}): it is ours or empty")
    return uuid


def _index_for(cf: CloudflareClient, config: CloudflareConfig, say: Callable[[str], None]) -> None:
    try:
        cf.index_create(config.index, config.dimensions or 0, "cosine")
        say(f"  created the Vectorize index {config.index} ({config.dimensions} dimensions, cosine)")
        return
    except CloudflareError as exc:
        if not exc.has_code(INDEX_DUPLICATE):
            raise InstallerError(f"Creating the Vectorize index failed: {exc}", _transient_or(exc, "the token needs "
                                 "Account: Vectorize Edit")) from exc
    found = cf.index_get(config.index).get("config", {})
    if (found.get("dimensions"), found.get("metric")) != (config.dimensions, "cosine"):
        raise InstallerError(f"A Vectorize index {config.index} exists with {found.get('dimensions')} dimensions and "
                             f"the {found.get('metric')} metric; {config.model} needs {config.dimensions} and cosine",
                             "choose another name with --cloudflare-vectorize-index")
    say(f"  reusing the existing Vectorize index {config.index}: it has the right dimensions and metric")


def _transient_or(exc: CloudflareError, definitive: str) -> str:
    """A hint that does not blame permissions for a passing failure (429, 5xx, no answer)."""
    return TRANSIENT_HINT if exc.retryable else definitive
