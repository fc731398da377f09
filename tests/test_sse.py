"""The one SSE parser (tether.sse), as the relay client and the gateway read streams with it:
every line ending, every split point, ids kept per message, comments and BOMs skipped."""

from __future__ import annotations

import orjson
import pytest

from tether.gateway.translate.sse import encode_sse
from tether.sse import SSEMessage, SSEParser


def parse_all(chunks: list[bytes]) -> list[SSEMessage]:
    parser = SSEParser()
    out: list[SSEMessage] = []
    for chunk in chunks:
        out.extend(parser.feed(chunk))
    return out + parser.close()


def test_openai_style_data_only_frames():
    stream = b'data: {"a":1}\n\ndata: [DONE]\n\n'
    assert parse_all([stream]) == [
        SSEMessage("message", '{"a":1}'),
        SSEMessage("message", "[DONE]"),
    ]


def test_the_relays_stream_ids_events_comments_and_multiline_data():
    stream = (
        b"retry: 1000\n: connected\n\n"
        b'event: permission_request\ndata: {"id": "p1"}\n\n'
        b"id: 7\nevent: message\ndata: a\ndata: b\n\n"
        b"id: 8\ndata:no-space\n\n"
        b": ping comment\n\n"
    )
    assert parse_all([stream]) == [
        SSEMessage("permission_request", '{"id": "p1"}', None),
        SSEMessage("message", "a\nb", "7"),
        SSEMessage("message", "no-space", "8"),
    ]


def test_an_id_is_the_messages_own_not_the_last_seen():
    # The relay's pending snapshot comes without ids and must not move a cursor.
    stream = b"id: 5\ndata: x\n\ndata: y\n\nid: bad\0id\ndata: z\n\n"
    assert [m.id for m in parse_all([stream])] == ["5", None, None]


def test_an_unfinished_message_is_held_until_more_comes():
    parser = SSEParser()
    assert parser.feed(b"id: 1\nevent: message\ndata: x") == []
    assert parser.feed(b"\n\n") == [SSEMessage("message", "x", "1")]


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending_and_every_split_point(ending: bytes):
    stream = (
        b"event: a"
        + ending
        + b"id: 3"
        + ending
        + b"data: x\xc3\xa9"
        + ending
        + ending
        + b"data:no-space"
        + ending
        + ending
    )
    expected = [SSEMessage("a", "xé", "3"), SSEMessage("message", "no-space")]
    for cut in range(len(stream) + 1):
        assert parse_all([stream[:cut], stream[cut:]]) == expected, cut
    assert parse_all([bytes([b]) for b in stream]) == expected


def test_crlf_split_between_cr_and_lf_is_one_line_end():
    parser = SSEParser()
    assert parser.feed(b"data: x\r") == []
    assert parser.feed(b"\n\r") == []
    assert parser.feed(b"\ndata: y\r\n\r\n") == [
        SSEMessage("message", "x"),
        SSEMessage("message", "y"),
    ]
    # Were the CR taken as a line end on its own, the LF would end the event early.
    parser = SSEParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\ndata: b\r\n\r\n") == [SSEMessage("message", "a\nb")]


def test_event_without_data_is_not_dispatched_and_bom_is_skipped():
    assert parse_all([b"\xef\xbb", b"\xbfevent: ping\n\ndata: 1\n\n"]) == [
        SSEMessage("message", "1")
    ]


def test_close_keeps_a_last_frame_missing_its_blank_line():
    parser = SSEParser()
    assert parser.feed(b'data: {"done":true}') == []
    assert parser.close() == [SSEMessage("message", '{"done":true}')]


def test_encode_sse_round_trips_through_the_parser():
    frame = encode_sse("content_block_delta", {"type": "content_block_delta", "text": "é\n"})
    assert frame.startswith(b"event: content_block_delta\ndata: {")
    assert frame.endswith(b"\n\n")
    [message] = parse_all([frame])
    assert message.event == "content_block_delta"
    assert orjson.loads(message.data) == {"type": "content_block_delta", "text": "é\n"}
