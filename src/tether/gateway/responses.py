"""The OpenAI Responses surface (`POST /v1/responses`, what Codex speaks).

A provider that serves the Responses API itself (`type: openai-responses`, or `type:
openai` with `responses: true`) gets the client's bytes with only the model and auth
changed; every other provider is reached through the hub: the request is translated to
Anthropic Messages, and the hub's answer back to a Response object or stream.
"""

from __future__ import annotations

from typing import Any

from tether.gateway.hub import ClientSide, serve_via_hub
from tether.gateway.inbound import Format
from tether.gateway.providers.base import BaseProvider, Call
from tether.gateway.translate.anthropic_response_to_responses import (
    response_from_anthropic_message,
)
from tether.gateway.translate.anthropic_stream_to_responses import ResponsesStreamTranslator
from tether.gateway.translate.responses_request_to_anthropic import (
    ResponsesContext,
    responses_to_anthropic,
)
from tether.gateway.translate.sse import encode_sse

PING = b": ping\n\n"


def speaks_responses(provider: BaseProvider) -> bool:
    settings = provider.provider
    return settings.type == "openai-responses" or (
        settings.type == "openai" and getattr(settings, "responses", False)
    )


class _ResponsesStream:
    def __init__(self, ctx: ResponsesContext) -> None:
        self._translator = ResponsesStreamTranslator(ctx)

    @staticmethod
    def _frames(events: list[tuple[str, dict]]) -> list[bytes]:
        return [encode_sse(event, data) for event, data in events]

    def feed(self, event: str, data: dict) -> list[bytes]:
        return self._frames(self._translator.feed(event, data))

    def finish(self) -> list[bytes]:
        return self._frames(self._translator.finish())

    def fail(self, status: int, message: str) -> list[bytes]:
        return self._frames(self._translator.fail(status, message))

    def ping(self) -> list[bytes]:
        return [PING]


def responses_side(call: Call, max_tokens: int | None) -> ClientSide:
    return ClientSide(
        fmt=Format.OPENAI,
        to_hub=lambda body: responses_to_anthropic(
            body, model=call.upstream_model, max_tokens_limit=max_tokens
        ),
        from_message=response_from_anthropic_message,
        stream=_ResponsesStream,
    )


async def serve_responses(provider: BaseProvider, call: Call) -> Any:
    if speaks_responses(provider):
        # Same API on both ends: passthrough (OpenAIProvider and its subclasses).
        return await provider.passthrough(call, "/responses", "max_output_tokens")  # type: ignore[attr-defined]
    return await serve_via_hub(provider, call, responses_side(call, provider.provider.max_tokens))
