"""The Cloudflare REST client (httpx): envelopes checked, failures typed, 429/5xx retried with backoff.

Retries: up to `max_tries` attempts for 429, 5xx and transport errors; the wait honours `Retry-After`
(capped), otherwise grows exponentially with full jitter. Anything else fails at once: retrying a bad
token or bad SQL only burns quota.
"""

from __future__ import annotations

import email.utils
import json
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import logging

import httpx

from server.cloudflare.errors import D1_SQL_ERROR, ApiMessage, CloudflareError, CloudflareNetworkError
from server.cloudflare.facts import DEFAULT_BASE_URL

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
EMBED_BATCH = 100  # texts per Workers AI request (maxItems of its text array)


@dataclass(frozen=True)
class RetryPolicy:
    max_tries: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None and 0 <= retry_after <= self.max_retry_after:
            return retry_after
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


@dataclass
class Usage:
    """What this client has cost since it was made: API calls, and D1 rows as D1 itself reports them
    (the free plan's daily limits count these)."""

    api_calls: int = 0
    d1_rows_read: int = 0
    d1_rows_written: int = 0

    def snapshot(self) -> dict[str, int]:
        return {"api_calls": self.api_calls, "d1_rows_read": self.d1_rows_read, "d1_rows_written": self.d1_rows_written}


