"""What every translator into the hub's stream shares (`<format>_stream_to_anthropic`):
the events that open and close an Anthropic message stream, and the bookkeeping of a
stream that ends once, whether it finishes or fails; and, for the translators out of it
(`anthropic_stream_to_<format>`), the reading of its `message_delta`. Pure: no I/O."""

from __future__ import annotations

from typing import Any

import orjson

Event = tuple[str, dict[str, Any]]


def message_start(message_id: str, model: str, usage: dict[str, Any]) -> Event:
    message = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }
    return ("message_start", {"type": "message_start", "message": message})


def message_end(stop_reason: Any, stop_sequence: Any, usage: dict[str, Any]) -> list[Event]:
    """The `message_delta` that says why the message stopped, and `message_stop`."""
    delta = {"stop_reason": stop_reason, "stop_sequence": stop_sequence}
    return [
        ("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}),
        ("message_stop", {"type": "message_stop"}),
    ]


def read_message_delta(data: dict[str, Any], usage: dict[str, Any]) -> str | None:
    """A `message_delta`'s stop reason (None when it gives none); the usage it reports
    is merged into `usage`, since a delta carries only the counts that changed."""
    usage.update({k: v for k, v in (data.get("usage") or {}).items() if v is not None})
    return (data.get("delta") or {}).get("stop_reason")


class HubStream:
    """A hub stream being written: `done` once it ended; `fail` ends it with an `error`
    event (never as assistant text), once."""

    _done = False

    @property
    def done(self) -> bool:
        return self._done

    def fail(self, error_type: str, message: str) -> list[Event]:
        if self._done:
            return []
        self._done = True
        return [("error", {"type": "error", "error": {"type": error_type, "message": message}})]

    def feed(self, chunk: dict) -> list[Event]:
        raise NotImplementedError

    def feed_data(self, data: str) -> list[Event]:
        """One SSE `data:` payload as received: a JSON object, given to `feed`."""
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            return self.fail("api_error", "the upstream sent a stream chunk that is not JSON")
        return self.feed_parsed(chunk)

    def feed_parsed(self, chunk: Any) -> list[Event]:
        return self.feed(chunk) if isinstance(chunk, dict) else []

    @staticmethod
    def ping() -> Event:
        return ("ping", {"type": "ping"})
