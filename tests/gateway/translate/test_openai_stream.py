"""OpenAI chat.completion.chunk streams as Anthropic SSE events."""

from __future__ import annotations

import itertools
import json

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tether.gateway.translate.anthropic_request_to_openai import THINKING_SIGNATURE, ToolNames
from tether.gateway.translate.openai_stream_to_anthropic import OpenAIStreamTranslator
from tether.gateway.translate.sse import encode_sse
from tether.sse import SSEParser

from .anthropic_events import MalformedStream, assemble

MSG_ID = "msg_test0001"


def chunk(delta: dict | None = None, finish: str | None = None, **extra) -> dict:
    choices = (
        []
        if delta is None and finish is None
        else [{"index": 0, "delta": delta or {}, "finish_reason": finish}]
    )
    return {"id": "c1", "object": "chat.completion.chunk", "choices": choices, **extra}


def call(
    index: int, id: str | None = None, name: str | None = None, args: str | None = None
) -> dict:
    function = {}
    if name is not None:
        function["name"] = name
    if args is not None:
        function["arguments"] = args
    out: dict = {"index": index, "function": function}
    if id is not None:
        out.update(id=id, type="function")
    return out


def run(chunks: list[dict], names: ToolNames | None = None) -> list[tuple[str, dict]]:
    t = OpenAIStreamTranslator("claude-sonnet-4-5", names or ToolNames(), MSG_ID)
    events = []
    for c in chunks:
        events.extend(t.feed(c))
    events.extend(t.finish())
    return events


USAGE = {
    "prompt_tokens": 50,
    "completion_tokens": 9,
    "prompt_tokens_details": {"cached_tokens": 20},
}


def test_text_stream_event_by_event():
    events = run(
        [
            chunk({"role": "assistant", "content": ""}),
            chunk({"content": "Hel"}),
            chunk({"content": "lo"}),
            chunk({}, "stop"),
            chunk(usage=USAGE),
        ]
    )
    assert events == [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": MSG_ID,
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-sonnet-4-5",
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": 0,
                        "output_tokens": 0,
                        "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": 0,
                    },
                },
            },
        ),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "Hel"},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "lo"},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {
                    "input_tokens": 30,
                    "output_tokens": 9,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 20,
                },
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]


def test_reasoning_then_text_are_two_sequential_blocks():
    msg = assemble(
        run(
            [
                chunk({"reasoning_content": "Think"}),
                chunk({"reasoning_content": "ing."}),
                chunk({"content": "\n\nAnswer"}),
                chunk({}, "stop"),
            ]
        )
    )
    assert msg["content"] == [
        {"type": "thinking", "thinking": "Thinking.", "signature": THINKING_SIGNATURE},
        {"type": "text", "text": "Answer"},
    ]


def test_openrouter_reasoning_field():
    msg = assemble(run([chunk({"reasoning": "hm"}), chunk({"content": "ok"}), chunk({}, "stop")]))
    assert [b["type"] for b in msg["content"]] == ["thinking", "text"]


def test_think_tags_split_across_chunks():
    pieces = ["<th", "ink>\nstep", " one</thi", "nk>", "\n\n", "Done <think> is just text"]
    msg = assemble(run([chunk({"content": p}) for p in pieces] + [chunk({}, "stop")]))
    assert msg["content"] == [
        {"type": "thinking", "thinking": "\nstep one", "signature": THINKING_SIGNATURE},
        {"type": "text", "text": "Done <think> is just text"},
    ]


def test_never_an_empty_text_block():
    events = run(
        [
            chunk({"role": "assistant", "content": ""}),
            chunk({"content": "\n"}),
            chunk({}, "tool_calls"),
            chunk({"tool_calls": [call(0, "call_a", "Bash", '{"command":"ls"}')]}),
        ]
    )
    msg = assemble(events)  # assemble rejects empty text blocks
    assert [b["type"] for b in msg["content"]] == ["tool_use"]


