"""Where flows are kept and who may read them: the write-behind queue drops flows (never
requests) when the store cannot keep up, retention by age and by size, API scopes."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.flows.conftest import health, wait_flows
from tests.gateway.upstreams import Json, an_message
from tests.support.threaded import run_coroutine
from tests.support.tokens import mint_token

HI = {"model": "same-x", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}


def _call(server) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/messages", json=HI, headers={"x-api-key": "k"}, timeout=30)


class TableLock:
    """Holds EXCLUSIVE on the flows table from another connection (reads still work)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.locked = threading.Event()
        self.release = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._hold()), daemon=True)

    async def _hold(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.url)
        try:
            async with conn.transaction():
                await conn.execute("LOCK TABLE flows IN EXCLUSIVE MODE")
                self.locked.set()
                await asyncio.to_thread(self.release.wait)
        finally:
            await conn.close()

    def __enter__(self) -> TableLock:
        self.thread.start()
        assert self.locked.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.thread.join(10)


# A store that cannot keep up is made by locking a PostgreSQL table.
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_full_queue_drops_flows_not_requests(backend, start_flows_server, an_upstream):
    server = start_flows_server(queue_size=2)
    an_upstream.push(*[Json(an_message(f"answer {i}")) for i in range(8)])
    with TableLock(server.database_url):
        statuses = [_call(server).status_code for _ in range(8)]
        stats = health(server)["flows"]
    assert statuses == [200] * 8
    assert stats["dropped"] >= 3 and stats["written"] == 0
    kept = 8 - stats["dropped"]
    flows = wait_flows(server, kept)
    assert len(flows) == kept
    assert health(server)["flows"]["written"] == kept


def test_flows_over_the_memory_bound_are_dropped_not_requests(start_flows_server, an_upstream):
    server = start_flows_server(queue_bytes=1)  # no flow's bodies fit
    an_upstream.push(*[Json(an_message(f"answer {i}")) for i in range(3)])
    assert [_call(server).status_code for _ in range(3)] == [200] * 3
    stats = health(server)["flows"]
    assert (stats["dropped"], stats["written"]) == (3, 0)


def test_retention_by_age(start_flows_server, an_upstream):
    server = start_flows_server(retention={"max_age": 0.05, "every": 0.05})
    an_upstream.push(Json(an_message("a")), Json(an_message("b")))
    assert _call(server).status_code == 200
    deadline = time.monotonic() + 10
    while health(server)["flows"]["written"] < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _call(server).status_code == 200  # the next write runs retention on the first
    deadline = time.monotonic() + 10
    remaining = wait_flows(server, 0)
    while remaining and time.monotonic() < deadline:
        time.sleep(0.05)
        remaining = wait_flows(server, 0)
    assert remaining == []


def test_retention_by_size_keeps_the_newest(tmp_path: Path):
    from tether.relay.store import Store, open_database

    async def run() -> list[str]:
        store = Store(open_database(None, tmp_path))
        await store.open()
        try:
            rows = [
                {
                    "id": f"flw_{i:04d}",
                    "received_at": time.time(),
                    "surface": "anthropic",
                    "method": "POST",
                    "path": "/v1/messages",
                    "capture": "full",
                    "stream": False,
                    "size": 100,
                }
                for i in range(10)
            ]
            await store.flows.write(rows)
            gone = await store.flows.prune(max_age=3600, max_bytes=350)
            assert gone == 7
            return [f["id"] for f in await store.flows.list()]
        finally:
            await store.close()

    assert run_coroutine(run) == ["flw_0009", "flw_0008", "flw_0007"]


def test_scopes(flows_server, an_upstream):
    an_upstream.push(Json(an_message("hello")))
    assert _call(flows_server).status_code == 200
    [flow] = wait_flows(flows_server, 1)
    for scope, status in (("viewer", 403), ("agent", 403), ("client", 200)):
        token = mint_token(flows_server, scope)
        with flows_server.client(token) as http:
            assert http.get("/api/v1/flows").status_code == status, scope
            assert http.get(f"/api/v1/flows/{flow['id']}").status_code == status, scope
            raw = http.get(f"/api/v1/flows/{flow['id']}/body/response")
            assert raw.status_code == status, scope
    with flows_server.client() as http:
        assert http.get("/api/v1/flows/flw_nope").status_code == 404
        assert http.get(f"/api/v1/flows/{flow['id']}/body/nope").status_code == 404
        assert http.get("/api/v1/flows", params={"status": "abc"}).status_code == 422
        for since in ("abc", "nan", "inf", "1e999", "-1"):
            assert http.get("/api/v1/flows", params={"since": since}).status_code == 422, since
        assert http.get("/api/v1/flows", params={"limit": 10**6}).status_code == 422
        paths = http.get("/api/v1/openapi.json").json()["paths"]
    assert {"/flows", "/flows/{flow_id}", "/flows/{flow_id}/body/{part}"} <= set(paths)


def test_list_filters_and_pages(flows_server, an_upstream):
    an_upstream.push(*[Json(an_message(str(i))) for i in range(3)])
    for _ in range(3):
        assert _call(flows_server).status_code == 200
    flows = wait_flows(flows_server, 3)
    with flows_server.client() as http:
        page = http.get("/api/v1/flows", params={"limit": 2}).json()
        assert [f["id"] for f in page["flows"]] == [f["id"] for f in flows[:2]]
        rest = http.get("/api/v1/flows", params={"limit": 2, "before": page["next"]}).json()
        assert [f["id"] for f in rest["flows"]] == [flows[2]["id"]]
        assert http.get("/api/v1/flows", params={"provider": "oa"}).json()["flows"] == []
        assert len(http.get("/api/v1/flows", params={"model": "same-x"}).json()["flows"]) == 3
        assert http.get("/api/v1/flows", params={"status": 500}).json()["flows"] == []
        future = time.time() + 60
        assert http.get("/api/v1/flows", params={"since": future}).json()["flows"] == []
        assert http.get("/api/v1/flows", params={"session": "nope"}).json()["flows"] == []
