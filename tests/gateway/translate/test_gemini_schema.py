"""JSON Schema → Gemini's Schema subset: one test per keyword it rejects or rewrites."""

from __future__ import annotations

import copy

from tether.gateway.translate.gemini_schema import schema_from_gemini, schema_to_gemini


def obj(**properties: dict) -> dict:
    return {"type": "object", "properties": properties}


def test_types_become_upper_case_and_plain_keywords_stay():
    out = schema_to_gemini(
        obj(path={"type": "string", "description": "where", "minLength": 1, "pattern": "^/"})
    )
    assert out == {
        "type": "OBJECT",
        "properties": {
            "path": {"type": "STRING", "description": "where", "minLength": 1, "pattern": "^/"}
        },
    }


def test_dollar_schema_and_id_are_dropped():
    out = schema_to_gemini(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "x",
            **obj(a={"type": "string"}),
        }
    )
    assert "$schema" not in out and "$id" not in out and out["type"] == "OBJECT"


def test_additional_properties_is_dropped_at_every_level():
    schema = {
        **obj(inner={**obj(x={"type": "string"}), "additionalProperties": False}),
        "additionalProperties": False,
    }
    out = schema_to_gemini(schema)
    assert "additionalProperties" not in out
    assert "additionalProperties" not in out["properties"]["inner"]


def test_exclusive_minimum_becomes_minimum():
    out = schema_to_gemini(obj(n={"type": "integer", "exclusiveMinimum": 0}))
    assert out["properties"]["n"] == {"type": "INTEGER", "minimum": 0}


def test_exclusive_maximum_becomes_maximum_unless_maximum_is_set():
    out = schema_to_gemini(
        obj(
            a={"type": "number", "exclusiveMaximum": 10},
            b={"type": "number", "maximum": 5, "exclusiveMaximum": 10},
        )
    )
    assert out["properties"]["a"] == {"type": "NUMBER", "maximum": 10}
    assert out["properties"]["b"] == {"type": "NUMBER", "maximum": 5}


def test_property_names_unique_items_pattern_properties_are_dropped():
    out = schema_to_gemini(
        obj(
            tags={"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            env={
                "type": "object",
                "propertyNames": {"pattern": "^[A-Z]+$"},
                "patternProperties": {"^A": {"type": "string"}},
            },
        )
    )
    assert out["properties"]["tags"] == {"type": "ARRAY", "items": {"type": "STRING"}}
    assert out["properties"]["env"] == {"type": "OBJECT"}


def test_default_and_examples_are_dropped():
    out = schema_to_gemini(obj(n={"type": "integer", "default": 3, "examples": [1, 2]}))
    assert out["properties"]["n"] == {"type": "INTEGER"}


def test_const_becomes_a_one_value_enum():
    out = schema_to_gemini(obj(kind={"const": "file"}))
    assert out["properties"]["kind"] == {"type": "STRING", "enum": ["file"]}


def test_non_string_enum_moves_into_the_description():
    out = schema_to_gemini(obj(level={"type": "integer", "enum": [1, 2, 3], "description": "How"}))
    assert out["properties"]["level"] == {"type": "INTEGER", "description": "How One of: 1, 2, 3."}


def test_type_list_with_null_becomes_nullable():
    out = schema_to_gemini(obj(v={"type": ["string", "null"]}))
    assert out["properties"]["v"] == {"type": "STRING", "nullable": True}


def test_type_list_of_several_types_becomes_any_of():
    out = schema_to_gemini(obj(v={"type": ["string", "integer"]}))
    assert out["properties"]["v"] == {"anyOf": [{"type": "STRING"}, {"type": "INTEGER"}]}


def test_one_of_becomes_any_of_and_a_null_variant_nullable():
    out = schema_to_gemini(
        obj(v={"oneOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]})
    )
    assert out["properties"]["v"] == {
        "nullable": True,
        "anyOf": [{"type": "STRING"}, {"type": "INTEGER"}],
    }


def test_ref_is_inlined_from_defs_and_recursion_stops():
    schema = {
        **obj(node={"$ref": "#/$defs/Node"}),
        "$defs": {"Node": obj(name={"type": "string"}, child={"$ref": "#/$defs/Node"})},
    }
    out = schema_to_gemini(schema)
    node = out["properties"]["node"]
    assert node["properties"]["name"] == {"type": "STRING"}
    assert node["properties"]["child"]["type"] == "OBJECT"
    assert "$defs" not in out


def test_all_of_is_merged():
    out = schema_to_gemini(
        {"allOf": [obj(a={"type": "string"}), {**obj(b={"type": "integer"}), "required": ["b"]}]}
    )
    assert out["properties"] == {"a": {"type": "STRING"}, "b": {"type": "INTEGER"}}
    assert out["required"] == ["b"]


def test_unsupported_format_is_dropped_supported_kept():
    out = schema_to_gemini(
        obj(url={"type": "string", "format": "uri"}, at={"type": "string", "format": "date-time"})
    )
    assert out["properties"]["url"] == {"type": "STRING"}
    assert out["properties"]["at"] == {"type": "STRING", "format": "date-time"}


def test_required_names_missing_from_properties_are_dropped():
    out = schema_to_gemini({**obj(a={"type": "string"}), "required": ["a", "ghost"]})
    assert out["required"] == ["a"]


def test_array_without_items_gets_string_items():
    assert schema_to_gemini(obj(a={"type": "array"}))["properties"]["a"]["items"] == {
        "type": "STRING"
    }


def test_input_is_not_modified():
    schema = {**obj(a={"type": ["string", "null"], "default": "x"}), "additionalProperties": False}
    before = copy.deepcopy(schema)
    schema_to_gemini(schema)
    assert schema == before


def test_gemini_schema_back_to_json_schema():
    out = schema_from_gemini(
        {
            "type": "OBJECT",
            "properties": {
                "complexity_score": {"type": "INTEGER"},
                "note": {"type": "STRING", "nullable": True},
                "tags": {"type": "ARRAY", "items": {"type": "STRING"}},
            },
            "required": ["complexity_score"],
            "propertyOrdering": ["complexity_score", "note"],
        }
    )
    assert out == {
        "type": "object",
        "properties": {
            "complexity_score": {"type": "integer"},
            "note": {"type": ["string", "null"]},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["complexity_score"],
    }