def test_parallel_tool_calls_split_and_interleaved_by_index():
    names = ToolNames()
    long = "mcp__" + "y" * 80
    short = names.upstream(long)
    events = run(
        [
            chunk({"content": "Let me look."}),
            chunk({"tool_calls": [call(0, "call_a")]}),  # id first, name later
            chunk({"tool_calls": [call(0, name="Read")]}),
            chunk(
                {"tool_calls": [call(1, "call_b", short, '{"pat')]}
            ),  # args bundled with the name
            chunk({"tool_calls": [call(0, args='{"file_path"')]}),
            chunk({"tool_calls": [call(1, args='tern": "*.py"}')]}),
            chunk({"tool_calls": [call(0, args=': "/a"}'), call(2, "call_c", "Stop", "")]}),
            chunk({}, "tool_calls"),
            chunk(usage=USAGE),
        ],
        names,
    )
    msg = assemble(events)
    assert msg["content"] == [
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "call_a", "name": "Read", "input": {"file_path": "/a"}},
        {"type": "tool_use", "id": "call_b", "name": long, "input": {"pattern": "*.py"}},
        {"type": "tool_use", "id": "call_c", "name": "Stop", "input": {}},
    ]
    assert msg["stop_reason"] == "tool_use"
    # The first call streams live: its argument pieces arrive as separate deltas.
    first = [
        d["delta"]["partial_json"]
        for e, d in events
        if e == "content_block_delta" and d["index"] == 1
    ]
    assert first == ['{"file_path"', ': "/a"}']


def test_tool_name_fragments_are_joined_and_resent_names_are_not_doubled():
    msg = assemble(
        run(
            [
                chunk({"tool_calls": [call(0, "c1", "Web")]}),
                chunk({"tool_calls": [call(0, name="Fetch")]}),
                chunk({"tool_calls": [call(1, "c2", "Bash")]}),
                chunk({"tool_calls": [call(1, name="Bash", args="{}")]}),
                chunk({"tool_calls": [call(0, args="{}")]}),
                chunk({}, "tool_calls"),
            ]
        )
    )
    assert [b["name"] for b in msg["content"]] == ["WebFetch", "Bash"]


def test_tool_calls_without_index_are_told_apart_by_id():
    no_index = [
        {"id": "c1", "type": "function", "function": {"name": "A", "arguments": '{"x":'}},
        {"function": {"arguments": " 1}"}},
        {"id": "c2", "type": "function", "function": {"name": "B", "arguments": "{}"}},
    ]
    msg = assemble(run([chunk({"tool_calls": [c]}) for c in no_index] + [chunk({}, "stop")]))
    assert [(b["id"], b["input"]) for b in msg["content"]] == [("c1", {"x": 1}), ("c2", {})]


def test_text_after_tool_calls_follows_them():
    msg = assemble(
        run(
            [
                chunk({"tool_calls": [call(0, "c1", "Bash", '{"command": "ls"}')]}),
                chunk({"content": "Running ls."}),
                chunk({}, "tool_calls"),
            ]
        )
    )
    assert [b["type"] for b in msg["content"]] == ["tool_use", "text"]


@pytest.mark.parametrize(
    ("finish", "stop_reason"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("content_filter", "refusal"),
        (None, "end_turn"),
    ],
)
def test_stop_reasons(finish, stop_reason):
    chunks = [chunk({"content": "x"})] + ([chunk({}, finish)] if finish else [])
    assert assemble(run(chunks))["stop_reason"] == stop_reason


def test_finish_is_idempotent_and_closes_open_blocks():
    t = OpenAIStreamTranslator("m", ToolNames(), MSG_ID)
    events = t.feed(chunk({"reasoning_content": "partial thought"}))
    events += t.finish()
    assert t.finish() == [] and t.feed(chunk({"content": "late"})) == []
    msg = assemble(events)
    assert msg["content"][0]["thinking"] == "partial thought"


