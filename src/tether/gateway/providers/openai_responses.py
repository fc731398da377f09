"""An OpenAI Responses upstream (`type: openai-responses`): a model served only on
`/v1/responses`.

Responses clients pass through (bytes unchanged but model and auth). Anthropic Messages
clients (Claude Code) and Chat Completions clients reach it through the hub: their request
becomes Anthropic Messages (as it already is, for the former), the hub request becomes a
Responses request, and the answer comes back the same way.
"""

from __future__ import annotations

from typing import Any

import orjson

# The module, not its names: the hub imports the providers, and may be imported first.
from tether.gateway import hub
from tether.gateway.inbound import Format
from tether.gateway.providers.base import Call
from tether.gateway.providers.openai import OpenAIProvider
from tether.gateway.translate.anthropic_response_to_openai import response_from_anthropic
from tether.gateway.translate.anthropic_stream_to_openai import AnthropicStreamTranslator
from tether.gateway.translate.errors import anthropic_error
from tether.gateway.translate.openai_request_to_anthropic import request_to_anthropic
from tether.gateway.translate.sse import encode_sse

PING = b'event: ping\ndata: {"type": "ping"}\n\n'


class _MessagesStream:
    """Hub events are already what an Anthropic client reads: framed as they are."""

    def __init__(self, _state: Any) -> None:
        self._done = False

    def feed(self, event: str, data: dict) -> list[bytes]:
        if self._done:
            return []
        if event in ("message_stop", "error"):
            self._done = True
        return [encode_sse(event, data)]

    def finish(self) -> list[bytes]:
        return []

    def fail(self, status: int, message: str) -> list[bytes]:
        if self._done:
            return []
        self._done = True
        return [encode_sse("error", anthropic_error(status, message)[1])]

    def ping(self) -> list[bytes]:
        return [PING]


class _ChatStream:
    def __init__(self, call: Call) -> None:
        options = call.body.get("stream_options")
        self._translator = AnthropicStreamTranslator(
            call.client_model,
            include_usage=isinstance(options, dict) and options.get("include_usage") is True,
        )
        self._ended = False

    def _frames(self, chunks: list[dict]) -> list[bytes]:
        return [b"data: " + orjson.dumps(chunk) + b"\n\n" for chunk in chunks]

    def feed(self, event: str, data: dict) -> list[bytes]:
        return self._frames(self._translator.feed(event, data))

    def finish(self) -> list[bytes]:
        if self._ended:
            return []
        self._ended = True
        return [*self._frames(self._translator.finish()), b"data: [DONE]\n\n"]

    def fail(self, status: int, message: str) -> list[bytes]:
        self._ended = True
        error = {"error": {"message": message, "type": "server_error"}}
        return [b"data: " + orjson.dumps(error) + b"\n\n"]

    def ping(self) -> list[bytes]:
        return [b": ping\n\n"]


class OpenAIResponsesProvider(OpenAIProvider):
    async def messages(self, call: Call) -> Any:
        def to_hub(body: dict) -> tuple[dict, None]:
            self.clamp_max_tokens(body)
            return body, None

        side = hub.ClientSide(
            fmt=Format.ANTHROPIC,
            to_hub=to_hub,
            from_message=lambda message, _state: message,
            stream=_MessagesStream,
        )
        return await hub.serve_via_hub(self, call, side)

    async def chat_completions(self, call: Call) -> Any:
        side = hub.ClientSide(
            fmt=Format.OPENAI,
            to_hub=lambda body: (
                request_to_anthropic(
                    body, model=call.upstream_model, max_tokens_limit=self.provider.max_tokens
                ),
                None,
            ),
            from_message=lambda message, _state: response_from_anthropic(
                message, model=call.client_model
            ),
            stream=lambda _state: _ChatStream(call),
        )
        return await hub.serve_via_hub(self, call, side)
