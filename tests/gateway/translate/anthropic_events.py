"""Check an Anthropic SSE event sequence is well-formed and rebuild the message from it.

The rules are the ones Claude Code and the Anthropic SDKs rely on: message_start
first; content blocks numbered 0..n, each started, given deltas of its own kind
and stopped before the next starts; message_delta then message_stop last; no
text block left empty; tool input deltas joining to a JSON object.
"""

from __future__ import annotations

import json
from typing import Any

_DELTA_FOR = {"text": "text_delta", "thinking": "thinking_delta", "tool_use": "input_json_delta"}


class MalformedStream(AssertionError):
    pass


def assemble(events: list[tuple[str, dict]]) -> dict[str, Any]:
    """The message the events describe; raises MalformedStream on any rule broken."""

    def fail(why: str) -> None:
        raise MalformedStream(f"{why}; events: {[e for e, _ in events]}")

    if not events or events[0][0] != "message_start":
        fail("message_start must come first")
    message = dict(events[0][1]["message"])
    message["content"] = []
    open_block: dict | None = None
    parts: list[str] = []
    stage = "blocks"
    for name, data in events[1:]:
        if data.get("type") != name:
            fail(f"event {name} carries data of type {data.get('type')}")
        if name == "ping":
            continue
        if stage == "stopped":
            fail(f"{name} after message_stop")
        if stage == "delta" and name != "message_stop":
            fail(f"{name} after message_delta")
        if name == "message_start":
            fail("a second message_start")
        elif name == "content_block_start":
            if open_block is not None:
                fail("a block started before the previous one stopped")
            if data["index"] != len(message["content"]):
                fail(f"block index {data['index']} out of sequence")
            open_block = dict(data["content_block"])
            parts = []
        elif name == "content_block_delta":
            if open_block is None or data["index"] != len(message["content"]):
                fail("a delta outside its open block")
            delta = data["delta"]
            if delta["type"] == "signature_delta" and open_block["type"] == "thinking":
                open_block["signature"] = delta["signature"]
                continue
            if delta["type"] != _DELTA_FOR[open_block["type"]]:
                fail(f"{delta['type']} inside a {open_block['type']} block")
            parts.append(next(v for k, v in delta.items() if k != "type"))
        elif name == "content_block_stop":
            if open_block is None or data["index"] != len(message["content"]):
                fail("a stop without its open block")
            kind = open_block["type"]
            if kind == "text":
                open_block["text"] = "".join(parts)
                if not open_block["text"]:
                    fail("an empty text block")
            elif kind == "thinking":
                open_block["thinking"] = "".join(parts)
            else:
                raw = "".join(parts)
                try:
                    open_block["input"] = json.loads(raw)
                except ValueError:
                    fail(f"tool input is not JSON: {raw!r}")
                if not isinstance(open_block["input"], dict):
                    fail("tool input is not an object")
            message["content"].append(open_block)
            open_block = None
        elif name == "message_delta":
            if open_block is not None:
                fail("message_delta while a block is open")
            message.update(data["delta"])
            message["usage"] = {**message["usage"], **data["usage"]}
            stage = "delta"
        elif name == "message_stop":
            if stage != "delta":
                fail("message_stop without message_delta")
            stage = "stopped"
        elif name == "error":
            message["error"] = data["error"]
            stage = "stopped"
        else:
            fail(f"unknown event {name}")
    if stage != "stopped":
        fail("the stream did not end with message_stop")
    return message
