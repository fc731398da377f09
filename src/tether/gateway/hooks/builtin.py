"""The built-in hooks, each made from its `gateway.hooks` entry. They only touch the
request; each reports what it changed in the words the pipeline records."""

from __future__ import annotations

from fnmatch import fnmatchcase

from tether.gateway.hooks.api import Blocked, HookRequest
from tether.gateway.hooks.config import (
    BlockSpec,
    HeadersSpec,
    HookSpec,
    RedactSpec,
    RewriteModelSpec,
    SystemPromptSpec,
)
from tether.gateway.hooks.formats import append_system, offered_tools, redact


class SetHeaders:
    def __init__(self, spec: HeadersSpec) -> None:
        self.set = spec.set
        self.remove = spec.remove

    def on_request(self, request: HookRequest) -> list[str]:
        for name in self.remove:
            request.remove_header(name)
        for name, value in self.set.items():
            request.set_header(name, value)
        return ["headers"]


class RewriteModel:
    def __init__(self, spec: RewriteModelSpec) -> None:
        self.models = spec.models

    def on_request(self, request: HookRequest) -> list[str]:
        model = request.model
        for pattern, target in self.models.items():
            if fnmatchcase(model, pattern):
                if target == model:
                    return []
                request.model = target
                return ["model"]
        return []


class SystemPrompt:
    def __init__(self, spec: SystemPromptSpec) -> None:
        self.text = spec.append

    def on_request(self, request: HookRequest) -> list[str]:
        append_system(request.surface, request.body, self.text)
        return ["system"]


class Redact:
    def __init__(self, spec: RedactSpec) -> None:
        self.patterns = spec.patterns
        self.replacement = spec.replacement

    def on_request(self, request: HookRequest) -> list[str]:
        count = redact(request.body, self.patterns, self.replacement)
        return [f"{count} redacted"] if count else []


class Block:
    def __init__(self, spec: BlockSpec) -> None:
        self.models = spec.models
        self.tools = spec.tools
        self.status = spec.status
        self.message = spec.message

    def on_request(self, request: HookRequest) -> None:
        model = request.model
        if any(fnmatchcase(model, pattern) for pattern in self.models):
            raise Blocked(self.message or f"model {model!r} is not allowed here", self.status)
        if self.tools:
            for tool in offered_tools(request.body):
                if any(fnmatchcase(tool, pattern) for pattern in self.tools):
                    raise Blocked(self.message or f"tool {tool!r} is not allowed here", self.status)


BUILTINS: dict[type[HookSpec], type] = {
    HeadersSpec: SetHeaders,
    RewriteModelSpec: RewriteModel,
    SystemPromptSpec: SystemPrompt,
    RedactSpec: Redact,
    BlockSpec: Block,
}
