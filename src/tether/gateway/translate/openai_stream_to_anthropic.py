"""OpenAI chat.completion.chunk dicts → Anthropic SSE events (`OpenAIStreamTranslator`). Pure."""

from __future__ import annotations

from typing import Any

from tether.gateway.translate.anthropic_request_to_openai import THINKING_SIGNATURE, ToolNames
from tether.gateway.translate.errors import upstream_error_message
from tether.gateway.translate.hub_stream import Event, HubStream, message_end, message_start
from tether.gateway.translate.openai_response_to_anthropic import (
    _ClientIds,
    _new_message_id,
    _stop_reason,
    _usage,
)

_THINK_OPEN = "<think>"
_THINK_CLOSE = "</think>"


def _partial_tag(s: str, tag: str) -> int:
    """Length of the longest proper prefix of `tag` that `s` ends with."""
    for k in range(min(len(tag) - 1, len(s)), 0, -1):
        if s.endswith(tag[:k]):
            return k
    return 0


class _Tool:
    __slots__ = ("args", "block", "id", "name")

    def __init__(self) -> None:
        self.id = ""
        self.name = ""
        self.args: list[str] = []
        self.block: int | None = None


class OpenAIStreamTranslator(HubStream):
    """chat.completion.chunk dicts in, Anthropic SSE `(event, data)` pairs out.

    Blocks open lazily on the first non-empty delta and strictly one after
    another. The first tool call streams its arguments live; parallel calls
    whose chunks interleave by `index` are buffered and emitted whole, in index
    order, when the stream finishes (Anthropic blocks cannot interleave).
    Text or thinking that arrives after tool calls started follows them.
    """

    def __init__(
        self,
        model: str,
        tool_names: ToolNames,
        message_id: str | None = None,
        *,
        input_tokens: int = 0,
        think_tags: bool = True,
    ) -> None:
        self.model = model
        self.tool_names = tool_names
        self.message_id = message_id or _new_message_id()
        self._input_tokens = input_tokens
        self._think_tags = think_tags
        self._client_id = _ClientIds(self.message_id)
        self._started = False
        self._next_index = 0
        self._open: str | None = None  # "text" | "thinking" | "tool_use"
        self._tools: dict[int, _Tool] = {}
        self._live: _Tool | None = None
        self._deferred: list[list[str]] = []  # [kind, text] after tool calls began
        self._finish: str | None = None
        self._matched: Any = None
        self._usage: Any = None
        self._text_seen = False  # non-blank text was emitted: `<think>` is text now
        self._in_think = False
        self._tag_buf = ""
        self._blank = ""  # whitespace held until a text block has something to show

    # public API

    def feed(self, chunk: dict) -> list[Event]:
        out: list[Event] = []
        if self._done:
            return out
        if not self._started:
            self._start(out)
        if chunk.get("error"):
            out.extend(self.fail("api_error", upstream_error_message(chunk)))
            return out
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue  # n > 1 is never requested
            delta = choice.get("delta")
            if delta:
                reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                if reasoning and isinstance(reasoning, str):
                    self._thinking(reasoning, out)
                content = delta.get("content")
                if content and isinstance(content, str):
                    self._content(content, out)
                calls = delta.get("tool_calls")
                if calls:
                    for call in calls:
                        self._tool_delta(call, out)
                elif delta.get("function_call"):
                    self._tool_delta({"index": 0, "function": delta["function_call"]}, out)
            finish = choice.get("finish_reason")
            if finish:
                self._finish = finish
                self._matched = choice.get("stop_reason")
                if finish == "error":
                    out.extend(self.fail("api_error", upstream_error_message(choice)))
                    return out
        usage = chunk.get("usage")
        if usage:
            self._usage = usage
        return out

    def feed_data(self, data: str) -> list[Event]:
        """One SSE `data:` payload as received (JSON text or `[DONE]`)."""
        if data == "[DONE]":
            return self.finish()
        return super().feed_data(data)

    def finish(self) -> list[Event]:
        out: list[Event] = []
        if self._done:
            return out
        if not self._started:
            self._start(out)
        self._flush_pending_text(out)
        self._close(out)
        for index in sorted(self._tools):
            tool = self._tools[index]
            if tool.block is None:
                self._open_tool(tool, out)
                self._close(out)
        for kind, text in self._deferred:
            if kind == "text":
                text = text.lstrip()
                if not text:
                    continue
            self._open_block(kind, out)
            out.append(self._delta(kind, text))
            self._close(out)
        stop_reason, stop_sequence = _stop_reason(self._finish, bool(self._tools), self._matched)
        out.extend(message_end(stop_reason, stop_sequence, _usage(self._usage, self._input_tokens)))
        self._done = True
        return out

    # internals

    def _start(self, out: list[Event]) -> None:
        self._started = True
        usage = {
            "input_tokens": self._input_tokens,
            "output_tokens": 0,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }
        out.append(message_start(self.message_id, self.model, usage))

    def _open_block(self, kind: str, out: list[Event], tool: _Tool | None = None) -> None:
        self._close(out)
        index = self._next_index
        self._next_index += 1
        if kind == "text":
            block: dict[str, Any] = {"type": "text", "text": ""}
        elif kind == "thinking":
            block = {"type": "thinking", "thinking": "", "signature": ""}
        else:
            assert tool is not None
            tool.block = index
            block = {
                "type": "tool_use",
                "id": self._client_id(tool.id),
                "name": self.tool_names.client(tool.name),
                "input": {},
            }
        self._open = kind
        out.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": block},
            )
        )

    def _close(self, out: list[Event]) -> None:
        if self._open is None:
            return
        index = self._next_index - 1
        if self._open == "thinking":
            out.append(
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "signature_delta", "signature": THINKING_SIGNATURE},
                    },
                )
            )
        out.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        self._open = None

    def _delta(self, kind: str, value: str) -> Event:
        if kind == "text":
            delta = {"type": "text_delta", "text": value}
        elif kind == "thinking":
            delta = {"type": "thinking_delta", "thinking": value}
        else:
            delta = {"type": "input_json_delta", "partial_json": value}
        return (
            "content_block_delta",
            {"type": "content_block_delta", "index": self._next_index - 1, "delta": delta},
        )

    def _defer(self, kind: str, text: str) -> None:
        if self._deferred and self._deferred[-1][0] == kind:
            self._deferred[-1][1] += text
        else:
            self._deferred.append([kind, text])

    def _thinking(self, text: str, out: list[Event]) -> None:
        if self._tools:
            self._defer("thinking", text)
            return
        self._blank = ""
        if self._open != "thinking":
            self._open_block("thinking", out)
        out.append(self._delta("thinking", text))

    def _text(self, text: str, out: list[Event]) -> None:
        if self._tools:
            self._defer("text", text)
            return
        if self._open != "text":
            if self._blank:
                text = self._blank + text
            if text.isspace():
                self._blank = text  # never open a block that would stay blank
                return
            self._blank = ""
            text = text.lstrip()
            self._open_block("text", out)
        self._text_seen = True
        out.append(self._delta("text", text))

    def _content(self, text: str, out: list[Event]) -> None:
        if not self._think_tags or (self._text_seen and not self._in_think):
            self._text(text, out)
            return
        s = self._tag_buf + text if self._tag_buf else text
        self._tag_buf = ""
        while s:
            if self._in_think:
                end = s.find(_THINK_CLOSE)
                if end == -1:
                    keep = _partial_tag(s, _THINK_CLOSE)
                    if keep:
                        s, self._tag_buf = s[:-keep], s[-keep:]
                    if s:
                        self._thinking(s, out)
                    return
                if end:
                    self._thinking(s[:end], out)
                self._in_think = False
                s = s[end + len(_THINK_CLOSE) :]
                continue
            if self._text_seen:
                self._text(s, out)
                return
            # `<think>` counts only before any visible text (where reasoning
            # models put it); later it is just text about tags.
            lead = s.lstrip()
            if lead.startswith(_THINK_OPEN):
                self._in_think = True
                self._blank = ""
                s = lead[len(_THINK_OPEN) :]
                continue
            if lead and _THINK_OPEN.startswith(lead):
                self._tag_buf = s  # maybe the start of `<think>`
                return
            self._text(s, out)
            return

    def _tool_delta(self, call: dict, out: list[Event]) -> None:
        index = call.get("index")
        if not isinstance(index, int):
            # Some servers (Gemini's compat layer) omit `index`: a new id is a new
            # call, a known id or none continues one.
            cid = call.get("id")
            known = [i for i, t in self._tools.items() if cid and t.id == cid]
            if known:
                index = known[0]
            elif cid or not self._tools:
                index = max(self._tools, default=-1) + 1
            else:
                index = max(self._tools)
        tool = self._tools.get(index)
        if tool is None:
            if not self._tools:
                self._flush_pending_text(out)
            tool = self._tools[index] = _Tool()
        if call.get("id") and not tool.id:
            tool.id = call["id"]
        function = call.get("function") or {}
        name = function.get("name")
        if name and tool.block is None:
            # Names arrive whole (possibly resent) or in fragments.
            if not tool.name or name.startswith(tool.name):
                tool.name = name
            elif name != tool.name:
                tool.name += name
        args = function.get("arguments")
        if args:
            if tool is self._live:
                out.append(self._delta("tool_use", args))
                return
            tool.args.append(args)
        if self._live is None and tool.name and tool.args and index == min(self._tools):
            self._live = tool
            self._open_tool(tool, out)

    def _open_tool(self, tool: _Tool, out: list[Event]) -> None:
        self._open_block("tool_use", out, tool)
        # A call without arguments still needs valid JSON for its input.
        out.append(self._delta("tool_use", "".join(tool.args) or "{}"))
        tool.args = []

    def _flush_pending_text(self, out: list[Event]) -> None:
        """Tool calls begin or the stream ends: what the tag parser held back is text or
        thinking now."""
        if self._tag_buf:
            rest, self._tag_buf = self._tag_buf, ""
            if self._in_think:
                self._thinking(rest, out)
            else:
                self._text(rest, out)
