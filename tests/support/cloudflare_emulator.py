"""A Cloudflare API emulator for tests: real HTTP on 127.0.0.1, the documented shapes and error codes
(shared/reference/cloudflare-api.md), D1 on real SQLite, Vectorize v2 with exact search, Workers AI with
deterministic embeddings in which texts sharing words get similar vectors. Faults are injected per test.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ACCOUNT = "0123456789abcdef0123456789abcdef"
MODEL_DIMENSIONS = {"@cf/baai/bge-small-en-v1.5": 384, "@cf/baai/bge-base-en-v1.5": 768, "@cf/baai/bge-large-en-v1.5": 1024}


@dataclass
class Fault:
    """Answer requests whose path matches `path` (a regex) with a failure, `times` times."""

    path: str
    status: int = 500
    code: int = 7500
    message: str = "internal error"
    retry_after: float | None = None
    delay: float = 0.0  # seconds to stall before answering (past the client's timeout = a timeout)
    times: int = 1
    drop: bool = False  # close the connection part-way through the answer instead (a dropped connection)
    skip: int = 0  # let this many matching requests through first


@dataclass
class Index:
    name: str
    dimensions: int
    metric: str
    vectors: dict[str, dict[str, Any]] = field(default_factory=dict)
    mutation: str = ""  # the last mutation applied (what info reports as processedUpToMutation)
    pending: list[tuple[float, str, Any]] = field(default_factory=list)  # (apply at, mutation id, change)
    metadata_indexes: dict[str, str] = field(default_factory=dict)  # property name -> string|number|boolean


MAX_METADATA_INDEXES = 10
D1_MAX_PARAMS = 100
D1_MAX_SQL_BYTES = 100_000
D1_MAX_VALUE_BYTES = 1_000_000  # a string or BLOB (the reference's row/string/BLOB limit)
VECTOR_ID_MAX_BYTES = 64
MAX_INPUT_WORDS = 384  # the bge models read 512 tokens: about 384 words of English (1.3 tokens a word)


async def _drop(send: Any) -> None:
    """Start an answer and stop part-way: the connection closes with the body incomplete, which a client
    sees as a dropped connection (httpx: RemoteProtocolError)."""
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000")]})
    await send({"type": "http.response.body", "body": b'{"success": tr', "more_body": False})


def _d1_statements(body: Any) -> list[tuple[str, list[Any]]] | str:
    """The (sql, params) pairs of a D1 body, or the D1-style error message when it breaks a rule."""
    if isinstance(body, dict) and isinstance(body.get("batch"), list):
        items = [(item.get("sql"), item.get("params") or []) for item in body["batch"] if isinstance(item, dict)]
    elif isinstance(body, dict) and isinstance(body.get("sql"), str):
        parts = _split_sql(body["sql"])
        params = body.get("params") or []
        if len(parts) > 1 and params:
            # The reference does not say how params bind across several statements: refuse, as the safe reading.
            return "D1 cannot bind params to a query of several statements; use the batch form: SQLITE_ERROR"
        items = [(sql, params if n == 0 else []) for n, sql in enumerate(parts)]
    else:
        return "Request body must hold sql (and params) or batch: SQLITE_ERROR"
    statements = []
    for sql, params in items:
        if not isinstance(sql, str) or not sql.strip() or not isinstance(params, list):
            return "Each statement needs sql text and a params list: SQLITE_ERROR"
        if len(sql.encode()) > D1_MAX_SQL_BYTES:
            return f"statement too long (over {D1_MAX_SQL_BYTES} bytes): SQLITE_TOOBIG"
        if len(params) > D1_MAX_PARAMS:
            return f"too many SQL variables (D1 allows {D1_MAX_PARAMS} bound parameters): SQLITE_ERROR"
        if any(isinstance(p, str) and len(p.encode()) > D1_MAX_VALUE_BYTES for p in params):
            return "string or blob too big: SQLITE_TOOBIG"
        statements.append((sql, [int(p) if isinstance(p, bool) else p for p in params]))
    return statements


def _split_sql(sql: str) -> list[str]:
    """Split on the semicolons that end statements (not those inside strings or comments)."""
    parts, current = [], ""
    for piece in sql.split(";"):
        current += piece + ";"
        if sqlite3.complete_statement(current):
            if current.strip(" \n\t;"):
                parts.append(current.strip())
            current = ""
    if current.strip(" \n\t;"):
        parts.append(current.strip().rstrip(";"))
    return parts


def _score(metric: str, values: np.ndarray, query: np.ndarray) -> float:
    if metric == "euclidean":
        return float(np.linalg.norm(values - query))
    if metric == "dot-product":
        return -float(values @ query)
    return float(values @ query / ((np.linalg.norm(values) * np.linalg.norm(query)) or 1.0))


_OPERATORS = {"$eq": lambda a, b: a == b, "$ne": lambda a, b: a != b, "$in": lambda a, b: a in b,
              "$nin": lambda a, b: a not in b, "$lt": lambda a, b: a < b, "$lte": lambda a, b: a <= b,
              "$gt": lambda a, b: a > b, "$gte": lambda a, b: a >= b}


def _passes(where: dict[str, Any], metadata: dict[str, Any], indexed: dict[str, str]) -> bool:
    """Vectorize filtering: only indexed properties can match (a filter on any other matches nothing)."""
    for name, condition in where.items():
        if name not in indexed or name not in metadata:
            return False
        value = metadata[name]
        checks = condition.items() if isinstance(condition, dict) else [("$eq", condition)]
        try:
            if not all(_OPERATORS[op](value, operand) for op, operand in checks):
                return False
        except (KeyError, TypeError):
            return False
    return True


def envelope(result: Any) -> JSONResponse:
    return JSONResponse({"success": True, "errors": [], "messages": [], "result": result})


def failure(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"success": False, "errors": [{"code": code, "message": message}], "messages": [], "result": None}
    return JSONResponse(body, status_code=status, headers=headers)


def embedding(text: str, dimensions: int) -> list[float]:
    """Deterministic: each word adds its own pseudo-random direction, so shared words mean high cosine.
    Like the real models, only the start of a long text is read (512 tokens; here, words)."""
    vector = np.zeros(dimensions)
    for word in re.findall(r"\w+", text.lower())[:MAX_INPUT_WORDS] or [""]:
        seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "little")
        vector += np.random.default_rng(seed).standard_normal(dimensions)
    return (vector / (np.linalg.norm(vector) or 1.0)).tolist()


class CloudflareEmulator:
    def __init__(self, tmp_dir: Any) -> None:
        self.tmp_dir = tmp_dir
        self.tokens: dict[str, str] = {"good-token": "active", "expired-token": "expired", "disabled-token": "disabled"}
        self.limited_tokens: set[str] = set()  # valid, but without permission for D1/Vectorize/AI
        self.databases: dict[str, tuple[str, sqlite3.Connection]] = {}
        self.indexes: dict[str, Index] = {}
        self.faults: list[Fault] = []
        self.mutation_delay = 0.0  # seconds before a Vectorize write becomes visible (per test)
        self.down: str | None = None  # an outage of the whole API: "drop" or "503"; None when up
        self.requests: list[tuple[str, str]] = []
        self.plans: list[tuple[str, list[str]]] = []  # every D1 statement run, with its EXPLAIN QUERY PLAN
        self.refuse_batch_form = False  # an account whose API takes only the single {"sql", "params"} form
        self.daily_limit_reached = False  # D1's free-tier daily limit: every query refused until it resets
        self._lock = threading.Lock()
        self.server: uvicorn.Server | None = None
        self.base_url = ""

    # -- test controls -----------------------------------------------------------------------------

    def add_database(self, name: str = "mcp-memory-db") -> str:
        database_id = str(uuid.uuid4())
        conn = sqlite3.connect(self.tmp_dir / f"{database_id}.db", check_same_thread=False, isolation_level=None)
        self.databases[database_id] = (name, conn)
        return database_id

    def add_index(self, name: str = "mcp-memory-index", dimensions: int = 768, metric: str = "cosine") -> None:
        self.indexes[name] = Index(name, dimensions, metric)

    def inject(self, fault: Fault) -> None:
        self.faults.append(fault)

    def outage(self, mode: str | None = "drop") -> None:
        """Make every request fail until `outage(None)`: "drop" closes connections, "503" answers 503."""
        assert mode in (None, "drop", "503")
        self.down = mode

    # -- serving -----------------------------------------------------------------------------------

    def start(self) -> CloudflareEmulator:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        config = uvicorn.Config(self.app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the Cloudflare emulator did not start")
            time.sleep(0.01)
        self.base_url = f"http://127.0.0.1:{port}/client/v4"
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
            self._thread.join(timeout=10)
        for _, conn in self.databases.values():
            conn.close()

    def app(self) -> Starlette:
        prefix = "/client/v4"
        acct = prefix + "/accounts/{account}"
        index = acct + "/vectorize/v2/indexes/{name}"
        routes = [
            Route(prefix + "/user/tokens/verify", self.verify, methods=["GET"]),
            Route(acct + "/tokens/verify", self.verify, methods=["GET"]),
            Route(acct, self.account, methods=["GET"]),
            Route(acct + "/d1/database", self.d1_list, methods=["GET"]),
            Route(acct + "/d1/database", self.d1_create, methods=["POST"]),
            Route(acct + "/d1/database/{db}", self.d1_get, methods=["GET"]),
            Route(acct + "/d1/database/{db}/query", self.d1_query, methods=["POST"]),
            Route(acct + "/d1/database/{db}/raw", self.d1_raw, methods=["POST"]),
            Route(acct + "/vectorize/v2/indexes", self.index_create, methods=["POST"]),
            Route(index, self.index_get, methods=["GET"]),
            Route(index + "/info", self.index_info, methods=["GET"]),
            Route(index + "/upsert", self.upsert, methods=["POST"]),
            Route(index + "/query", self.query, methods=["POST"]),
            Route(index + "/get_by_ids", self.get_by_ids, methods=["POST"]),
            Route(index + "/delete_by_ids", self.delete_by_ids, methods=["POST"]),
            Route(index + "/metadata_index/create", self.metadata_index_create, methods=["POST"]),
            Route(index + "/metadata_index/list", self.metadata_index_list, methods=["GET", "POST"]),
            Route(index + "/metadata_index/delete", self.metadata_index_delete, methods=["POST"]),
            Route(acct + "/ai/run/{model:path}", self.ai_run, methods=["POST"]),
        ]
        app = Starlette(routes=routes)
        return self._guarded(app)

    def _guarded(self, app: Starlette) -> Any:
        """Faults and auth before routing, as Cloudflare's gateway does."""

        async def guarded(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                return await app(scope, receive, send)
            path = scope["path"]
            self.requests.append((scope["method"], path))
            fault = self._take_fault(path)
            if self.down is not None:
                fault = Fault(path="", status=503, message="service unavailable", drop=self.down == "drop")
            if fault is not None and fault.drop:
                return await _drop(send)
            if fault is not None:
                if fault.delay:
                    import anyio

                    await anyio.sleep(fault.delay)
                headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
                return await failure(fault.status, fault.code, fault.message, headers)(scope, receive, send)
            denied = self._auth(scope)
            if denied is not None:
                return await denied(scope, receive, send)
            return await app(scope, receive, send)

        return guarded

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and re.search(fault.path, path):
                    if fault.skip > 0:
                        fault.skip -= 1
                        continue
                    fault.times -= 1
                    return fault
        return None

    def _auth(self, scope: Any) -> Response | None:
        header = dict(scope["headers"]).get(b"authorization", b"").decode()
        if not header:
            return failure(400, 9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers")
        if not header.startswith("Bearer "):
            return failure(400, 6003, "Invalid request headers")
        token = header.removeprefix("Bearer ")
        path = scope["path"]
        if path.endswith("/tokens/verify"):
            return None  # the verify endpoints report the token's status themselves
        if self.tokens.get(token) != "active":
            return failure(403, 10000, "Authentication error")
        match = re.match(r"/client/v4/accounts/([^/]+)", path)
        if match and match.group(1) != ACCOUNT:
            return failure(403, 9109, "Unauthorized to access requested resource")
        if token in self.limited_tokens and re.search(r"/(d1|vectorize|ai)/", path):
            return failure(403, 10000, "Authentication error")
        return None

    # -- handlers ----------------------------------------------------------------------------------

    async def verify(self, request: Request) -> Response:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        status = self.tokens.get(token)
        if status is None:
            return failure(401, 1000, "Invalid API Token")
        return envelope({"id": hashlib.md5(token.encode()).hexdigest(), "status": status})

    async def account(self, request: Request) -> Response:
        return envelope({"id": ACCOUNT, "name": "Emulated Account", "type": "standard"})

    async def d1_list(self, request: Request) -> Response:
        name = request.query_params.get("name")
        items = [{"uuid": k, "name": n, "version": "production", "created_at": "2026-01-01T00:00:00Z"}
                 for k, (n, _) in self.databases.items() if name in (None, n)]
        return envelope(items)

    async def d1_create(self, request: Request) -> Response:
        name = (await request.json())["name"]
        if any(n == name for n, _ in self.databases.values()):
            return failure(400, 7502, f"A database with name '{name}' already exists")
        database_id = self.add_database(name)
        return envelope({"uuid": database_id, "name": name, "version": "production",
                         "created_at": "2026-01-01T00:00:00Z"})

    async def d1_get(self, request: Request) -> Response:
        database = self.databases.get(request.path_params["db"])
        if database is None:
            return failure(404, 7404, f"The database {request.path_params['db']} could not be found")
        return envelope({"uuid": request.path_params["db"], "name": database[0], "version": "production",
                         "num_tables": 0, "file_size": 0})

    async def d1_query(self, request: Request) -> Response:
        return await self._d1(request, raw=False)

    async def d1_raw(self, request: Request) -> Response:
        return await self._d1(request, raw=True)

    async def _d1(self, request: Request, raw: bool) -> Response:
        """Both body forms: `{"sql", "params"}` (sql may hold several statements, one result each) and
        `{"batch": [{"sql", "params"}, ...]}`. Every request runs as one transaction: D1 runs a batch, and a
        multi-statement sql, as one, and a failed statement leaves nothing applied."""
        database = self.databases.get(request.path_params["db"])
        if database is None:
            return failure(404, 7404, f"The database {request.path_params['db']} could not be found")
        body = await request.json()
        statements = _d1_statements(body)
        if isinstance(statements, str):
            return failure(400, 7500, statements)
        if self.refuse_batch_form and isinstance(body, dict) and "batch" in body:
            return failure(400, 7400, "The request is malformed: sql is required")
        if self.daily_limit_reached:
            return failure(400, 7500, "Your account has exceeded D1's free tier daily row read limit. The limit "
                                      "resets at 00:00 UTC")
        conn = database[1]
        results = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in statements:
                before = conn.total_changes
                scanned = self._scanned(conn, sql, params)
                cursor = conn.execute(sql, params)
                columns = [c[0] for c in cursor.description or []]
                rows = cursor.fetchall()
                # rows_read as D1 bills it, rows visited: those returned, plus every row of a table the plan scans
                meta = {"changes": conn.total_changes - before, "rows_written": conn.total_changes - before,
                        "last_row_id": cursor.lastrowid or 0, "rows_read": len(rows) + scanned,
                        "served_by_region": "ENAM", "served_by_primary": True}
                shaped: Any = {"columns": columns, "rows": [list(r) for r in rows]} if raw else [
                    dict(zip(columns, row)) for row in rows]
                results.append({"results": shaped, "success": True, "meta": meta})
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            return failure(400, 7500, f"{exc}: SQLITE_ERROR")
        return envelope(results)

    def _scanned(self, conn: sqlite3.Connection, sql: str, params: list[Any]) -> int:
        """Rows of the tables this statement's plan scans in full (D1 bills each row visited), and its plan kept
        in `plans` for the tests that check every query of the sync uses an index."""
        try:
            details = [r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
        except sqlite3.Error:
            return 0
        self.plans.append((sql, details))
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        scanned = 0
        for detail in details:
            match = re.match(r"SCAN (\w+)\b(?! VIRTUAL TABLE)", detail)
            if match is None:
                continue
            name = match.group(1)
            if name not in tables:  # an alias: FROM <table> [AS] <alias>
                found = re.search(rf"\b(\w+)\s+(?:AS\s+)?{name}\b", sql, re.IGNORECASE)
                name = found.group(1) if found else name
            if name in tables:
                scanned += conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
        return scanned

    def _index(self, request: Request) -> Index | Response:
        name = request.path_params["name"]
        found = self.indexes.get(name)
        if found is None:
            return failure(404, 3000, f'vectorize.index.not_found - Index name "{name}"')
        self._settle(found)
        return found

    def _mutate(self, index: Index, change: Any) -> str:
        """Vectorize applies writes asynchronously: with `mutation_delay` set, a change becomes visible to
        queries, reads and info only that many seconds later, in order (the API's real behaviour)."""
        mutation = str(uuid.uuid4())
        index.pending.append((time.monotonic() + self.mutation_delay, mutation, change))
        self._settle(index)
        return mutation

    @staticmethod
    def _settle(index: Index) -> None:
        now = time.monotonic()
        while index.pending and index.pending[0][0] <= now:
            _, mutation, change = index.pending.pop(0)
            change(index)
            index.mutation = mutation

    async def index_create(self, request: Request) -> Response:
        body = await request.json()
        name, config = body["name"], body.get("config", {})
        if name in self.indexes:
            return failure(400, 3002, f'vectorize.index.duplicate_name - Index name "{name}"')
        self.add_index(name, int(config["dimensions"]), config.get("metric", "cosine"))
        return envelope(self._describe(self.indexes[name]))

    async def index_get(self, request: Request) -> Response:
        index = self._index(request)
        return index if isinstance(index, Response) else envelope(self._describe(index))

    async def index_info(self, request: Request) -> Response:
        index = self._index(request)
        if isinstance(index, Response):
            return index
        return envelope({"dimensions": index.dimensions, "vectorCount": len(index.vectors),
                         "processedUpToMutation": index.mutation or None, "processedUpToDatetime": None})

    @staticmethod
    def _describe(index: Index) -> dict[str, Any]:
        return {"name": index.name, "config": {"dimensions": index.dimensions, "metric": index.metric},
                "created_on": "2026-01-01T00:00:00Z", "modified_on": "2026-01-01T00:00:00Z"}

    async def upsert(self, request: Request) -> Response:
        index = self._index(request)
        if isinstance(index, Response):
            return index
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            form = await request.form()
            raw = await form["vectors"].read()  # type: ignore[union-attr]
        elif content_type.startswith("application/x-ndjson"):
            raw = await request.body()
        else:
            return failure(400, 40026, "vectorize.unknown_content_type")
        lines = [line for line in raw.decode().splitlines() if line.strip()]
        if len(lines) > 5000:
            return failure(400, 40024, "too many vectors in one request (max 5000)")
        parsed = []
        for n, line in enumerate(lines):
            try:
                vector = json.loads(line)
                values = [float(v) for v in vector["values"]]
            except (ValueError, KeyError, TypeError):
                return failure(400, 40023, f"vectorize.upstream_error - failed to parse upsert vectors request in "
                                           f"ndjson format: line Some({n}) was not expected format")
            if len(str(vector["id"]).encode()) > VECTOR_ID_MAX_BYTES:
                return failure(400, 40008, f'invalid vector id "{vector["id"]}": longer than {VECTOR_ID_MAX_BYTES} bytes')
            if len(values) != index.dimensions:
                return failure(400, 40012, f'invalid vector for id="{vector["id"]}", expected {index.dimensions} '
                                           f"dimensions, and got {len(values)} dimensions")
            if len(json.dumps(vector.get("metadata") or {})) > 10240:
                return failure(400, 40019, f'metadata too large for id="{vector["id"]}" (max 10 KiB)')
            parsed.append({"id": str(vector["id"]), "values": values, "metadata": vector.get("metadata")})
        def apply(target: Index) -> None:
            for vector in parsed:
                target.vectors[vector["id"]] = vector

        return envelope({"mutationId": self._mutate(index, apply)})

    async def query(self, request: Request) -> Response:
        index = self._index(request)
        if isinstance(index, Response):
            return index
        body = await request.json()
        if isinstance(body.get("returnMetadata"), bool):
            return failure(400, 40026, "Failed to parse the request body as JSON: returnMetadata: expected value")
        top_k = int(body.get("topK", 5))
        heavy = body.get("returnValues") or body.get("returnMetadata") == "all"
        if top_k > (50 if heavy else 100):
            return failure(400, 40025, f"with returnValues=true or returnMetadata=all, max top K is 50, but got {top_k}")
        query = np.asarray(body["vector"], dtype=float)
        if query.size != index.dimensions:
            return failure(400, 40006, f"invalid query vector, expected {index.dimensions} dimensions, and got "
                                       f"{query.size} dimensions")
        where = body.get("filter") or {}
        scored = []
        for vector in index.vectors.values():
            if not _passes(where, vector.get("metadata") or {}, index.metadata_indexes):
                continue  # the filter applies before topK
            scored.append((_score(index.metric, np.asarray(vector["values"]), query), vector))
        # cosine: higher is closer; euclidean (distance) and dot-product (negated) : lower is closer
        scored.sort(key=lambda pair: -pair[0] if index.metric == "cosine" else pair[0])
        want_metadata = body.get("returnMetadata", "none") != "none"
        matches = [{"id": v["id"], "score": score, "metadata": v["metadata"] if want_metadata else None}
                   for score, v in scored[:top_k]]
        return envelope({"count": len(matches), "matches": matches})

    async def metadata_index_create(self, request: Request) -> Response:
        index = self._index(request)
        if isinstance(index, Response):
            return index
        body = await request.json()
        name, kind = body.get("propertyName"), body.get("indexType")
        if not isinstance(name, str) or not name or kind not in ("string", "number", "boolean"):
            return failure(400, 40026, "invalid metadata index: propertyName and indexType string|number|boolean")
        if name not in index.metadata_indexes and len(index.metadata_indexes) >= MAX_METADATA_INDEXES:
            return failure(400, 40007, f"vectorize.too_many_metadata_indexes - max {MAX_METADATA_INDEXES}")
        index.metadata_indexes[name] = kind  # a duplicate is accepted (200), as observed
        index.mutation = str(uuid.uuid4())
        return envelope({"mutationId": index.mutation})

    async def metadata_index_list(self, request: Request) -> Response:
        index = self._index(request)
        if isinstance(index, Response):
            return index
        return envelope({"metadataIndexes": [{"propertyName": k, "indexType": v}
                                             for k, v in index.metadata_indexes.items()]})

    async def metadata_index_delete(self, request: Request) -> Response:
        index = self._index(request)
        if isinstance(index, Response):
            return index
        name = (await request.json()).get("propertyName")
        if name not in index.metadata_indexes:
            return failure(400, 40005, f"vectorize.metadata_index.not_found - {name!r}")
        del index.metadata_indexes[name]
        index.mutation = str(uuid.uuid4())
        return envelope({"mutationId": index.mutation})

    async def get_by_ids(self, request: Request) -> Response:
        index = self._index(request)
        if isinstance(index, Response):
            return index
        ids = (await request.json())["ids"]
        return envelope([dict(index.vectors[i], namespace=None) for i in ids if i in index.vectors])

    async def delete_by_ids(self, request: Request) -> Response:
        index = self._index(request)
        if isinstance(index, Response):
            return index
        ids = (await request.json())["ids"]

        def apply(target: Index) -> None:
            for vector_id in ids:
                target.vectors.pop(vector_id, None)

        return envelope({"mutationId": self._mutate(index, apply)})

    async def ai_run(self, request: Request) -> Response:
        model = request.path_params["model"]
        dimensions = MODEL_DIMENSIONS.get(model)
        if dimensions is None:
            return failure(400, 5007, f"No such model {model} or task")
        body = await request.json()
        texts = body.get("text")
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(texts, list) or not texts or len(texts) > 100 or not all(isinstance(t, str) and t for t in texts):
            return failure(400, 5006, "AiError: Bad input: Error: oneOf at '/' not met")
        data = [embedding(t, dimensions) for t in texts]
        return envelope({"shape": [len(data), dimensions], "data": data})
