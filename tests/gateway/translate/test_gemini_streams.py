"""The Gemini stream translators: well-formed output, and the same result however the
upstream's bytes are split (hypothesis)."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.gateway.translate.anthropic_events import assemble
from tether.gateway.translate.anthropic_stream_to_gemini import GeminiStreamWriter
from tether.gateway.translate.gemini_stream_to_anthropic import GeminiStreamTranslator
from tether.gateway.translate.sse import encode_sse
from tether.sse import SSEParser

TEXT = st.text(alphabet=st.sampled_from(list('ab \n{}"é😀')), min_size=1, max_size=20)
PART = st.one_of(
    TEXT.map(lambda t: {"text": t}),
    TEXT.map(lambda t: {"text": t, "thought": True}),
    st.dictionaries(st.sampled_from(["path", "content"]), TEXT, max_size=2).map(
        lambda args: {"functionCall": {"name": "write_file", "args": args}}
    ),
)


def gemini_sse(chunks: list[list[dict]], finish: str) -> bytes:
    frames = []
    for i, parts in enumerate(chunks):
        candidate: dict = {"content": {"role": "model", "parts": parts}, "index": 0}
        response: dict = {"candidates": [candidate]}
        if i == len(chunks) - 1:
            candidate["finishReason"] = finish
            response["usageMetadata"] = {"promptTokenCount": 9, "candidatesTokenCount": 3}
        frames.append(b"data: " + orjson.dumps(response) + b"\r\n\r\n")
    return b"".join(frames)


def translate_gemini(data: bytes, cuts: list[int]) -> list[tuple[str, dict]]:
    parser = SSEParser()
    translator = GeminiStreamTranslator("claude-x", message_id="msg_fixed")
    events: list[tuple[str, dict]] = []
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    for piece in pieces:
        for message in parser.feed(piece):
            events.extend(translator.feed_data(message.data))
    for message in parser.close():
        events.extend(translator.feed_data(message.data))
    return events + translator.finish()


def cut_points(data: bytes, draw: st.DataObject) -> list[int]:
    return sorted(set(draw.draw(st.lists(st.integers(1, max(1, len(data) - 1)), max_size=12))))


@settings(max_examples=150, deadline=None)
@given(
    chunks=st.lists(st.lists(PART, min_size=1, max_size=3), min_size=1, max_size=5),
    finish=st.sampled_from(["STOP", "MAX_TOKENS"]),
    data=st.data(),
)
def test_gemini_stream_same_turn_however_split(chunks, finish, data):
    raw = gemini_sse(chunks, finish)
    whole = translate_gemini(raw, [])
    split = translate_gemini(raw, cut_points(raw, data))
    assert split == whole
    message = assemble(whole)
    parts = [p for c in chunks for p in c]
    calls = [p["functionCall"] for p in parts if "functionCall" in p]
    uses = [b for b in message["content"] if b["type"] == "tool_use"]
    assert [u["input"] for u in uses] == [c["args"] for c in calls]
    text = "".join(p["text"] for p in parts if "text" in p and not p.get("thought"))
    assert "".join(b.get("text", "") for b in message["content"]) == text
    expected = "max_tokens" if finish == "MAX_TOKENS" else ("tool_use" if calls else "end_turn")
    assert message["stop_reason"] == expected


def anthropic_sse(blocks: list[tuple[str, str]], stop: str) -> bytes:
    events = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {"id": "msg_1", "usage": {"input_tokens": 5, "output_tokens": 1}},
            },
        ),
    ]
    for index, (kind, value) in enumerate(blocks):
        if kind == "tool_use":
            start = {
                "type": "tool_use",
                "id": f"toolu_{index}",
                "name": "run_shell_command",
                "input": {},
            }
            text = orjson.dumps({"command": value}).decode()
            deltas = [
                {"type": "input_json_delta", "partial_json": text[i : i + 4]}
                for i in range(0, len(text), 4)
            ]
        elif kind == "thinking":
            start = {"type": "thinking", "thinking": ""}
            deltas = [
                {"type": "thinking_delta", "thinking": value},
                {"type": "signature_delta", "signature": "sig"},
            ]
        else:
            start = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": value}]
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": start},
            )
        )
        events += [
            ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d})
            for d in deltas
        ]
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    events += [
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop},
                "usage": {"output_tokens": 9},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return b"".join(encode_sse(e, d) for e, d in events)


def translate_anthropic(data: bytes, cuts: list[int]) -> list[dict]:
    parser = SSEParser()
    writer = GeminiStreamWriter("claude-x", include_thoughts=True)
    out: list[dict] = []
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    for piece in pieces:
        for message in parser.feed(piece):
            out.extend(writer.feed(message.event, orjson.loads(message.data)))
    for message in parser.close():
        out.extend(writer.feed(message.event, orjson.loads(message.data)))
    return out + writer.finish()


BLOCK = st.tuples(st.sampled_from(["text", "thinking", "tool_use"]), TEXT)


@settings(max_examples=150, deadline=None)
@given(
    blocks=st.lists(BLOCK, min_size=1, max_size=5),
    stop=st.sampled_from(["end_turn", "tool_use", "max_tokens"]),
    data=st.data(),
)
def test_hub_stream_to_gemini_same_chunks_however_split(blocks, stop, data):
    raw = anthropic_sse(blocks, stop)
    whole = translate_anthropic(raw, [])
    assert translate_anthropic(raw, cut_points(raw, data)) == whole
    # Every chunk has parts; only the last has finishReason and usage.
    for chunk in whole:
        assert chunk["candidates"][0]["content"]["parts"]
    assert all("finishReason" not in c["candidates"][0] for c in whole[:-1])
    last = whole[-1]
    assert last["candidates"][0]["finishReason"] == (
        "MAX_TOKENS" if stop == "max_tokens" else "STOP"
    )
    assert last["usageMetadata"]["candidatesTokenCount"] == 9
    parts = [p for c in whole for p in c["candidates"][0]["content"]["parts"]]
    calls = [p["functionCall"] for p in parts if "functionCall" in p]
    assert [c["args"]["command"] for c in calls] == [v for k, v in blocks if k == "tool_use"]
    text = "".join(p.get("text", "") for p in parts if not p.get("thought"))
    assert text == "".join(v for k, v in blocks if k == "text")
    thoughts = "".join(p["text"] for p in parts if p.get("thought"))
    assert thoughts == "".join(v for k, v in blocks if k == "thinking")
    # The signed thinking rides on the first call only.
    signed = [p for p in parts if "thoughtSignature" in p]
    kinds = [k for k, _ in blocks]
    before_first_call = kinds[: kinds.index("tool_use")] if "tool_use" in kinds else []
    assert len(signed) == (1 if "thinking" in before_first_call else 0)
    if signed:
        assert "thoughtSignature" in next(p for p in parts if "functionCall" in p)


def test_hub_error_event_becomes_a_google_error_chunk():
    writer = GeminiStreamWriter("m")
    writer.feed("message_start", {"type": "message_start", "message": {"id": "x"}})
    out = writer.feed(
        "error",
        {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}},
    )
    assert out == [{"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}}]
    assert writer.finish() == []


def test_gemini_error_chunk_and_empty_stream_end_in_an_error_event():
    translator = GeminiStreamTranslator("m")
    events = translator.feed(
        {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}
    )
    assert events == [
        ("error", {"type": "error", "error": {"type": "api_error", "message": "overloaded"}})
    ]
    empty = GeminiStreamTranslator("m")
    assert empty.finish()[0][0] == "error"
