"""An Anthropic Messages upstream (api.anthropic.com or any compatible server).

Anthropic clients pass straight through: the body is re-serialized only when the model
(or max_tokens) must change, otherwise the client's bytes go up untouched, and the
upstream's bytes (SSE included, errors included) come back as they arrive. OpenAI
clients are translated both ways.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

# The module, not its names: the hub imports the providers, and may be imported first.
from tether.gateway import hub
from tether.gateway.http1 import UpstreamResponse
from tether.gateway.inbound import Format
from tether.gateway.providers.base import (
    BaseProvider,
    Call,
    client_auth_headers,
    failure_response,
    forwarded_request_headers,
    passthrough_error,
    passthrough_stream,
    passthrough_whole,
    unusable_answer,
)
from tether.gateway.translate.anthropic_request_to_openai import THINKING_SIGNATURE
from tether.gateway.translate.errors import anthropic_error
from tether.gateway.translate.sse import encode_sse
from tether.gateway.upstream import UpstreamFailure

ANTHROPIC_VERSION = "2023-06-01"
PING = b'event: ping\ndata: {"type": "ping"}\n\n'


class AnthropicProvider(BaseProvider):
    def _auth(self, call: Call) -> list[tuple[str, str]]:
        if self.provider.pass_client_key:
            return client_auth_headers(call.headers)
        if self.provider.api_key:
            return [("x-api-key", self.provider.api_key)]
        return []

    def _passthrough_headers(self, call: Call) -> list[tuple[str, str]]:
        headers = forwarded_request_headers(call.headers)
        if "anthropic-version" not in call.headers:
            headers.append(("anthropic-version", ANTHROPIC_VERSION))
        headers.append(("accept-encoding", "identity"))
        headers.extend(self._auth(call))
        headers.extend(self.provider.headers.items())
        return headers

    def _patched(self, call: Call) -> bytes:
        """The client's bytes, unless the model or max_tokens must change, or the history
        holds thinking made by another provider (Anthropic refuses its signature)."""
        body = call.body
        changed = self.clamp_max_tokens(body) | drop_foreign_thinking(body)
        if body.get("model") != call.upstream_model:
            body["model"] = call.upstream_model
            changed = True
        return orjson.dumps(body) if changed else call.raw

    async def _passthrough(self, call: Call, path: str) -> Any:
        try:
            # Keep the client's query (Claude Code sends `?beta=true`).
            target = f"{path}?{call.query}" if call.query else path
            upstream = await self.upstream.open(
                target, self._patched(call), self._passthrough_headers(call)
            )
        except UpstreamFailure as failure:
            return failure_response(Format.ANTHROPIC, failure)
        if upstream.status_code >= 400:
            return await self._error(upstream)
        if not call.stream or "text/event-stream" not in upstream.headers.get("content-type", ""):
            return await passthrough_whole(
                call, upstream, Format.ANTHROPIC, self.provider, check=unusable_answer
            )
        return passthrough_stream(
            call,
            upstream,
            self.provider,
            PING,
            lambda message: encode_sse("error", anthropic_error(502, message)[1]),
        )

    async def _error(self, upstream: UpstreamResponse) -> Response:
        """Anthropic-shaped errors go back as they are; anything else (a proxy's HTML page)
        becomes one."""
        return await passthrough_error(
            upstream,
            Format.ANTHROPIC,
            lambda parsed: isinstance(parsed, dict) and parsed.get("type") == "error",
        )

    async def messages(self, call: Call) -> Any:
        return await self._passthrough(call, "/v1/messages")

    async def count_tokens(self, call: Call) -> Any:
        return await self._passthrough(call, "/v1/messages/count_tokens")

    # --- OpenAI clients -----------------------------------------------------------------

    def _translated_headers(self, call: Call) -> list[tuple[str, str]]:
        headers = [
            ("content-type", "application/json"),
            ("accept-encoding", "identity"),
            ("anthropic-version", ANTHROPIC_VERSION),
        ]
        headers.extend(self._auth(call))
        headers.extend(self.provider.headers.items())
        return headers

    async def chat_completions(self, call: Call) -> Any:
        return await hub.serve_via_hub(self, call, hub.chat_side(self, call))


def drop_foreign_thinking(body: dict[str, Any]) -> bool:
    """Take out of the history the thinking blocks tether made from another provider's
    reasoning (signed THINKING_SIGNATURE): Anthropic would refuse their signature. True
    when something was taken out."""
    changed = False
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        kept = [
            block
            for block in content
            if not (isinstance(block, dict) and block.get("signature") == THINKING_SIGNATURE)
        ]
        if len(kept) != len(content):
            if not kept:  # a turn that was nothing but thinking keeps its words as text
                kept = [{"type": "text", "text": content[0].get("thinking") or "(thinking)"}]
            message["content"] = kept
            changed = True
    return changed
