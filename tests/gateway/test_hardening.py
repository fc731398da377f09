"""The gateway against hostile or careless input, on a real `tether serve`: web pages,
odd model names, unserved paths, clients that leave, upstreams that answer oddly, mixed
routing, and connections that hold a socket without sending a request."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import httpx
import orjson
import pytest

from tests.gateway.conftest import gateway_config, start_gateway
from tests.gateway.upstreams import Json, ScriptedUpstream, Sse, an_message, oa_completion
from tests.support.sdks import anthropic, openai
from tests.support.server import TetherServer

ALLOWED_ORIGIN = "https://allowed.example"
HEAD_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0
MAX_HEAD = 8192


class SilentUpstream:
    """Takes a request and never answers; records when the other side closes the socket."""

    def __init__(self) -> None:
        self.got_request = threading.Event()
        self.closed = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        self._loop.run_until_complete(asyncio.start_server(self._handle, sock=self._sock))
        self._loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        self.got_request.set()
        while await reader.read(65536):
            pass
        self.closed.set()
        writer.close()

    def reset(self) -> None:
        self.got_request.clear()
        self.closed.clear()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)


@pytest.fixture(scope="module")
def silent() -> Iterator[SilentUpstream]:
    upstream = SilentUpstream()
    yield upstream
    upstream.stop()


@pytest.fixture(scope="module")
def hardened(
    tmp_path_factory: pytest.TempPathFactory,
    oa_upstream: ScriptedUpstream,
    an_upstream: ScriptedUpstream,
    silent: SilentUpstream,
) -> Iterator[TetherServer]:
    config = gateway_config(oa_upstream, an_upstream, allowed_origins=[ALLOWED_ORIGIN])
    section = config["gateway"]
    section["providers"]["hang_an"] = {"type": "anthropic", "base_url": silent.url, "retries": 0}
    section["providers"]["hang_oa"] = {
        "type": "openai",
        "base_url": f"{silent.url}/v1",
        "retries": 0,
    }
    section["routes"][:0] = [
        {"match": "hang-an-*", "provider": "hang_an"},
        {"match": "hang-oa-*", "provider": "hang_oa"},
    ]
    config.update(
        request_head_timeout=HEAD_TIMEOUT,
        request_body_timeout=BODY_TIMEOUT,
        max_header_bytes=MAX_HEAD,
    )
    server = start_gateway(tmp_path_factory.mktemp("hardened"), config)
    yield server
    server.stop()


def messages_body(model: str, **extra) -> dict:
    return {
        "model": model,
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "hi"}],
        **extra,
    }


# --- web pages (cross-origin browser requests) ------------------------------------------


def test_a_web_page_cannot_spend_the_providers_key(hardened, an_upstream, oa_upstream):
    # What a `text/plain` form or a no-cors fetch from any page sends.
    for path, model in (("/v1/messages", "pass-x"), ("/v1/chat/completions", "claude-x")):
        r = httpx.post(
            f"{hardened.url}{path}",
            content=orjson.dumps(messages_body(model)),
            headers={"content-type": "text/plain", "origin": "https://evil.example"},
        )
        assert r.status_code == 403
        assert "https://evil.example" in r.text and "allowed_origins" in r.text
    assert r.json()["error"]["type"] == "permission_error"  # OpenAI's shape
    assert an_upstream.received == [] and oa_upstream.received == []
    r = httpx.get(f"{hardened.url}/v1/models", headers={"origin": "null"})
    assert r.status_code == 403


def test_an_allowed_origin_and_no_origin_are_served(hardened, an_upstream):
    an_upstream.push(Json(an_message("one")), Json(an_message("two")))
    client = anthropic.Anthropic(base_url=hardened.url, api_key="k", max_retries=0)
    allowed = client.messages.create(
        **messages_body("pass-x"), extra_headers={"origin": ALLOWED_ORIGIN}
    )
    assert allowed.content[0].text == "one"
    assert client.messages.create(**messages_body("pass-x")).content[0].text == "two"


# --- model names ------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["claude-x\nInjected: 1", "pass-\x00x", "pass-" + "x" * 300])
def test_a_model_name_that_cannot_be_a_name_is_refused_before_the_upstream(
    hardened, an_upstream, oa_upstream, model
):
    client = anthropic.Anthropic(base_url=hardened.url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(**messages_body(model))
    assert "model: must be a name" in info.value.message
    oa = openai.OpenAI(base_url=f"{hardened.url}/v1", api_key="k", max_retries=0)
    with pytest.raises(openai.BadRequestError):
        oa.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    assert an_upstream.received == [] and oa_upstream.received == []


# --- paths tether does not serve --------------------------------------------------------


def test_unserved_paths_get_a_404_each_client_can_read(hardened):
    oa = openai.OpenAI(base_url=f"{hardened.url}/v1", api_key="k", max_retries=0)
    with pytest.raises(openai.NotFoundError) as info:
        oa.embeddings.create(model="text-embedding-3-small", input="hi")
    assert "/v1/embeddings" in info.value.message
    with pytest.raises(openai.NotFoundError):
        oa.audio.speech.create(model="tts-1", voice="alloy", input="hi")

    client = anthropic.Anthropic(base_url=hardened.url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.NotFoundError) as an_info:
        client.messages.batches.list()
    assert an_info.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]

    r = httpx.post(f"{hardened.url}/v1beta/models/gemini-pro:generateContent", json={})
    assert r.status_code == 404
    assert r.json()["error"]["status"] == "NOT_FOUND"
    # The served paths still answer, and the web UI's own paths are untouched.
    assert httpx.get(f"{hardened.url}/v1/models").status_code == 200
    assert httpx.get(f"{hardened.url}/healthz").status_code == 200


# --- a client that goes away ------------------------------------------------------------


def _post_then_leave(server: TetherServer, silent: SilentUpstream, body: dict) -> None:
    raw = orjson.dumps(body)
    head = (
        f"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        f"anthropic-version: 2023-06-01\r\ncontent-length: {len(raw)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(head + raw)
        assert silent.got_request.wait(15), "the gateway never called the upstream"
    # The client is gone; the gateway must hang up on the upstream too.


@pytest.mark.parametrize(
    "body",
    [
        messages_body("hang-an-x"),  # Anthropic provider, JSON asked for
        messages_body("hang-an-x", stream=True),  # no upstream headers yet
        messages_body("hang-oa-x"),  # OpenAI provider, JSON asked for
        messages_body("hang-oa-x", stream=True),
    ],
)
def test_a_client_that_leaves_cancels_the_upstream_call(hardened, silent, body):
    silent.reset()
    _post_then_leave(hardened, silent, body)
    assert silent.closed.wait(15), "the upstream call outlived its client"


# --- odd answers from an Anthropic provider ---------------------------------------------


BUSY = {"type": "error", "error": {"type": "overloaded_error", "message": "busy, try later"}}


@pytest.mark.parametrize(
    ("reply", "said"),
    [
        (Json(BUSY), "busy, try later"),  # a 200 whose body is an error
        (Sse([b'event: ping\ndata: {"type": "ping"}\n\n']), "a stream where a JSON body"),
    ],
)
def test_a_200_that_is_no_answer_is_a_502_not_a_message(hardened, an_upstream, reply, said):
    an_upstream.push(reply, reply)
    client = anthropic.Anthropic(base_url=hardened.url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as info:
        client.messages.create(**messages_body("pass-x"))
    assert info.value.status_code == 502 and said in info.value.message
    oa = openai.OpenAI(base_url=f"{hardened.url}/v1", api_key="k", max_retries=0)
    with pytest.raises(openai.APIStatusError) as oa_info:
        oa.chat.completions.create(model="gpt-x", messages=[{"role": "user", "content": "hi"}])
    assert oa_info.value.status_code == 502 and said in oa_info.value.message


# --- mixed routing: OpenAI-made thinking never reaches Anthropic --------------------------


def test_thinking_made_from_openai_reasoning_is_not_sent_to_anthropic(
    hardened, oa_upstream, an_upstream
):
    client = anthropic.Anthropic(base_url=hardened.url, api_key="k", max_retries=0)
    oa_upstream.push(Json(oa_completion("4", reasoning="2 + 2 is 4")))
    first = client.messages.create(
        **messages_body("claude-x"), thinking={"type": "enabled", "budget_tokens": 1024}
    )
    kinds = [block.type for block in first.content]
    assert kinds == ["thinking", "text"]

    an_upstream.push(Json(an_message("yes")))
    history = [
        {"role": "user", "content": "2 + 2?"},
        {"role": "assistant", "content": [block.model_dump() for block in first.content]},
        {"role": "user", "content": "sure?"},
    ]
    second = client.messages.create(model="pass-x", max_tokens=64, messages=history)
    assert second.content[0].text == "yes"
    sent = an_upstream.received[-1].json["messages"]
    assert [block["type"] for block in sent[1]["content"]] == ["text"]
    assert "tether:openai" not in an_upstream.received[-1].raw.decode()


# --- connections that hold a socket -----------------------------------------------------


def test_an_oversized_request_head_is_refused(hardened):
    r = httpx.get(f"{hardened.url}/healthz", headers={"x-big": "a" * (MAX_HEAD * 2)})
    assert r.status_code == 431


def test_a_connection_that_sends_nothing_is_closed(hardened):
    with socket.create_connection(("127.0.0.1", hardened.port)) as sock:
        sock.settimeout(15)
        assert sock.recv(1) == b""


def test_a_request_head_trickled_byte_by_byte_is_cut_off(hardened):
    with socket.create_connection(("127.0.0.1", hardened.port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n")
        sock.settimeout(0.2)
        for _ in range(75):  # far longer than the head deadline, in total
            try:
                sock.sendall(b"x-slow: 1\r\n")
                if sock.recv(1) == b"":
                    return
            except TimeoutError:
                continue
            except OSError:
                return
        pytest.fail("the server kept waiting for a trickled request head")


def test_a_request_body_trickled_byte_by_byte_is_cut_off(hardened, silent):
    silent.reset()
    head = (
        b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        b"content-length: 1000\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", hardened.port)) as sock:
        sock.sendall(head)
        sock.settimeout(0.2)
        for _ in range(75):  # far longer than the body deadline, in total
            try:
                sock.sendall(b" ")
                if sock.recv(1) == b"":
                    break
            except TimeoutError:
                continue
            except OSError:
                break
        else:
            pytest.fail("the server kept waiting for a trickled request body")
    assert not silent.got_request.is_set(), "a request that never arrived whole went upstream"
