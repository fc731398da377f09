"""An OpenAI Responses upstream (`type: openai-responses`): a model served only on
`/v1/responses`.

Responses clients pass through (bytes unchanged but model and auth). Anthropic Messages
clients (Claude Code) and Chat Completions clients reach it through the hub: their request
becomes Anthropic Messages (as it already is, for the former), the hub request becomes a
Responses request, and the answer comes back the same way.
"""

from __future__ import annotations

from typing import Any

# The module, not its names: the hub imports the providers, and may be imported first.
from tether.gateway import hub
from tether.gateway.providers.base import Call
from tether.gateway.providers.openai import OpenAIProvider


class OpenAIResponsesProvider(OpenAIProvider):
    async def messages(self, call: Call) -> Any:
        return await hub.serve_via_hub(self, call, hub.messages_side(self))

    async def chat_completions(self, call: Call) -> Any:
        return await hub.serve_via_hub(self, call, hub.chat_side(self, call))
