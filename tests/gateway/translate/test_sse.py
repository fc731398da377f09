from __future__ import annotations

import orjson
import pytest

from tether.gateway.translate.sse import SSEParser, encode_sse


def parse_all(chunks: list[bytes]) -> list[tuple[str | None, str]]:
    parser = SSEParser()
    out: list[tuple[str | None, str]] = []
    for chunk in chunks:
        out.extend(parser.feed(chunk))
    return out + parser.close()


def test_openai_style_data_only_frames():
    stream = b'data: {"a":1}\n\ndata: [DONE]\n\n'
    assert parse_all([stream]) == [(None, '{"a":1}'), (None, "[DONE]")]


def test_named_events_multiline_data_and_comments():
    stream = b": keepalive\nevent: message_start\ndata: line one\ndata: line two\nid: 7\n\n"
    assert parse_all([stream]) == [("message_start", "line one\nline two")]


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending_and_every_split_point(ending: bytes):
    stream = (
        b"event: a"
        + ending
        + b"data: x\xc3\xa9"
        + ending
        + ending
        + b"data:no-space"
        + ending
        + ending
    )
    expected = [("a", "xé"), (None, "no-space")]
    for cut in range(len(stream) + 1):
        assert parse_all([stream[:cut], stream[cut:]]) == expected, cut
    assert parse_all([bytes([b]) for b in stream]) == expected


def test_crlf_split_between_cr_and_lf_is_one_line_end():
    parser = SSEParser()
    assert parser.feed(b"data: x\r") == []
    assert parser.feed(b"\n\r") == []
    assert parser.feed(b"\ndata: y\r\n\r\n") == [(None, "x"), (None, "y")]
    # Were the CR taken as a line end on its own, the LF would end the event early.
    parser = SSEParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\ndata: b\r\n\r\n") == [(None, "a\nb")]


def test_event_without_data_is_not_dispatched_and_bom_is_skipped():
    assert parse_all([b"\xef\xbb", b"\xbfevent: ping\n\ndata: 1\n\n"]) == [(None, "1")]


def test_close_keeps_a_last_frame_missing_its_blank_line():
    parser = SSEParser()
    assert parser.feed(b'data: {"done":true}') == []
    assert parser.close() == [(None, '{"done":true}')]


def test_encode_sse_round_trips_through_the_parser():
    frame = encode_sse("content_block_delta", {"type": "content_block_delta", "text": "é\n"})
    assert frame.startswith(b"event: content_block_delta\ndata: {")
    assert frame.endswith(b"\n\n")
    [(event, data)] = parse_all([frame])
    assert event == "content_block_delta"
    assert orjson.loads(data) == {"type": "content_block_delta", "text": "é\n"}
