"""JSON Schema ⇄ the OpenAPI subset Gemini takes for function parameters and response schemas.

`schema_to_gemini` rewrites a JSON Schema (Claude Code's tool schemas, MCP tools) into what
Gemini's `Schema` accepts: keywords it rejects are left out (`$schema`, `additionalProperties`,
`propertyNames`, `uniqueItems`, `patternProperties`, `default`, `examples`, ...), the rest is
rewritten where a meaning survives (`type: [t, "null"]` → `nullable`, `const` → one-value
`enum`, `oneOf` → `anyOf`, `exclusiveMinimum` → `minimum`, `$ref` → the definition inlined).
`schema_from_gemini` goes the other way for schemas a Gemini client sends (upper-case types,
`nullable`). Both are pure and never modify their input.
"""

from __future__ import annotations

from typing import Any

__all__ = ["schema_from_gemini", "schema_to_gemini"]

# Keywords Gemini's Schema takes whose values are copied as they are.
_PLAIN = (
    "title",
    "description",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
)
_TYPES = {"string", "number", "integer", "boolean", "array", "object"}
# Gemini documents these formats; others (uri, email, ...) are rejected by some models.
_FORMATS = {"string": {"enum", "date-time"}, "number": {"float", "double"}}
_FORMATS["integer"] = {"int32", "int64"}
_MAX_DEPTH = 32


def schema_to_gemini(schema: Any) -> dict[str, Any]:
    """A JSON Schema as a Gemini `Schema` (always an object schema at the top)."""
    if not isinstance(schema, dict):
        return {"type": "OBJECT", "properties": {}}
    defs: dict[str, Any] = {}
    for key in ("$defs", "definitions"):
        if isinstance(schema.get(key), dict):
            defs.update(schema[key])
    return _to_gemini(schema, defs, 0)


def _resolve_ref(ref: Any, defs: dict[str, Any]) -> Any:
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        return defs.get(name)
    return None


def _to_gemini(schema: dict[str, Any], defs: dict[str, Any], depth: int) -> dict[str, Any]:
    if depth > _MAX_DEPTH:
        return {}  # a recursive $ref: Gemini has no references, so stop unrolling
    if "$ref" in schema:
        target = _resolve_ref(schema["$ref"], defs)
        merged = {**(target if isinstance(target, dict) else {}), **schema}
        merged.pop("$ref")
        return _to_gemini(merged, defs, depth + 1)
    all_of = schema.get("allOf")
    if isinstance(all_of, list) and all_of:
        merged = {k: v for k, v in schema.items() if k != "allOf"}
        for part in all_of:
            if isinstance(part, dict):
                part = _to_gemini(part, defs, depth + 1)
                for key, value in part.items():
                    if key == "properties":
                        merged["properties"] = {**merged.get("properties", {}), **value}
                    elif key == "required":
                        merged["required"] = [*merged.get("required", []), *value]
                    else:
                        merged.setdefault(key, value)
        return _to_gemini(merged, defs, depth + 1)

    out: dict[str, Any] = {}
    kind = schema.get("type")
    nullable = schema.get("nullable") is True
    if isinstance(kind, list):
        others = [t for t in kind if t != "null"]
        nullable = nullable or len(others) < len(kind)
        if len(others) > 1:
            # Several types: Gemini expresses that only as anyOf.
            out["anyOf"] = [_to_gemini({**schema, "type": t}, defs, depth + 1) for t in others]
            if nullable:
                out["nullable"] = True
            return out
        kind = others[0] if others else None
    if isinstance(kind, str) and kind.lower() in _TYPES:
        kind = kind.lower()
        out["type"] = kind.upper()
    elif kind is None and isinstance(schema.get("properties"), dict):
        kind = "object"
        out["type"] = "OBJECT"
    else:
        kind = None
    if nullable:
        out["nullable"] = True
    for key in _PLAIN:
        value = schema.get(key)
        if value is not None and not isinstance(value, bool):
            out[key] = value
    # Gemini has no exclusive bounds: the inclusive bound is the nearest it can say.
    for exclusive, inclusive in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = schema.get(exclusive)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out.setdefault(inclusive, value)
    fmt = schema.get("format")
    if isinstance(fmt, str) and kind and fmt in _FORMATS.get(kind, ()):
        out["format"] = fmt
    enum = schema.get("enum")
    if "const" in schema and enum is None:
        enum = [schema["const"]]
    if isinstance(enum, list) and enum:
        if all(isinstance(v, str) for v in enum):
            out["enum"] = enum
            out["type"] = "STRING"
        else:
            # Gemini takes only string enums; say the allowed values instead.
            allowed = ", ".join(str(v) for v in enum)
            note = f"One of: {allowed}."
            out["description"] = f"{out['description']} {note}" if "description" in out else note
    properties = schema.get("properties")
    if isinstance(properties, dict):
        out["properties"] = {
            str(name): _to_gemini(sub, defs, depth + 1) if isinstance(sub, dict) else {}
            for name, sub in properties.items()
        }
        required = schema.get("required")
        if isinstance(required, list):
            kept = [r for r in required if r in properties]
            if kept:
                out["required"] = kept
    items = schema.get("items")
    if isinstance(items, dict):
        out["items"] = _to_gemini(items, defs, depth + 1)
    elif isinstance(items, list) and items and isinstance(items[0], dict):
        out["items"] = _to_gemini(items[0], defs, depth + 1)  # tuple form: the first
    elif kind == "array":
        out["items"] = {"type": "STRING"}  # Gemini requires items on an array
    options = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(options, list) and options:
        variants = [o for o in options if isinstance(o, dict)]
        if any(v.get("type") == "null" for v in variants):
            out["nullable"] = True
            variants = [v for v in variants if v.get("type") != "null"]
        converted = [_to_gemini(v, defs, depth + 1) for v in variants]
        if len(converted) == 1:
            for key, value in converted[0].items():
                out.setdefault(key, value)
        elif converted:
            out["anyOf"] = converted
    return out


def schema_from_gemini(schema: Any) -> dict[str, Any]:
    """A Gemini `Schema` (OpenAPI subset, types like "STRING") as a JSON Schema."""
    if not isinstance(schema, dict):
        return {"type": "object", "properties": {}}
    return _from_gemini(schema, 0)


def _from_gemini(schema: dict[str, Any], depth: int) -> dict[str, Any]:
    if depth > _MAX_DEPTH:
        return {}
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, str):
            kind = value.lower()
            if kind == "type_unspecified":
                continue
            out["type"] = [kind, "null"] if schema.get("nullable") is True else kind
        elif key == "nullable" or key == "propertyOrdering":
            continue
        elif key == "properties" and isinstance(value, dict):
            out[key] = {
                n: _from_gemini(s, depth + 1) if isinstance(s, dict) else {}
                for n, s in value.items()
            }
        elif key == "items" and isinstance(value, dict):
            out[key] = _from_gemini(value, depth + 1)
        elif key == "anyOf" and isinstance(value, list):
            out[key] = [_from_gemini(v, depth + 1) for v in value if isinstance(v, dict)]
        else:
            out[key] = value
    return out
