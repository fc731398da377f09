"""The shape a Responses request must have before anything reads it.

Pure. Each field tether reads is checked for its JSON type, so a body of the wrong shape
is refused with one 400 naming the field (as OpenAI does) instead of failing somewhere
inside a translator, or being half-read (a `stream: "yes"` that streams on one side of
the gateway and not on the other).
"""

from __future__ import annotations

from typing import Any

__all__ = ["responses_shape_problem"]

_STRING = (str,)
_OBJECT = (dict,)
_LIST = (list,)
_BOOL = (bool,)

# Top-level field → the JSON types it may have (null is always allowed).
_FIELDS: dict[str, tuple[type, ...]] = {
    "model": _STRING,
    "input": (str, list),
    "instructions": _STRING,
    "tools": _LIST,
    "tool_choice": (str, dict),
    "parallel_tool_calls": _BOOL,
    "max_output_tokens": (int,),
    "temperature": (int, float),
    "top_p": (int, float),
    "reasoning": _OBJECT,
    "text": _OBJECT,
    "include": _LIST,
    "stream": _BOOL,
    "metadata": _OBJECT,
    "prompt_cache_key": _STRING,
    "user": _STRING,
    "safety_identifier": _STRING,
}
# Fields of an input item or a tool → the JSON types they may have.
_ITEM_FIELDS: dict[str, tuple[type, ...]] = {
    "type": _STRING,
    "role": _STRING,
    "content": (str, list),
    "call_id": _STRING,
    "name": _STRING,
    "arguments": (str, dict),
    "input": _STRING,
    "output": (str, list),
    "encrypted_content": _STRING,
}
_TOOL_FIELDS: dict[str, tuple[type, ...]] = {
    "type": _STRING,
    "name": _STRING,
    "description": _STRING,
    "parameters": _OBJECT,
    "format": _OBJECT,
    "tools": _LIST,
}
_PART_FIELDS: dict[str, tuple[type, ...]] = {
    "type": _STRING,
    "text": _STRING,
    "refusal": _STRING,
    "image_url": _STRING,
    "file_data": _STRING,
    "file_url": _STRING,
}
_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "a boolean"}
_NAMES.update({dict: "an object", list: "a list"})


def responses_shape_problem(body: dict[str, Any]) -> str | None:
    """Why `body` is not a Responses request tether can read, naming the field; or None."""
    problem = _fields(body, _FIELDS, "")
    if problem:
        return problem
    items = body.get("input")
    if isinstance(items, list):
        for i, item in enumerate(items):
            problem = _object(item, _ITEM_FIELDS, f"input[{i}]") or _parts(item, f"input[{i}]")
            if problem:
                return problem
    for i, tool in enumerate(body.get("tools") or ()):
        problem = _object(tool, _TOOL_FIELDS, f"tools[{i}]")
        for j, inner in enumerate((tool.get("tools") or ()) if problem is None else ()):
            problem = problem or _object(inner, _TOOL_FIELDS, f"tools[{i}].tools[{j}]")
        if problem:
            return problem
    return None


def _parts(item: dict[str, Any], where: str) -> str | None:
    for key in ("content", "output"):
        value = item.get(key)
        for j, part in enumerate(value if isinstance(value, list) else ()):
            problem = _object(part, _PART_FIELDS, f"{where}.{key}[{j}]")
            if problem:
                return problem
    return None


def _object(value: Any, fields: dict[str, tuple[type, ...]], where: str) -> str | None:
    if not isinstance(value, dict):
        return f"{where}: must be an object, not {_kind(value)}"
    return _fields(value, fields, f"{where}.")


def _fields(value: dict[str, Any], fields: dict[str, tuple[type, ...]], prefix: str) -> str | None:
    for key, types in fields.items():
        field = value.get(key)
        if field is None or _is(field, types):
            continue
        # A number field takes integers too; "a number" says both.
        wanted = " or ".join(_NAMES[t] for t in types if not (t is int and float in types))
        return f"{prefix}{key}: must be {wanted}, not {_kind(field)}"
    return None


def _is(value: Any, types: tuple[type, ...]) -> bool:
    # JSON true/false are Python bools, which are ints too: a number field takes no bool.
    if isinstance(value, bool):
        return bool in types
    return isinstance(value, types)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return _NAMES.get(type(value), "null")
