"""Test plugins for tether's gateway hooks.

`Shout` upper-cases the last user text of a request and the text the model answers
(whole or streamed), on the models matching its `models` option. `Explode` raises in the
phase it is told to, on the models matching its `models` option, with a secret in its
message (which tether must not log), and refuses an unknown phase quoting it."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

SECRET = "sk-plugin-secret-0000"


class Shout:
    def __init__(
        self, models: str = "*", header: str | None = None, after: tuple[str, ...] = ()
    ) -> None:
        self.models = models
        self.header = header
        self.after = after  # hooks to run after, declared by the plugin itself

    def on_request(self, request: Any) -> list[str] | None:
        if not fnmatchcase(request.model, self.models):
            return None
        request.scratch["shout"] = True
        if self.header:
            request.set_header("x-shout", self.header)
        messages = request.body.get("messages") or request.body.get("contents") or []
        last = messages[-1] if messages else None
        if isinstance(last, dict) and isinstance(last.get("content"), str):
            last["content"] = last["content"].upper()
            return ["messages"]
        return None

    def on_response(self, request: Any, response: Any) -> bool:
        """A whole answer's text upper-cased: Anthropic's content, OpenAI chat's message."""
        if not request.scratch.get("shout") or not isinstance(response.body, dict):
            return False
        texts = [b for b in response.body.get("content") or () if b.get("type") == "text"]
        for block in texts:
            block["text"] = block["text"].upper()
        messages = [c["message"] for c in response.body.get("choices") or ()]
        for message in messages:
            message["content"] = (message.get("content") or "").upper()
        return bool(texts or messages)

    async def on_event(self, request: Any, event: Any) -> bool:
        """Streamed text upper-cased in each surface's events: Anthropic's text deltas,
        OpenAI chat's content deltas, Responses' output_text deltas, Gemini's parts."""
        data = event.data
        if not request.scratch.get("shout") or not isinstance(data, dict):
            return False
        delta = data.get("delta")
        if isinstance(delta, dict) and isinstance(delta.get("text"), str):
            delta["text"] = delta["text"].upper()
            return True
        if event.event == "response.output_text.delta" and isinstance(delta, str):
            data["delta"] = delta.upper()
            return True
        texts = [c.get("delta", {}) for c in data.get("choices") or ()]
        texts += [
            part
            for candidate in data.get("candidates") or ()
            for part in candidate.get("content", {}).get("parts") or ()
        ]
        for holder in texts:
            key = "content" if "content" in holder else "text"
            if isinstance(holder.get(key), str):
                holder[key] = holder[key].upper()
        return bool(texts)


class Explode:
    def __init__(self, models: str = "*", phase: str = "request") -> None:
        if phase not in ("request", "response", "event"):
            # Quotes the value, as plugins do; the value may be a secret put in the wrong
            # option, which tether must not print.
            raise ValueError(f"phase must be request, response or event, not {phase!r}")
        self.models = models
        self.phase = phase

    def _maybe(self, request: Any, phase: str) -> None:
        if phase == self.phase and fnmatchcase(request.model, self.models):
            raise RuntimeError(f"exploded holding {SECRET}")

    def on_request(self, request: Any) -> None:
        self._maybe(request, "request")

    def on_response(self, request: Any, response: Any) -> None:
        self._maybe(request, "response")

    def on_event(self, request: Any, event: Any) -> None:
        self._maybe(request, "event")
