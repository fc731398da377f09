"""The Gemini API's shapes for the scripted upstream (tests/gateway/upstreams.py): replies
as generativelanguage.googleapis.com sends them, so `ScriptedUpstream` can play Gemini.

Streamed answers are `data: <GenerateContentResponse>` frames (`alt=sse`); text comes in
pieces, function calls whole, and the last chunk carries finishReason and usageMetadata.
"""

from __future__ import annotations

from typing import Any

import orjson

from tests.gateway.upstreams import Json, Received, Sse

GM_USAGE = {
    "promptTokenCount": 21,
    "candidatesTokenCount": 6,
    "totalTokenCount": 31,
    "thoughtsTokenCount": 4,
}


def gm_response(
    parts: list[dict[str, Any]],
    finish: str | None = "STOP",
    usage: dict[str, Any] | None = None,
    model: str = "gemini-real",
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    out: dict[str, Any] = {"candidates": [candidate], "modelVersion": model, "responseId": "r1"}
    if usage is not None:
        out["usageMetadata"] = usage
    return out


def gm_frame(response: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(response) + b"\r\n\r\n"


def gm_text_stream(*texts: str, thoughts: tuple[str, ...] = ()) -> list[bytes]:
    frames = [gm_frame(gm_response([{"text": t, "thought": True}], None)) for t in thoughts]
    frames += [gm_frame(gm_response([{"text": t}], None)) for t in texts[:-1]]
    frames.append(gm_frame(gm_response([{"text": texts[-1]}], "STOP", GM_USAGE)))
    return frames


def gm_call_stream(
    calls: list[tuple[str, dict[str, Any]]], text: str = "", signature: str = ""
) -> list[bytes]:
    """Text (if any), then parallel function calls in one chunk, the first one signed."""
    frames = [gm_frame(gm_response([{"text": text}], None))] if text else []
    parts: list[dict[str, Any]] = []
    for i, (name, args) in enumerate(calls):
        part: dict[str, Any] = {"functionCall": {"name": name, "args": args}}
        if i == 0 and signature:
            part["thoughtSignature"] = signature
        parts.append(part)
    frames.append(gm_frame(gm_response(parts, "STOP", GM_USAGE)))
    return frames


def gm_error(status: int, message: str, name: str) -> Json:
    return Json({"error": {"code": status, "message": message, "status": name}}, status)


def gm_reply(
    text: str = "Hello from Gemini", calls: list[tuple[str, dict[str, Any]]] | None = None
):
    """A reply that answers as Gemini would for the method in the path."""

    def reply(received: Received) -> Json | Sse:
        if received.path.endswith(":countTokens"):
            return Json({"totalTokens": 321})
        if received.path.endswith(":streamGenerateContent"):
            return Sse(gm_call_stream(calls) if calls else gm_text_stream(*text.split(" ")))
        parts = (
            [{"functionCall": {"name": n, "args": a}} for n, a in calls]
            if calls
            else [{"text": text}]
        )
        return Json(gm_response(parts, "STOP", GM_USAGE))

    return reply
