"""A Gemini API upstream (generativelanguage.googleapis.com, or anything that speaks it).

Anthropic and OpenAI chat clients go through the hub (`hub.serve_via_hub`: their request
as Anthropic Messages, then generateContent, streamed with `alt=sse`, and back). Gemini clients
pass straight through: their body and the upstream's bytes are unchanged, only the model
in the path and the key are rewritten.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import orjson

# The module, not its names: the hub imports the providers, and may be imported first.
from tether.gateway import hub
from tether.gateway.http1 import UpstreamResponse
from tether.gateway.inbound import Format, error_response, json_bytes_response
from tether.gateway.providers.base import (
    BaseProvider,
    Call,
    failure_response,
    forwarded_request_headers,
    passthrough_error,
    passthrough_stream,
    passthrough_whole,
    read_error_body,
    read_json,
    translated_error,
    unusable_answer,
    unusable_request,
)
from tether.gateway.translate.anthropic_request_to_gemini import anthropic_request_to_gemini
from tether.gateway.translate.errors import upstream_error_message
from tether.gateway.translate.gemini_wire import gemini_error
from tether.gateway.translate.sse import encode_data
from tether.gateway.upstream import UpstreamFailure

API_VERSION = "v1beta"


def model_path(model: str, method: str) -> str:
    return f"/{API_VERSION}/models/{quote(model, safe='')}:{method}"


def without_key(query: str) -> str:
    """The client's query string minus its `key` (which is ours, not the upstream's)."""
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(k, v) for k, v in pairs if k != "key"])


class GeminiProvider(BaseProvider):
    def _auth(self, call: Call) -> list[tuple[str, str]]:
        if self.provider.pass_client_key:
            key = call.headers.get("x-goog-api-key") or call.headers.get("x-api-key")
            if not key:
                scheme, _, value = call.headers.get("authorization", "").partition(" ")
                key = value.strip() if scheme.lower() == "bearer" else ""
            if not key:  # Gemini clients may send it as `?key=`, which is not forwarded
                key = dict(parse_qsl(call.query)).get("key", "")
            return [("x-goog-api-key", key)] if key else []
        if self.provider.api_key:
            return [("x-goog-api-key", self.provider.api_key)]
        return []

    def _headers(self, call: Call) -> list[tuple[str, str]]:
        headers = [("content-type", "application/json"), ("accept-encoding", "identity")]
        headers.extend(self._auth(call))
        headers.extend(self.provider.headers.items())
        return headers

    # --- Gemini clients: passthrough --------------------------------------------------------

    async def gemini(self, call: Call, method: str) -> Any:
        """The client's generateContent / streamGenerateContent / countTokens, as it is."""
        query = without_key(call.query)
        path = model_path(call.upstream_model, method) + (f"?{query}" if query else "")
        headers = forwarded_request_headers(call.headers)
        headers.append(("accept-encoding", "identity"))
        headers.extend(self._auth(call))
        headers.extend(self.provider.headers.items())
        try:
            upstream = await self.upstream.open(path, call.raw, headers)
        except UpstreamFailure as failure:
            return failure_response(Format.GEMINI, failure)
        if upstream.status_code >= 400:
            # Google's own error shape (a JSON object, or a list of one) goes back as it is.
            return await passthrough_error(
                upstream, Format.GEMINI, lambda parsed: isinstance(parsed, dict | list)
            )
        if method != "streamGenerateContent" or not _is_sse(upstream):
            # A JSON-array stream is whole too; it may carry an error object in a 200.
            streamed = method == "streamGenerateContent"
            check = _unusable_gemini_stream if streamed else _unusable_gemini_answer
            return await passthrough_whole(
                call, upstream, Format.GEMINI, self.provider, check=check
            )
        # No keepalive frames: Google's SDKs read only `data:` lines and would stall on a
        # comment. A failure mid-stream ends it with an error object, which they raise.
        return passthrough_stream(call, upstream, self.provider, None, _error_frame)

    # --- Anthropic clients (the hub) --------------------------------------------------------

    async def messages(self, call: Call) -> Any:
        return await hub.serve_via_hub(self, call, hub.messages_side(self))

    async def count_tokens(self, call: Call) -> Any:
        try:
            body, _ = anthropic_request_to_gemini({**call.body, "max_tokens": None})
        except Exception as exc:
            return error_response(Format.ANTHROPIC, 400, unusable_request(exc))
        body.pop("generationConfig", None)
        request = {"generateContentRequest": {"model": f"models/{call.upstream_model}", **body}}
        try:
            upstream = await self.upstream.open(
                model_path(call.upstream_model, "countTokens"),
                orjson.dumps(request),
                self._headers(call),
            )
        except UpstreamFailure as failure:
            return failure_response(Format.ANTHROPIC, failure)
        if upstream.status_code >= 400:
            return translated_error(Format.ANTHROPIC, upstream, await read_error_body(upstream))
        try:
            result = await read_json(upstream)
        except UpstreamFailure as failure:
            return failure_response(Format.ANTHROPIC, failure)
        total = result.get("totalTokens") if isinstance(result, dict) else None
        response = json_bytes_response(200, orjson.dumps({"input_tokens": int(total or 0)}))
        response.raw_headers.append(call.route_header())
        return response

    # --- OpenAI clients: chat → hub → Gemini, and back ---------------------------------------

    async def chat_completions(self, call: Call) -> Any:
        return await hub.serve_via_hub(self, call, hub.chat_side(self, call))


def _unusable_gemini_answer(body: bytes, *, is_sse: bool) -> str | None:
    return unusable_answer(body, is_sse=is_sse, is_error=lambda data: bool(data.get("error")))


def _unusable_gemini_stream(body: bytes, *, is_sse: bool) -> str | None:
    """A JSON-array stream is an answer unless one of its chunks is an error object."""
    try:
        chunks = orjson.loads(body)
    except orjson.JSONDecodeError:
        chunks = None
    if isinstance(chunks, list):
        errors = [c for c in chunks if not isinstance(c, dict) or c.get("error")]
        return upstream_error_message(errors) if errors else None
    return _unusable_gemini_answer(body, is_sse=is_sse)


def _is_sse(upstream: UpstreamResponse) -> bool:
    return "text/event-stream" in upstream.headers.get("content-type", "")


def _error_frame(message: str) -> bytes:
    return encode_data(gemini_error(502, message)[1])
