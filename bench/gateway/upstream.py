"""A fast canned model upstream for the benchmark: a bare ASGI app on uvicorn (httptools,
uvloop), answering Anthropic Messages, OpenAI Chat Completions and Gemini generateContent, streamed
or not, with
fixed bodies. No parsing beyond reading the `"stream": true` flag.

    python -m bench.gateway.upstream PORT
"""

from __future__ import annotations

import sys

import orjson
import uvicorn

EVENTS = 40  # text deltas per streamed answer

_usage = {
    "input_tokens": 12000,
    "output_tokens": EVENTS,
    "cache_read_input_tokens": 0,
    "cache_creation_input_tokens": 0,
}
AN_JSON = orjson.dumps(
    {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": "claude-bench",
        "content": [{"type": "text", "text": "word " * EVENTS}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": _usage,
    }
)


def _an(event: str, data: dict) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


AN_SSE = [
    _an(
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "msg_bench",
                "type": "message",
                "role": "assistant",
                "model": "claude-bench",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {**_usage, "output_tokens": 1},
            },
        },
    ),
    _an(
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    ),
    *[
        _an(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "word "},
            },
        )
        for _ in range(EVENTS)
    ],
    _an("content_block_stop", {"type": "content_block_stop", "index": 0}),
    _an(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": EVENTS},
        },
    ),
    _an("message_stop", {"type": "message_stop"}),
]

_oa_usage = {"prompt_tokens": 12000, "completion_tokens": EVENTS, "total_tokens": 12040}
OA_JSON = orjson.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-bench",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "word " * EVENTS},
                "finish_reason": "stop",
            }
        ],
        "usage": _oa_usage,
    }
)


def _oa(delta: dict | None, finish: str | None = None, usage: dict | None = None) -> bytes:
    chunk: dict = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-bench",
        "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage:
        chunk["usage"] = usage
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


OA_SSE = [
    _oa({"role": "assistant", "content": ""}),
    *[_oa({"content": "word "}) for _ in range(EVENTS)],
    _oa({}, "stop"),
    _oa(None, usage=_oa_usage),
    b"data: [DONE]\n\n",
]

_gm_usage = {"promptTokenCount": 12000, "candidatesTokenCount": EVENTS, "totalTokenCount": 12040}


def _gm(text: str, finish: str | None = None) -> dict:
    candidate: dict = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    out: dict = {"candidates": [candidate], "modelVersion": "gemini-bench"}
    if finish:
        out["usageMetadata"] = _gm_usage
    return out


GM_JSON = orjson.dumps(_gm("word " * EVENTS, "STOP"))
GM_SSE = [
    *[b"data: " + orjson.dumps(_gm("word ")) + b"\r\n\r\n" for _ in range(EVENTS - 1)],
    b"data: " + orjson.dumps(_gm("word ", "STOP")) + b"\r\n\r\n",
]

JSON_HEADERS = [(b"content-type", b"application/json")]
SSE_HEADERS = [(b"content-type", b"text/event-stream")]


async def app(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    path = scope["path"]
    openai = path.endswith("/chat/completions")
    if path.endswith("/count_tokens"):
        await send({"type": "http.response.start", "status": 200, "headers": JSON_HEADERS})
        await send({"type": "http.response.body", "body": b'{"input_tokens": 12000}'})
        return
    if path.endswith(":generateContent") or path.endswith(":countTokens"):
        await send({"type": "http.response.start", "status": 200, "headers": JSON_HEADERS})
        await send({"type": "http.response.body", "body": GM_JSON})
        return
    if path.endswith(":streamGenerateContent"):
        await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
        for frame in GM_SSE:
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    if b'"stream":true' in body or b'"stream": true' in body:
        await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
        for frame in OA_SSE if openai else AN_SSE:
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    await send({"type": "http.response.start", "status": 200, "headers": JSON_HEADERS})
    await send({"type": "http.response.body", "body": OA_JSON if openai else AN_JSON})


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        access_log=False,
        http="httptools",
        loop="uvloop",
        lifespan="off",
    )
