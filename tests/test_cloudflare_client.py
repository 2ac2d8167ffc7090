"""The shared Cloudflare client against the emulator over real HTTP on 127.0.0.1."""

from __future__ import annotations

import httpx
import pytest

from server.cloudflare.client import CloudflareClient, RetryPolicy
from server.cloudflare.errors import CloudflareError, CloudflareNetworkError
from tests.support.cloudflare_emulator import ACCOUNT, CloudflareEmulator, Fault


_open: list[CloudflareClient] = []


@pytest.fixture
def emulator(emulator):
    yield emulator
    while _open:
        _open.pop().close()


def client_for(emulator: CloudflareEmulator, token: str = "good-token", timeout: float = 5.0,
               sleeps: list[float] | None = None) -> CloudflareClient:
    waits = sleeps if sleeps is not None else []
    client = CloudflareClient(token, ACCOUNT, base_url=emulator.base_url, http=httpx.Client(timeout=timeout),
                              retry=RetryPolicy(max_tries=3, base_delay=0.01, max_delay=0.05), sleep=waits.append)
    _open.append(client)
    return client


@pytest.mark.parametrize(("token", "status"), [("good-token", "active"), ("expired-token", "expired"),
                                               ("disabled-token", "disabled")])
def test_token_verification_reports_the_tokens_status(emulator, token, status):
    assert client_for(emulator, token).verify_token()["status"] == status


def test_an_unknown_token_fails_with_code_1000(emulator):
    with pytest.raises(CloudflareError) as caught:
        client_for(emulator, "nope").verify_token()
    assert caught.value.status == 401 and caught.value.has_code(1000)
    assert ("GET", f"/client/v4/accounts/{ACCOUNT}/tokens/verify") in emulator.requests  # account endpoint first


def test_d1_queries_run_on_a_real_database(emulator):
    database = emulator.add_database()
    client = client_for(emulator)
    client.d1_query(database, "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")
    client.d1_query(database, "INSERT INTO t (name) VALUES (?), (?)", ["a", "b"])
    assert client.d1_query(database, "SELECT name FROM t ORDER BY id") == [{"name": "a"}, {"name": "b"}]
    with pytest.raises(CloudflareError) as caught:
        client.d1_query(database, "SELECT * FROM missing")
    assert caught.value.status == 400 and caught.value.has_code(7500) and not caught.value.retryable
    with pytest.raises(CloudflareError) as unknown:
        client.d1_get("00000000-0000-0000-0000-000000000000")
    assert unknown.value.has_code(7404)


def test_vectorize_upsert_in_batches_then_query_by_similarity(emulator):
    emulator.add_index(dimensions=768)
    client = client_for(emulator)
    texts = ["python asyncio event loop", "sourdough bread baking", "kubernetes pod scheduling"]
    vectors = client.embed("@cf/baai/bge-base-en-v1.5", texts)
    assert len(vectors) == 3 and len(vectors[0]) == 768
    items = [{"id": f"h{n}", "values": v, "metadata": {"n": n}} for n, v in enumerate(vectors)]
    assert len(client.upsert("mcp-memory-index", items, batch_size=2)) == 2
    query = client.embed("@cf/baai/bge-base-en-v1.5", ["baking bread at home"])[0]
    matches = client.query("mcp-memory-index", query, top_k=2)
    assert matches[0]["id"] == "h1" and matches[0]["metadata"] == {"n": 1}
    assert [v["id"] for v in client.get_by_ids("mcp-memory-index", ["h0", "missing"])] == ["h0"]
    client.delete_by_ids("mcp-memory-index", ["h0"])
    assert client.index_info("mcp-memory-index")["vectorCount"] == 2


def test_a_wrong_dimension_and_an_unknown_index_fail_with_their_codes(emulator):
    emulator.add_index(dimensions=768)
    client = client_for(emulator)
    with pytest.raises(CloudflareError) as wrong:
        client.upsert("mcp-memory-index", [{"id": "x", "values": [0.1] * 384}])
    assert wrong.value.has_code(40012)
    with pytest.raises(CloudflareError) as missing:
        client.index_get("no-such-index")
    assert missing.value.has_code(3000)


def test_429_is_retried_honouring_retry_after(emulator):
    emulator.inject(Fault(path=r"/tokens/verify$", status=429, code=971, message="slow down", retry_after=2, times=2))
    sleeps: list[float] = []
    assert client_for(emulator, sleeps=sleeps).verify_token()["status"] == "active"
    assert sleeps == [2.0, 2.0]


def test_5xx_is_retried_a_bounded_number_of_times_then_reported(emulator):
    emulator.inject(Fault(path=r"/d1/database$", status=503, code=7500, times=10))
    sleeps: list[float] = []
    with pytest.raises(CloudflareError) as caught:
        client_for(emulator, sleeps=sleeps).d1_list()
    assert caught.value.status == 503 and len(sleeps) == 2  # three tries in all


def test_a_slow_answer_past_the_timeout_is_a_failure_not_a_pass(emulator):
    emulator.inject(Fault(path=r"/ai/run/", status=200, delay=1.0, times=5))
    with pytest.raises(CloudflareNetworkError, match="timed out"):
        client_for(emulator, timeout=0.3).embed("@cf/baai/bge-base-en-v1.5", ["hello"])


