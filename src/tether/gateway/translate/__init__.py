"""Pure translation between the Anthropic Messages and OpenAI Chat Completions formats.

No I/O and no logging here: the gateway app parses bodies once, calls these
functions over dicts, and frames the results. See ARCHITECTURE.md, "Translation".
"""

from __future__ import annotations

from tether.gateway.translate.anthropic_to_openai import (
    OpenAIStreamTranslator,
    ToolNames,
    request_to_openai,
    response_from_openai,
)
from tether.gateway.translate.errors import (
    UpstreamResponseError,
    anthropic_error,
    openai_error,
    upstream_error_message,
)
from tether.gateway.translate.openai_to_anthropic import (
    AnthropicStreamTranslator,
    request_to_anthropic,
    response_from_anthropic,
)
from tether.gateway.translate.sse import encode_sse

__all__ = [
    "AnthropicStreamTranslator",
    "OpenAIStreamTranslator",
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