def test_finish_without_any_chunk_is_still_a_valid_empty_message():
    t = OpenAIStreamTranslator("m", ToolNames(), MSG_ID)
    msg = assemble(t.finish())
    assert msg["content"] == [] and msg["stop_reason"] == "end_turn"


def test_fail_ends_with_an_error_event_never_assistant_text():
    t = OpenAIStreamTranslator("m", ToolNames(), MSG_ID)
    events = t.feed(chunk({"content": "partial"}))
    failure = t.fail("overloaded_error", "upstream went away")
    assert failure == [
        (
            "error",
            {
                "type": "error",
                "error": {"type": "overloaded_error", "message": "upstream went away"},
            },
        )
    ]
    assert t.finish() == [] and t.fail("api_error", "again") == []
    assert all(e != "message_delta" for e, _ in events + failure)


def test_error_inside_the_stream_becomes_an_error_event():
    t = OpenAIStreamTranslator("m", ToolNames(), MSG_ID)
    events = t.feed(chunk({"content": "hi"}))
    events += t.feed({"error": {"message": "Provider returned error", "code": 502}})
    assert events[-1] == (
        "error",
        {"type": "error", "error": {"type": "api_error", "message": "Provider returned error"}},
    )
    events = OpenAIStreamTranslator("m", ToolNames(), MSG_ID).feed(
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "error"}]}
    )
    assert events[-1][0] == "error"


def test_feed_data_takes_raw_sse_payloads():
    t = OpenAIStreamTranslator("m", ToolNames(), MSG_ID)
    events = t.feed_data(orjson.dumps(chunk({"content": "hi"})).decode())
    events += t.feed_data("[DONE]")
    assert assemble(events)["content"] == [{"type": "text", "text": "hi"}]
    bad = OpenAIStreamTranslator("m", ToolNames(), MSG_ID)
    assert bad.feed_data("{not json")[-1][0] == "error"


def test_ping_and_encoding():
    assert OpenAIStreamTranslator.ping() == ("ping", {"type": "ping"})
    assert encode_sse(*OpenAIStreamTranslator.ping()) == b'event: ping\ndata: {"type":"ping"}\n\n'


def test_the_checker_itself_rejects_broken_sequences():
    good = run([chunk({"content": "x"}), chunk({}, "stop")])
    broken = [
        good[1:],  # no message_start
        good[:2] + good[3:],  # block without deltas: empty text
        good[:3] + good[4:],  # block never stopped
        good[:-1],  # no message_stop
        [*good[:-2], good[-1], good[-2]],  # message_stop before message_delta
    ]
    for events in broken:
        with pytest.raises(MalformedStream):
            assemble(events)


# -- property: however the upstream splits its bytes, the message is the same -------------

TEXT = st.text(alphabet=st.sampled_from(list('ab <>/thinké😀\n{}"')), max_size=40)
ARGS = st.dictionaries(
    st.sampled_from(["path", "cmd", "n", "ü"]),
    st.one_of(st.integers(), st.text(max_size=8)),
    max_size=3,
)


@st.composite
def responses(draw):
    """A logical model answer: reasoning, text (maybe `<think>`-tagged), parallel tool calls."""
    style = draw(st.sampled_from(["field", "tags", "none"]))
    thought = draw(TEXT) if style != "none" else ""
    if style == "tags" and "</think>" in thought:
        thought = thought.replace("</think>", "")
    text = draw(TEXT)
    tools = [
        (
            f"call_{i}",
            draw(st.sampled_from(["Read", "Bash", "mcp__" + "z" * 70])),
            draw(st.one_of(ARGS.map(json.dumps), st.just(""))),
        )
        for i in range(draw(st.integers(0, 3)))
    ]
    return style, thought, text, tools


def pieces(draw, s: str) -> list[str]:
    cuts = sorted(draw(st.sets(st.integers(0, len(s)), max_size=6))) if s else []
    bounds = [0, *cuts, len(s)]
    return [s[a:b] for a, b in itertools.pairwise(bounds) if s[a:b]]


