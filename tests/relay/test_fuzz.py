"""Fuzzing a real relay from its own description: schemathesis generates requests (valid and
invalid) for every operation of `/api/v1/openapi.json`, and hypothesis generates WebSocket
action frames. No input may get a 5xx, a dropped connection, or an answer that breaks the
documented schema (status, content type, body). Bounded in examples, so it runs in tens of
seconds per backend."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from typing import Any

import httpx
import orjson
import pytest
import requests
import schemathesis
import websockets
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.relay.support import message, permission
from tests.relay.test_websocket import TIMEOUT, ws_url
from tether.protocol import WS_ACTIONS
from tether.relay.api import OPERATIONS

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Per operation and mode; raise it (TETHER_FUZZ_EXAMPLES=500) for a longer hunt.
EXAMPLES = int(os.environ.get("TETHER_FUZZ_EXAMPLES", "15"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
# The event stream never ends on its own; its parameters are checked in test_input_bounds.
STREAMING = {"/events"}


def real_ids(server) -> dict[str, str]:
    """A live session, a pending request and a throwaway token, so generated requests also
    reach the code behind the 404 for unknown ids."""
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=TIMEOUT) as http:
        sid = http.post("/api/v1/sessions", json={"title": "fuzz"}).json()["id"]
        http.post(f"/api/v1/sessions/{sid}/messages", json=message("hello"))
        pid = http.post(f"/api/v1/sessions/{sid}/permissions", json=permission()).json()["id"]
        tid = http.post("/api/v1/tokens", json={"scope": "viewer", "name": "fuzz"}).json()["id"]
        link = {"id": "fuzzpairing", "verifier": "A" * 43, "name": "fuzz-device"}
        pairing = http.post("/api/v1/pairings", json=link).json()["id"]
        # A model call the gateway refuses is still a flow (written behind the call).
        http.post("/v1/messages", json={"max_tokens": 1})
        flows: list = []
        for _ in range(200):
            if flows := http.get("/api/v1/flows").json()["flows"]:
                break
            time.sleep(0.05)
    return {
        "session_id": sid,
        "permission_id": pid,
        "token_id": tid,
        "pairing_id": pairing,
        "device": "fuzz-device",
        "flow_id": flows[0]["id"],
        "part": "response",
    }


def test_the_published_document_is_openapi_3_1_and_needs_a_token(server) -> None:
    anonymous = httpx.get(f"{server.url}/api/v1/openapi.json", timeout=TIMEOUT)
    assert anonymous.status_code == 401
    document = httpx.get(
        f"{server.url}/api/v1/openapi.json", headers=server.headers, timeout=TIMEOUT
    ).json()
    assert document["openapi"] == "3.1.0"
    # Request bodies come from the models that validate them.
    create = document["paths"]["/sessions"]["post"]["requestBody"]["content"]
    assert create["application/json"]["schema"] == {"$ref": "#/components/schemas/SessionCreate"}
    title = document["components"]["schemas"]["SessionCreate"]["properties"]["title"]
    assert {"maxLength": 500, "type": "string"} in title["anyOf"]
    limit = next(
        p for p in document["paths"]["/sessions"]["get"]["parameters"] if p["name"] == "limit"
    )
    assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 5000, "default": 500}


def _resource(path: str) -> str:
    return path.strip("/").split("/")[0]


# One test per resource (the first path segment), and per at most PER_TEST of its
# operations, so the suite's workers share the fuzzing and each part stays well inside
# the time a test may take even on a loaded machine (/sessions alone has 11 operations).
RESOURCES = sorted({_resource(op.path) for op in OPERATIONS if op.path not in STREAMING})
PER_TEST = 4


def _count(resource: str) -> int:
    return sum(
        1 for op in OPERATIONS if _resource(op.path) == resource and op.path not in STREAMING
    )


def _parts() -> list[str]:
    """`resource` or `resource-K` (its K-th run of PER_TEST operations, in path order)."""
    parts = []
    for resource in RESOURCES:
        runs = -(-_count(resource) // PER_TEST)
        parts += [resource] if runs == 1 else [f"{resource}-{k}" for k in range(runs)]
    return parts


def test_every_operation_is_fuzzed() -> None:
    assert len(OPERATIONS) >= 14
    assert {"sessions", "permissions", "tokens", "pairings"} <= set(RESOURCES)


@pytest.mark.parametrize("part", _parts())
def test_no_generated_request_breaks_the_relay(server, part: str) -> None:
    resource, _, k = part.partition("-")
    schema = schemathesis.openapi.from_url(
        f"{server.url}/api/v1/openapi.json", headers=server.headers
    )
    ids = real_ids(server)
    operations = sorted(
        (
            op
            for op in (result.ok() for result in schema.get_all_operations())
            if _resource(op.path) == resource and op.path not in STREAMING
        ),
        key=lambda op: (op.path, op.method.upper()),
    )
    # The document and the table the parts were cut from agree, so no operation is left out.
    assert len(operations) == _count(resource), [op.path for op in operations]
    if k:
        operations = operations[int(k) * PER_TEST : (int(k) + 1) * PER_TEST]
    session = requests.Session()
    session.headers.update(server.headers)
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @FUZZ
            @given(case=operation.as_strategy(generation_mode=mode), real=st.booleans())
            def call(case: Any, real: bool) -> None:
                if real:
                    # (no real push subscription: its endpoint would be a real push
                    # service, which a fuzzed permission request would make it call)
                    for name in case.path_parameters or {}:
                        case.path_parameters[name] = ids.get(name, case.path_parameters[name])
                if isinstance(case.query, dict) and "wait" in case.query:
                    case.query["wait"] = "0.1"  # a real hold, kept short
                response = case.call(base_url=f"{server.url}/api/v1", session=session, timeout=30)
                case.validate_response(response, checks=CHECKS)

            call()


# ── the WebSocket ─────────────────────────────────────────────────────────────────────

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def frames(ids: dict[str, str]) -> st.SearchStrategy[dict[str, Any]]:
    """Action frames: a known or unknown action, ids real, random or of the wrong type, and
    bodies from valid-looking to anything JSON."""
    ident = st.sampled_from(list(ids.values())) | st.text(max_size=30) | JSON
    field_values = {
        "title": st.text(max_size=30),
        "role": st.sampled_from(["user", "agent", "system", "robot"]),
        "kind": st.text(min_size=0, max_size=10),
        "tool_name": st.text(max_size=10),
        "behavior": st.sampled_from(["allow", "deny", "maybe"]),
        "mode": st.sampled_from(["default", "plan", "yolo"]),
        "input": JSON,
        "content": JSON,
        "metadata": JSON,
        "allowed": JSON,
        "timeout": JSON,
        "expected_version": JSON,
    }
    body = st.fixed_dictionaries({}, optional=field_values) | JSON | st.lists(JSON, max_size=3)
    return st.fixed_dictionaries(
        {"type": st.just("action"), "action": st.sampled_from(WS_ACTIONS) | JSON},
        optional={
            "req": st.text(max_size=8) | st.integers() | JSON,
            "session_id": ident,
            "permission_id": ident,
            "body": body,
        },
    )


async def _answer(conn: Any) -> dict[str, Any]:
    """The next frame that answers ours (events and pings in between are skipped)."""
    while True:
        frame = orjson.loads(await asyncio.wait_for(conn.recv(), TIMEOUT))
        if "event" not in frame:
            return frame


def test_no_generated_websocket_frame_breaks_the_relay(server) -> None:
    ids = real_ids(server)
    loop = asyncio.new_event_loop()
    conn = loop.run_until_complete(
        websockets.connect(ws_url(server), additional_headers=server.headers)
    )
    try:
        ready = orjson.loads(loop.run_until_complete(conn.recv()))
        assert ready["type"] == "ready"

        @settings(
            max_examples=EXAMPLES * 20,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(frame=frames(ids))
        def send(frame: dict[str, Any]) -> None:
            loop.run_until_complete(conn.send(json.dumps(frame)))  # any int, unlike orjson
            answer = loop.run_until_complete(_answer(conn))
            assert answer["type"] in ("reply", "error"), answer
            status = answer.get("status", 200)
            assert status < 500, (frame, answer)
            if answer.get("ok") is False or answer["type"] == "error":
                assert 400 <= status < 500 and answer["error"]["message"], (frame, answer)

        send()
        # Still the same connection, still answering.
        loop.run_until_complete(conn.send('{"type": "ping"}'))
        assert loop.run_until_complete(_answer(conn)) == {"type": "pong"}
    finally:
        with contextlib.suppress(Exception):
            loop.run_until_complete(conn.close())
        loop.close()