def test_a_refused_connection_is_a_network_error(emulator):
    client = CloudflareClient("good-token", ACCOUNT, base_url="http://127.0.0.1:9/client/v4",
                              retry=RetryPolicy(max_tries=2, base_delay=0.01), sleep=lambda _: None)
    _open.append(client)
    with pytest.raises(CloudflareNetworkError):
        client.get_account()


def test_a_token_without_permission_is_refused_on_d1(emulator):
    emulator.limited_tokens.add("good-token")
    emulator.add_database()
    with pytest.raises(CloudflareError) as caught:
        client_for(emulator).d1_list()
    assert caught.value.status == 403 and caught.value.has_code(10000)


def test_a_dropped_connection_is_retried_then_reported_as_a_network_error(emulator):
    emulator.inject(Fault(path=r"/accounts/[^/]+$", drop=True, times=3))
    sleeps: list[float] = []
    with pytest.raises(CloudflareNetworkError):
        client_for(emulator, sleeps=sleeps).get_account()
    assert len(sleeps) == 2  # three tries, each dropped
    assert [p for _, p in emulator.requests].count(f"/client/v4/accounts/{ACCOUNT}") == 3


def test_a_dropped_connection_then_an_answer_succeeds(emulator):
    emulator.inject(Fault(path=r"/accounts/[^/]+$", drop=True, times=1))
    assert client_for(emulator).get_account()["id"] == ACCOUNT


def test_an_outage_fails_fast_and_bounded_then_the_api_comes_back(emulator):
    import time

    emulator.outage("drop")
    client = client_for(emulator)
    start = time.monotonic()
    with pytest.raises(CloudflareNetworkError):
        client.get_account()
    assert time.monotonic() - start < 5  # bounded by the retry policy, not a hang
    emulator.outage("503")
    with pytest.raises(CloudflareError) as caught:
        client.get_account()
    assert caught.value.status == 503
    emulator.outage(None)
    assert client.get_account()["id"] == ACCOUNT


def test_the_d1_batch_form_runs_as_one_transaction(emulator):
    database = emulator.add_database()
    client = client_for(emulator)
    client.d1_query(database, "CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)")
    rows = client.d1_batch(database, [("INSERT INTO t VALUES (?, ?)", ["a", 1]), ("SELECT k, v FROM t", [])])
    assert rows == [[], [{"k": "a", "v": 1}]]
    with pytest.raises(CloudflareError) as caught:
        client.d1_batch(database, [("INSERT INTO t VALUES (?, ?)", ["b", 2]), ("INSERT INTO t VALUES (?, ?)", ["a", 3])])
    assert caught.value.has_code(7500) and "UNIQUE" in str(caught.value)
    assert client.d1_query(database, "SELECT k FROM t ORDER BY k") == [{"k": "a"}]  # "b" was rolled back too


def test_d1_limits_and_the_multi_statement_form(emulator):
    database = emulator.add_database()
    client = client_for(emulator)
    client.d1_query(database, "CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1); INSERT INTO t VALUES (2)")
    assert client.d1_query(database, "SELECT count(*) AS n FROM t") == [{"n": 2}]
    with pytest.raises(CloudflareError) as many:
        client.d1_query(database, f"SELECT {', '.join('?' * 101)}", list(range(101)))
    assert many.value.status == 400 and many.value.has_code(7500) and "100 bound parameters" in str(many.value)
    with pytest.raises(CloudflareError) as mixed:
        client.d1_query(database, "SELECT ?; SELECT 2", [1])
    assert mixed.value.has_code(7500)
    raw = client._call("POST", f"/accounts/{ACCOUNT}/d1/database/{database}/raw", json={"sql": "SELECT v FROM t"})
    assert raw[0]["results"] == {"columns": ["v"], "rows": [[1], [2]]}


def test_metadata_indexes_decide_what_a_filtered_query_can_match(emulator):
    emulator.add_index("idx", dimensions=3)
    client = client_for(emulator)
    client.upsert("idx", [{"id": "a", "values": [1, 0, 0], "metadata": {"kind": "note", "n": 1}},
                          {"id": "b", "values": [0.9, 0.1, 0], "metadata": {"kind": "task", "n": 5}}])
    assert client.query("idx", [1, 0, 0], 5, "none", filter={"kind": "task"}) == []  # not indexed: no match
    client.metadata_index_create("idx", "kind", "string")
    client.metadata_index_create("idx", "n", "number")
    assert client.metadata_index_list("idx") == [{"propertyName": "kind", "indexType": "string"},
                                                 {"propertyName": "n", "indexType": "number"}]
    assert [m["id"] for m in client.query("idx", [1, 0, 0], 5, "none", filter={"kind": "task"})] == ["b"]
    assert [m["id"] for m in client.query("idx", [1, 0, 0], 5, "none", filter={"n": {"$lt": 3}})] == ["a"]
    client.metadata_index_delete("idx", "kind")
    with pytest.raises(CloudflareError) as missing:
        client.metadata_index_delete("idx", "kind")
    assert missing.value.has_code(40005)
