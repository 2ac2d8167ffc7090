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


@dataclass
class Index:
    name: str
    dimensions: int
    metric: str
    vectors: dict[str, dict[str, Any]] = field(default_factory=dict)
    mutation: str = ""


def envelope(result: Any) -> JSONResponse:
    return JSONResponse({"success": True, "errors": [], "messages": [], "result": result})


def failure(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"success": False, "errors": [{"code": code, "message": message}], "messages": [], "result": None}
    return JSONResponse(body, status_code=status, headers=headers)


def embedding(text: str, dimensions: int) -> list[float]:
    """Deterministic: each word adds its own pseudo-random direction, so shared words mean high cosine."""
    vector = np.zeros(dimensions)
    for word in re.findall(r"\w+", text.lower()) or [""]:
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
        self.requests: list[tuple[str, str]] = []
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
            Route(acct + "/vectorize/v2/indexes", self.index_create, methods=["POST"]),
            Route(index, self.index_get, methods=["GET"]),
            Route(index + "/info", self.index_info, methods=["GET"]),
            Route(index + "/upsert", self.upsert, methods=["POST"]),
            Route(index + "/query", self.query, methods=["POST"]),
            Route(index + "/get_by_ids", self.get_by_ids, methods=["POST"]),
            Route(index + "/delete_by_ids", self.delete_by_ids, methods=["POST"]),
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
        database = self.databases.get(request.path_params["db"])
        if database is None:
            return failure(404, 7404, f"The database {request.path_params['db']} could not be found")
        body = await request.json()
        conn = database[1]
        try:
            cursor = conn.execute(body["sql"], body.get("params") or [])
            columns = [c[0] for c in cursor.description or []]
            rows = [dict(zip(columns, row)) for row in cursor.fetchall()]
        except sqlite3.Error as exc:
            return failure(400, 7500, f"{exc}: SQLITE_ERROR")
        meta = {"changes": conn.total_changes, "last_row_id": cursor.lastrowid or 0, "rows_read": len(rows)}
        return envelope([{"results": rows, "success": True, "meta": meta}])

    def _index(self, request: Request) -> Index | Response:
        name = request.path_params["name"]
        found = self.indexes.get(name)
        return found if found is not None else failure(404, 3000, f'vectorize.index.not_found - Index name "{name}"')

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
            if len(values) != index.dimensions:
                return failure(400, 40012, f'invalid vector for id="{vector["id"]}", expected {index.dimensions} '
                                           f"dimensions, and got {len(values)} dimensions")
            if len(json.dumps(vector.get("metadata") or {})) > 10240:
                return failure(400, 40019, f'metadata too large for id="{vector["id"]}" (max 10 KiB)')
            parsed.append({"id": str(vector["id"]), "values": values, "metadata": vector.get("metadata")})
        for vector in parsed:
            index.vectors[vector["id"]] = vector
        index.mutation = str(uuid.uuid4())
        return envelope({"mutationId": index.mutation})

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
        scored = []
        for vector in index.vectors.values():
            values = np.asarray(vector["values"])
            cosine = float(values @ query / ((np.linalg.norm(values) * np.linalg.norm(query)) or 1.0))
            scored.append((cosine, vector))
        scored.sort(key=lambda pair: -pair[0])
        want_metadata = body.get("returnMetadata", "none") != "none"
        matches = [{"id": v["id"], "score": score, "metadata": v["metadata"] if want_metadata else None}
                   for score, v in scored[:top_k]]
        return envelope({"count": len(matches), "matches": matches})

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
        for vector_id in (await request.json())["ids"]:
            index.vectors.pop(vector_id, None)
        index.mutation = str(uuid.uuid4())
        return envelope({"mutationId": index.mutation})

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
