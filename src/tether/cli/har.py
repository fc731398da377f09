"""Flows as an HTTP Archive (HAR 1.2), the file browsers' devtools open.

Pure. One entry per flow, the client's side of it (the request as received, the answer
as returned); `upstream=True` adds the gateway's own call to the provider as a second
entry. Streamed answers are kept as their event text. Custom fields start with `_`, as
the format asks.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tether import __version__

PAGE_ID = "tether_flows"
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}


def _headers(pairs: list[list[str]] | None) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in pairs or ()]


def _mime(pairs: list[list[str]] | None, default: str) -> str:
    for name, value in pairs or ():
        if name.lower() == "content-type":
            return value
    return default


def _size(text: str | None) -> int:
    return len(text.encode()) if text is not None else -1


def _entry(
    flow: dict[str, Any],
    url: str,
    request: tuple[list[list[str]] | None, str | None],
    response: tuple[int | None, list[list[str]] | None, str | None],
    side: str,
) -> dict[str, Any]:
    request_headers, request_body = request
    status, response_headers, response_body = response
    started = datetime.fromisoformat(flow["received_at"].replace("Z", "+00:00"))
    total = float(flow.get("duration_ms") or 0)
    wait = float(flow.get("first_byte_ms") or total)
    media = "text/event-stream" if flow.get("stream") else "application/json"
    entry: dict[str, Any] = {
        "startedDateTime": started.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "time": total,
        "request": {
            "method": flow.get("method") or "POST",
            "url": url,
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": _headers(request_headers),
            "queryString": [{"name": k, "value": v} for k, v in parse_qsl(urlsplit(url).query)],
            "headersSize": -1,
            "bodySize": _size(request_body),
        },
        "response": {
            "status": status or 0,
            "statusText": _REASONS.get(status or 0, ""),
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": _headers(response_headers),
            "content": {
                "size": max(_size(response_body), 0),
                "mimeType": _mime(response_headers, media),
                "text": response_body or "",
            },
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": _size(response_body),
        },
        "pageref": PAGE_ID,
        "cache": {},
        "timings": {
            "send": 0,
            "wait": wait,
            "receive": max(total - wait, 0),
        },
        "_flowId": flow["id"],
        "_side": side,
        "_sessionId": flow.get("session_id"),
    }
    if request_body is not None:
        entry["request"]["postData"] = {
            "mimeType": _mime(request_headers, "application/json"),
            "text": request_body,
        }
    return entry


def har(flows: list[dict[str, Any]], base_url: str, *, upstream: bool = False) -> dict[str, Any]:
    """A HAR log of `flows` (each as `GET /api/v1/flows/{id}` answers), oldest first."""
    entries = []
    for flow in sorted(flows, key=lambda f: f["id"]):
        entries.append(
            _entry(
                flow,
                base_url.rstrip("/") + flow["path"],
                (flow.get("request_headers"), flow.get("request_body")),
                (flow.get("status"), flow.get("response_headers"), flow.get("response_body")),
                "client",
            )
        )
        if upstream and flow.get("upstream_url"):
            entries.append(
                _entry(
                    flow,
                    flow["upstream_url"],
                    (flow.get("upstream_request_headers"), flow.get("upstream_request_body")),
                    (
                        flow.get("upstream_status"),
                        flow.get("upstream_response_headers"),
                        flow.get("upstream_response_body"),
                    ),
                    "upstream",
                )
            )
    # One page holding every entry: HAR readers (haralyzer, some viewers) group by page.
    first = entries[0]["startedDateTime"] if entries else "1970-01-01T00:00:00Z"
    page = {
        "startedDateTime": first,
        "id": PAGE_ID,
        "title": f"tether flows ({base_url})",
        "pageTimings": {"onContentLoad": -1, "onLoad": -1},
    }
    return {
        "log": {
            "version": "1.2",
            "creator": {"name": "tether", "version": __version__},
            "pages": [page],
            "entries": entries,
        }
    }
