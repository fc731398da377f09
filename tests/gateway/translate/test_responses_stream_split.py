"""Properties of the Responses stream translators: however the upstream's bytes are cut,
the client gets the same events (Anthropic → Responses, and Responses → Anthropic)."""

from __future__ import annotations

import itertools

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.gateway.translate.test_anthropic_stream_split import events_for
from tests.gateway.upstreams import oa_text_stream, oa_tool_stream, rs_stream
from tether.gateway.translate.anthropic_request_to_openai import ToolNames
from tether.gateway.translate.anthropic_stream_to_responses import ResponsesStreamTranslator
from tether.gateway.translate.openai_stream_to_anthropic import OpenAIStreamTranslator
from tether.gateway.translate.responses_request_to_anthropic import ResponsesContext
from tether.gateway.translate.responses_stream_to_anthropic import ResponsesToAnthropicStream
from tether.gateway.translate.sse import encode_sse
from tether.sse import SSEParser

TEXT = st.text(alphabet=st.sampled_from(list('ab \n{}"é😀')), min_size=1, max_size=30)
BLOCKS = st.lists(
    st.tuples(st.sampled_from(["text", "thinking", "tool_use"]), TEXT), min_size=1, max_size=4
)


def _pieces(wire: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(wire) + 1) for c in cuts})
    return [wire[a:b] for a, b in itertools.pairwise([0, *points, len(wire)])]


def _without_clock(events: list[tuple[str, dict]]) -> list[tuple[str, dict]]:
    """Timestamps come from the clock; everything else must match exactly."""
    out = []
    for kind, data in events:
        response = data.get("response")
        if isinstance(response, dict):
            response = {
                k: v for k, v in response.items() if k not in ("created_at", "completed_at")
            }
            data = {**data, "response": response}
        out.append((kind, data))
    return out


def to_responses(wire: bytes, cuts: list[int]) -> list[tuple[str, dict]]:
    ctx = ResponsesContext(
        model="m", custom_tools={"Patch"}, summaries=True, encrypted_reasoning=True
    )
    parser = SSEParser()
    translator = ResponsesStreamTranslator(ctx)
    events: list[tuple[str, dict]] = []
    for piece in _pieces(wire, cuts):
        for message in parser.feed(piece):
            events += translator.feed(message.event or "", orjson.loads(message.data))
    for message in parser.close():
        events += translator.feed(message.event or "", orjson.loads(message.data))
    return _without_clock(events + translator.finish())


def _anthropic_wire(blocks: list[tuple[str, str]], stop: str) -> bytes:
    events = events_for(blocks, stop)
    # One tool is a freeform one: its JSON input is {"input": text}.
    for _, data in events:
        block = data.get("content_block") or {}
        if block.get("type") == "tool_use" and data["index"] % 2:
            block["name"] = "Patch"
    return b"".join(encode_sse(event, data) for event, data in events)


@settings(max_examples=150, deadline=None)
@given(
    BLOCKS,
    st.sampled_from(["end_turn", "tool_use", "max_tokens"]),
    st.lists(st.integers(0, 10**6), max_size=12),
)
def test_anthropic_to_responses_ignores_cuts(blocks, stop, cuts) -> None:
    wire = _anthropic_wire(blocks, stop)
    whole = to_responses(wire, [])
    assert to_responses(wire, cuts) == whole
    seqs = [data["sequence_number"] for _, data in whole]
    assert seqs == list(range(len(whole)))
    final = whole[-1]
    assert final[0] == ("response.incomplete" if stop == "max_tokens" else "response.completed")
    # Every item added is done, in order, and the final response lists them all.
    added = [d["item"]["id"] for k, d in whole if k == "response.output_item.added"]
    done = [d["item"]["id"] for k, d in whole if k == "response.output_item.done"]
    assert added == done
    assert [item["id"] for item in final[1]["response"]["output"]] == done


