"""Property: an Anthropic upstream's stream, cut anywhere, gives OpenAI clients the same turn."""

from __future__ import annotations

import itertools
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from tether.gateway.translate.anthropic_stream_to_openai import AnthropicStreamTranslator
from tether.gateway.translate.sse import encode_sse
from tether.sse import SSEParser

TEXT = st.text(alphabet=st.sampled_from(list('ab \n{}"é😀')), min_size=1, max_size=30)


def events_for(blocks: list[tuple[str, str]], stop: str) -> list[tuple[str, dict]]:
    out = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_p",
                    "type": "message",
                    "role": "assistant",
                    "content": [],
                    "usage": {"input_tokens": 5, "output_tokens": 1},
                },
            },
        )
    ]
    for index, (kind, value) in enumerate(blocks):
        if kind == "tool_use":
            start = {"type": "tool_use", "id": f"toolu_{index}", "name": "Read", "input": {}}
            delta = {"type": "input_json_delta", "partial_json": value}
        elif kind == "thinking":
            start = {"type": "thinking", "thinking": ""}
            delta = {"type": "thinking_delta", "thinking": value}
        else:
            start = {"type": "text", "text": ""}
            delta = {"type": "text_delta", "text": value}
        out += [
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": start},
            ),
            (
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": delta},
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": index}),
        ]
    out += [
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
    return out


def rebuild(wire: bytes, cuts: list[int]) -> dict:
    parser = SSEParser()
    t = AnthropicStreamTranslator("gpt-4o", include_usage=True)
    chunks = []
    for a, b in itertools.pairwise([0, *cuts, len(wire)]):
        for message in parser.feed(wire[a:b]):
            chunks += t.feed(message.event, json.loads(message.data))
    chunks += t.finish()
    turn: dict = {"content": "", "reasoning": "", "calls": {}, "finish": None, "usage": None}
    for c in chunks:
        if not c["choices"]:
            turn["usage"] = c["usage"]
            continue
        choice = c["choices"][0]
        delta = choice["delta"]
        turn["content"] += delta.get("content") or ""
        turn["reasoning"] += delta.get("reasoning_content") or ""
        for tc in delta.get("tool_calls") or ():
            slot = turn["calls"].setdefault(tc["index"], {"id": None, "args": ""})
            slot["id"] = tc.get("id") or slot["id"]
            slot["args"] += tc["function"].get("arguments") or ""
        turn["finish"] = choice["finish_reason"] or turn["finish"]
    return turn


@settings(max_examples=200, deadline=None)
@given(
    blocks=st.lists(
        st.one_of(
            st.tuples(st.just("text"), TEXT),
            st.tuples(st.just("thinking"), TEXT),
            st.tuples(
                st.just("tool_use"),
                st.dictionaries(st.sampled_from(["a", "ü"]), st.integers(), max_size=2).map(
                    json.dumps
                ),
            ),
        ),
        max_size=5,
    ),
    stop=st.sampled_from(["end_turn", "tool_use", "max_tokens"]),
    data=st.data(),
)
def test_any_cut_of_the_anthropic_stream_gives_the_same_openai_turn(blocks, stop, data):
    wire = b"".join(encode_sse(e, d) for e, d in events_for(blocks, stop))
    cuts = sorted(data.draw(st.sets(st.integers(1, len(wire) - 1), max_size=30)))
    turn = rebuild(wire, cuts)
    assert turn == rebuild(wire, [])
    assert turn["content"] == "".join(v for k, v in blocks if k == "text")
    assert turn["reasoning"] == "".join(v for k, v in blocks if k == "thinking")
    calls = [(f"toolu_{i}", v) for i, (k, v) in enumerate(blocks) if k == "tool_use"]
    assert [(c["id"], c["args"]) for _, c in sorted(turn["calls"].items())] == calls
    assert (
        turn["finish"]
        == {"end_turn": "stop", "tool_use": "tool_calls", "max_tokens": "length"}[stop]
    )
    assert turn["usage"]["completion_tokens"] == 9