class CloudflareClient:
    def __init__(self, token: str, account_id: str, base_url: str = DEFAULT_BASE_URL,
                 http: httpx.Client | None = None, retry: RetryPolicy = RetryPolicy(),
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.account_id = account_id
        self._base = base_url.rstrip("/")
        self._http = http or httpx.Client(timeout=DEFAULT_TIMEOUT)
        self._headers = {"Authorization": f"Bearer {token}"}
        self._retry = retry
        self._sleep = sleep
        self.usage = Usage()
        self.batch_form = True  # D1's {"batch": [...]} body; off once this API refuses it

    def close(self) -> None:
        self._http.close()

    # -- tokens and account ----------------------------------------------------------------------

    def verify_token(self) -> dict[str, Any]:
        """The token's status; the account endpoint first (account-owned tokens fail on the user one)."""
        try:
            return self._call("GET", f"/accounts/{self.account_id}/tokens/verify")
        except CloudflareError as first:
            if first.retryable:
                raise
            return self._call("GET", "/user/tokens/verify")

    def get_account(self) -> dict[str, Any]:
        return self._call("GET", f"/accounts/{self.account_id}")

    # -- D1 ----------------------------------------------------------------------------------------

    def d1_list(self, name: str | None = None) -> list[dict[str, Any]]:
        params = {"name": name} if name else None
        return self._call("GET", f"/accounts/{self.account_id}/d1/database", params=params)

    def d1_get(self, database_id: str) -> dict[str, Any]:
        return self._call("GET", f"/accounts/{self.account_id}/d1/database/{database_id}")

    def d1_create(self, name: str) -> dict[str, Any]:
        return self._call("POST", f"/accounts/{self.account_id}/d1/database", json={"name": name})

    def d1_query(self, database_id: str, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of the last statement's result."""
        results = self._call("POST", f"/accounts/{self.account_id}/d1/database/{database_id}/query",
                             json={"sql": sql, "params": list(params)})
        return list(results[-1].get("results") or []) if results else []

    def d1_batch(self, database_id: str, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[dict[str, Any]]]:
        """Several statements in one request and one transaction (D1's batch form); rows of each.

        The batch form is in the newer API description only. An API that refuses the form itself (a 400 that is
        not an SQL error) gets the statements one at a time from then on, each in the single form, in the order
        given: every write of ours is written so that a retry after a stop part-way finishes it."""
        if self.batch_form:
            body = {"batch": [{"sql": sql, "params": list(params)} for sql, params in statements]}
            try:
                results = self._call("POST", f"/accounts/{self.account_id}/d1/database/{database_id}/query", json=body)
                return [list(r.get("results") or []) for r in results or []]
            except CloudflareError as exc:
                if not refuses_batch_form(exc):
                    raise
                self.batch_form = False
                logger.warning("This Cloudflare API refuses D1's batch form (%s): statements go one at a time", exc)
        return [self.d1_query(database_id, sql, params) for sql, params in statements]

    # -- Vectorize v2 ------------------------------------------------------------------------------

    def _index(self, name: str) -> str:
        return f"/accounts/{self.account_id}/vectorize/v2/indexes/{name}"

    def index_get(self, name: str) -> dict[str, Any]:
        return self._call("GET", self._index(name))

    def index_info(self, name: str) -> dict[str, Any]:
        return self._call("GET", f"{self._index(name)}/info")

    def index_create(self, name: str, dimensions: int, metric: str = "cosine") -> dict[str, Any]:
        body = {"name": name, "config": {"dimensions": dimensions, "metric": metric}}
        return self._call("POST", f"/accounts/{self.account_id}/vectorize/v2/indexes", json=body)

    def upsert(self, name: str, vectors: Sequence[Mapping[str, Any]], batch_size: int = 1000) -> list[str]:
        """Upsert in NDJSON batches; returns the mutation ids."""
        mutations = []
        for start in range(0, len(vectors), batch_size):
            body = "\n".join(json.dumps(dict(v), separators=(",", ":")) for v in vectors[start:start + batch_size])
            result = self._call("POST", f"{self._index(name)}/upsert", content=body.encode(),
                                headers={"Content-Type": "application/x-ndjson"})
            mutations.append(result["mutationId"])
        return mutations

    def query(self, name: str, vector: Sequence[float], top_k: int = 10, return_metadata: str = "all",
              filter: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"vector": list(vector), "topK": top_k, "returnValues": False,
                                "returnMetadata": return_metadata}
        if filter:
            body["filter"] = dict(filter)
        return list(self._call("POST", f"{self._index(name)}/query", json=body)["matches"])

    def get_by_ids(self, name: str, ids: Sequence[str]) -> list[dict[str, Any]]:
        return list(self._call("POST", f"{self._index(name)}/get_by_ids", json={"ids": list(ids)}))

    def delete_by_ids(self, name: str, ids: Sequence[str]) -> str:
        return self._call("POST", f"{self._index(name)}/delete_by_ids", json={"ids": list(ids)})["mutationId"]

    def metadata_index_create(self, name: str, property_name: str, index_type: str) -> str:
        """Index a metadata property so queries can filter on it (string, number or boolean)."""
        body = {"propertyName": property_name, "indexType": index_type}
        return self._call("POST", f"{self._index(name)}/metadata_index/create", json=body)["mutationId"]

    def metadata_index_list(self, name: str) -> list[dict[str, str]]:
        return list(self._call("GET", f"{self._index(name)}/metadata_index/list")["metadataIndexes"])

    def metadata_index_delete(self, name: str, property_name: str) -> str:
        body = {"propertyName": property_name}
        return self._call("POST", f"{self._index(name)}/metadata_index/delete", json=body)["mutationId"]

    # -- Workers AI --------------------------------------------------------------------------------

    def embed(self, model: str, texts: Sequence[str]) -> list[list[float]]:
        """One embedding per text, asked for in requests of at most EMBED_BATCH texts (the API's limit)."""
        vectors: list[list[float]] = []
        for start in range(0, len(texts), EMBED_BATCH):
            batch = list(texts[start:start + EMBED_BATCH])
            result = self._call("POST", f"/accounts/{self.account_id}/ai/run/{model}", json={"text": batch})
            data = result.get("data") if isinstance(result, dict) else None
            if not isinstance(data, list) or len(data) != len(batch):
                raise CloudflareNetworkError(f"Workers AI {model} answered without one embedding per text")
            vectors += data
        return vectors

    # -- transport ---------------------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {**self._headers, **kwargs.pop("headers", {})}
        for attempt in range(self._retry.max_tries):
            try:
                return self._once(method, path, headers, **kwargs)
            except CloudflareError as exc:
                if not exc.retryable or attempt == self._retry.max_tries - 1:
                    raise
                if exc.retry_after is not None and exc.retry_after > self._retry.max_retry_after:
                    raise  # a wait longer than a call should hold (a daily limit): the caller schedules it
                self._sleep(self._retry.delay(attempt, exc.retry_after))
        raise AssertionError("unreachable")  # pragma: no cover

    def _once(self, method: str, path: str, headers: Mapping[str, str], **kwargs: Any) -> Any:
        what = f"{method} {path}"
        self.usage.api_calls += 1
        try:
            response = self._http.request(method, f"{self._base}{path}", headers=headers, **kwargs)
        except httpx.TimeoutException as exc:
            raise CloudflareNetworkError(f"{what} timed out") from exc
        except httpx.TransportError as exc:
            raise CloudflareNetworkError(f"{what} failed: {exc}") from exc
        try:
            body = response.json()
        except ValueError as exc:
            if response.status_code >= 500 or response.status_code == 429:
                raise CloudflareError(f"{what} failed", response.status_code,
                                      retry_after=_retry_after(response)) from exc
            raise CloudflareNetworkError(f"{what}: the answer is not JSON", response.status_code) from exc
        if not isinstance(body, dict) or "success" not in body:
            raise CloudflareNetworkError(f"{what}: the answer is not Cloudflare's envelope", response.status_code)
        if response.is_success and body["success"] is True:
            result = body.get("result")
            if "/d1/database/" in path and isinstance(result, list):
                for item in result:
                    meta = item.get("meta") if isinstance(item, dict) else None
                    if isinstance(meta, dict):
                        self.usage.d1_rows_read += int(meta.get("rows_read") or 0)
                        self.usage.d1_rows_written += int(meta.get("rows_written") or 0)
            return result
        errors = tuple(ApiMessage(int(e.get("code", 0)), str(e.get("message", ""))) for e in body.get("errors") or []
                       if isinstance(e, dict))
        error = CloudflareError(f"{what} failed", response.status_code, errors, _retry_after(response))
        if error.daily_limit and error.retry_after is None:
            error.retry_after = _until_utc_midnight()
        raise error


def refuses_batch_form(exc: CloudflareError) -> bool:
    """A 400 about the request's form, not an SQL error (7500) in one of its statements."""
    return exc.status == 400 and not exc.has_code(D1_SQL_ERROR)


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds, from either of its forms (a number of seconds, or an HTTP date)."""
    raw = response.headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _until_utc_midnight() -> float:
    now = time.time()
    return 86_400 - now % 86_400 + 60  # a minute past the reset, in case clocks differ