def to_anthropic(wire: bytes, cuts: list[int]) -> list[tuple[str, dict]]:
    parser = SSEParser()
    translator = ResponsesToAnthropicStream("claude-x", ToolNames())
    events: list[tuple[str, dict]] = []
    for piece in _pieces(wire, cuts):
        for message in parser.feed(piece):
            events += translator.feed(orjson.loads(message.data))
    for message in parser.close():
        events += translator.feed(orjson.loads(message.data))
    events += translator.finish()
    # The message id is random only when the upstream gave none; here it gives one.
    return events


@settings(max_examples=150, deadline=None)
@given(
    st.lists(TEXT, max_size=3),
    st.text(alphabet="xyz ", max_size=20),
    st.lists(st.tuples(st.sampled_from(["Read", "Bash"]), TEXT), max_size=2),
    st.integers(1, 9),
    st.lists(st.integers(0, 10**6), max_size=12),
)
def test_responses_to_anthropic_ignores_cuts(parts, reasoning, calls, split, cuts) -> None:
    tool_calls = tuple(
        (f"call_{i}", name, orjson.dumps({"arg": text}).decode())
        for i, (name, text) in enumerate(calls)
    )
    wire = b"".join(rs_stream(*parts, reasoning=reasoning, calls=tool_calls, split=split))
    whole = to_anthropic(wire, [])
    assert to_anthropic(wire, cuts) == whole
    kinds = [k for k, _ in whole]
    assert kinds[0] == "message_start"
    assert kinds[-2:] == ["message_delta", "message_stop"]
    # Blocks open and close strictly in sequence.
    opened = [d["index"] for k, d in whole if k == "content_block_start"]
    closed = [d["index"] for k, d in whole if k == "content_block_stop"]
    assert opened == closed == list(range(len(opened)))
    text = "".join(
        d["delta"]["text"] for k, d in whole if k == "content_block_delta" and "text" in d["delta"]
    )
    assert text == "".join(parts)
    for call_id, _name, args in tool_calls:
        index = next(
            d["index"]
            for k, d in whole
            if k == "content_block_start" and d["content_block"].get("id") == call_id
        )
        streamed = "".join(
            d["delta"].get("partial_json", "")
            for k, d in whole
            if k == "content_block_delta" and d["index"] == index
        )
        assert orjson.loads(streamed) == orjson.loads(args)
    stop = whole[-2][1]["delta"]["stop_reason"]
    assert stop == ("tool_use" if tool_calls else "end_turn")


def chat_to_responses(wire: bytes, cuts: list[int]) -> list[tuple[str, dict]]:
    """A chat-only upstream's chunks, through the hub, to a Responses client."""
    parser = SSEParser()
    hub = OpenAIStreamTranslator("m", ToolNames(), message_id="msg_fixed")
    translator = ResponsesStreamTranslator(ResponsesContext(model="m"))
    events: list[tuple[str, dict]] = []
    for piece in _pieces(wire, cuts):
        for message in parser.feed(piece):
            for kind, payload in hub.feed_data(message.data):
                events += translator.feed(kind, payload)
    for kind, payload in hub.finish():
        events += translator.feed(kind, payload)
    return _without_clock(events + translator.finish())


@settings(max_examples=100, deadline=None)
@given(
    st.lists(TEXT, min_size=1, max_size=3),
    st.lists(st.tuples(st.sampled_from(["Read", "Bash"]), TEXT), max_size=3),
    st.lists(st.integers(0, 10**6), max_size=12),
)
def test_chat_to_responses_ignores_cuts(parts, calls, cuts) -> None:
    if calls:
        frames = oa_tool_stream(
            [(f"call_{i}", n, orjson.dumps({"a": t}).decode()) for i, (n, t) in enumerate(calls)],
            split=3,
        )
    else:
        frames = oa_text_stream(*parts)
    wire = b"".join(frames)
    whole = chat_to_responses(wire, [])
    assert chat_to_responses(wire, cuts) == whole
    assert whole[-1][0] == "response.completed"
    output = whole[-1][1]["response"]["output"]
    if calls:
        assert [orjson.loads(i["arguments"]) for i in output] == [{"a": t} for _, t in calls]
    else:
        text = "".join(item["content"][0]["text"] for item in output)
        assert text == "".join(parts).lstrip()  # a blank-only answer has no message item