def whole_chunks(style, thought, text, tools, names):
    delta: dict = {}
    if style == "field" and thought:
        delta["reasoning_content"] = thought
    content = f"<think>{thought}</think>{text}" if style == "tags" else text
    if content:
        delta["content"] = content
    if tools:
        delta["tool_calls"] = [
            call(i, cid, names.upstream(n), a) for i, (cid, n, a) in enumerate(tools)
        ]
    return [chunk(delta), chunk({}, "tool_calls" if tools else "stop"), chunk(usage=USAGE)]


def split_chunks(draw, style, thought, text, tools, names):
    out = []
    if style == "field":
        out += [chunk({"reasoning_content": p}) for p in pieces(draw, thought)]
    content = f"<think>{thought}</think>{text}" if style == "tags" else text
    out += [chunk({"content": p}) for p in pieces(draw, content)]
    # Each call: a header chunk (id, name, maybe the first args), then argument
    # pieces interleaved at random with the other calls' pieces.
    queues = []
    for i, (cid, n, a) in enumerate(tools):
        parts = pieces(draw, a)
        bundled = parts.pop(0) if parts and draw(st.booleans()) else None
        out.append(chunk({"tool_calls": [call(i, cid, names.upstream(n), bundled)]}))
        queues.append([(i, p) for p in parts])
    while any(queues):
        q = draw(st.sampled_from([q for q in queues if q]))
        i, p = q.pop(0)
        out.append(chunk({"tool_calls": [call(i, args=p)]}))
    out += [chunk({}, "tool_calls" if tools else "stop"), chunk(usage=USAGE)]
    return out


def sse_bytes(draw, chunks) -> bytes:
    ending = draw(st.sampled_from([b"\n", b"\r\n"]))
    frames = [b": OPENROUTER PROCESSING" + ending + ending]
    frames += [b"data: " + orjson.dumps(c) + ending + ending for c in chunks]
    frames.append(b"data: [DONE]" + ending + ending)
    return b"".join(frames)


def through_the_wire(data: bytes, cuts: list[int], names: ToolNames) -> list:
    parser = SSEParser()
    t = OpenAIStreamTranslator("claude-sonnet-4-5", names, MSG_ID)
    events = []
    bounds = [0, *cuts, len(data)]
    for a, b in itertools.pairwise(bounds):
        for message in parser.feed(data[a:b]):
            events += t.feed_data(message.data)
    for message in parser.close():
        events += t.feed_data(message.data)
    return events + t.finish()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_split_of_the_upstream_bytes_gives_the_same_message(data):
    style, thought, text, tools = data.draw(responses())
    names = ToolNames()
    whole = whole_chunks(style, thought, text, tools, names)
    expected = assemble(through_the_wire(sse_bytes(data.draw, whole), [], names))

    split = split_chunks(data.draw, style, thought, text, tools, names)
    wire = sse_bytes(data.draw, split)
    cuts = sorted(data.draw(st.sets(st.integers(1, len(wire) - 1), max_size=40)))
    got = assemble(through_the_wire(wire, cuts, names))  # also checks well-formedness
    assert got == expected

    # And the message says what the model said.
    blocks = got["content"]
    tool_blocks = [b for b in blocks if b["type"] == "tool_use"]
    assert [(b["id"], b["name"], b["input"]) for b in tool_blocks] == [
        (cid, n, json.loads(a) if a else {}) for cid, n, a in tools
    ]
    thinking = "".join(b["thinking"] for b in blocks if b["type"] == "thinking")
    visible = "".join(b["text"] for b in blocks if b["type"] == "text")
    # (Text that itself opens with `<think>` is reasoning by the tag rule; skip that case.)
    if not text.lstrip().startswith("<think>"):
        assert thinking == thought
        assert visible == text.lstrip()  # a text block never opens with blank space
    assert got["stop_reason"] == ("tool_use" if tools else "end_turn")
    assert got["usage"]["cache_read_input_tokens"] == 20
