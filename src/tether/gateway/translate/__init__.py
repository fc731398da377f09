"""Pure translation between the Anthropic Messages and OpenAI Chat Completions formats.

No I/O and no logging here: the gateway app parses bodies once, calls these
functions over dicts, and frames the results. See ARCHITECTURE.md, "Translation".
"""

from __future__ import annotations

from tether.gateway.translate.anthropic_request_to_openai import ToolNames, request_to_openai
from tether.gateway.translate.anthropic_response_to_openai import response_from_anthropic
from tether.gateway.translate.anthropic_stream_to_openai import AnthropicStreamTranslator
from tether.gateway.translate.errors import (
    UpstreamResponseError,
    anthropic_error,
    openai_error,
    upstream_error_message,
)
from tether.gateway.translate.openai_request_to_anthropic import request_to_anthropic
from tether.gateway.translate.openai_response_to_anthropic import response_from_openai
from tether.gateway.translate.openai_stream_to_anthropic import OpenAIStreamTranslator
from tether.gateway.translate.sse import SSEParser, encode_sse

__all__ = [
    "AnthropicStreamTranslator",
    "OpenAIStreamTranslator",
    "SSEParser",
    "ToolNames",
    "UpstreamResponseError",
    "anthropic_error",
    "encode_sse",
    "openai_error",
    "request_to_anthropic",
    "request_to_openai",
    "response_from_anthropic",
    "response_from_openai",
    "upstream_error_message",
]
