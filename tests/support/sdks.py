"""The official SDKs the gateway tests use as clients, imported when a test first uses one.

Importing `anthropic`, `openai` and `google.genai` costs seconds of CPU, and every
pytest-xdist worker collects every test module, so module-level imports made each of the
four workers pay for them, although one or two run the tests that use them. `from
tests.support.sdks import anthropic, openai` reads the same (`anthropic.Anthropic(...)`,
`pytest.raises(openai.APIError)`) and imports on the first attribute asked for.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class _Lazy:
    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        # pytest looks for fixture markers and the like on every module-level object
        # while it collects; those (private names) must not import the SDK.
        if attr.startswith("_"):
            raise AttributeError(attr)
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


anthropic: Any = _Lazy("anthropic")
openai: Any = _Lazy("openai")
genai: Any = _Lazy("google.genai")
genai_errors: Any = _Lazy("google.genai.errors")
genai_types: Any = _Lazy("google.genai.types")
