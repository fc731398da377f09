"""Real agents through the gateway's Gemini paths, offline against scripted upstreams.

- Gemini CLI (npm `@google/gemini-cli`, installed by scripts/test into .cache/npm) with
  `gemini -p --yolo`, through tether to a scripted Anthropic upstream and to a scripted
  OpenAI upstream: its routing classifier is answered, it calls write_file, the file is
  written, and the turn ends.
- Gemini CLI to a scripted Gemini upstream (passthrough): the upstream sees exactly what
  Gemini CLI sent. With TETHER_RECORD_FIXTURES=1 those requests are saved as fixtures
  (tests/gateway/fixtures/gemini_cli_*.json): a classifier call, a prompt, a tool result,
  a resumed chat.
- Claude Code (the `claude` binary of claude-agent-sdk) through tether to a scripted Gemini
  upstream finishes a Write turn.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest

from tests.gateway.conftest import GATEWAY_KEY, gateway_config, start_gateway
from tests.gateway.gemini_upstream import GM_USAGE, gm_call_stream, gm_response, gm_text_stream
from tests.gateway.test_claude_code import CLAUDE, FILE_TEXT, check_result, run_claude
from tests.gateway.upstreams import (
    Json,
    Received,
    ScriptedUpstream,
    Sse,
    an_event,
    an_message,
    an_text_stream,
    an_tool_stream,
    oa_completion,
    oa_text_stream,
    oa_tool_stream,
)
from tests.support.gemini_cli import quiet_gemini_home
from tests.support.server import TetherServer

ROOT = Path(__file__).parents[2]
GEMINI = ROOT / ".cache" / "npm" / "node_modules" / ".bin" / "gemini"
FIXTURES = Path(__file__).parent / "fixtures"
GREETING = "hello from gemini cli\n"

pytestmark = pytest.mark.slow


def need_gemini() -> None:
    if not GEMINI.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("gemini CLI missing: scripts/test installs it from npm")
        pytest.skip("gemini CLI not installed (scripts/test installs it when npm is reachable)")


def run_gemini(
    gateway: TetherServer, cwd: Path, home: Path, *args: str, wrapper: tuple[str, ...] = ()
) -> dict[str, Any]:
    """One non-interactive Gemini CLI run (under `wrapper`, if given); its JSON output."""
    quiet_gemini_home(home)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI", "GOOGLE"))}
    env.update(
        HOME=str(home),
        GEMINI_API_KEY=GATEWAY_KEY,
        GOOGLE_GEMINI_BASE_URL=gateway.url,
        GEMINI_CLI_TRUST_WORKSPACE="true",
        NO_COLOR="1",
    )
    proc = subprocess.run(
        [*wrapper, str(GEMINI), *args, "--output-format", "json"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, f"gemini exited {proc.returncode}: {proc.stderr[-2000:]}"
    return json.loads(proc.stdout)


def json_answer(schema: dict[str, Any]) -> str:
    """An answer that fits the JSON schema of Gemini CLI's side calls (classifier,
    next-speaker check)."""
    answer: dict[str, Any] = {}
    for name, prop in (schema.get("properties") or {}).items():
        kind = str(prop.get("type", "string")).lower()
        if name == "next_speaker":
            answer[name] = "user"
        elif kind == "integer":
            answer[name] = 10
        else:
            answer[name] = "simple"
    return json.dumps(answer)


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    cwd, home = tmp_path / "proj", tmp_path / "home"
    cwd.mkdir()
    home.mkdir()
    return cwd, home


def gateway_to(
    tmp_path: Path, upstream: ScriptedUpstream, default: str, keys: tuple[str, ...] = (GATEWAY_KEY,)
) -> TetherServer:
    config = gateway_config(upstream, upstream, keys=list(keys), default=default)
    config["gateway"]["providers"]["gm"] = {
        "type": "gemini",
        "base_url": upstream.url,
        "api_key": "gm-upstream-key",
        "retries": 0,
    }
    config["gateway"]["routes"].insert(0, {"match": "claude-*", "provider": default})
    return start_gateway(tmp_path / "gw", config)


def check_gemini_turn(output: dict[str, Any], cwd: Path) -> None:
    assert "I wrote hello.txt" in output["response"]
    assert (cwd / "hello.txt").read_text() == GREETING
    assert output["stats"]["tools"]["byName"]["write_file"]["success"] == 1


def test_gemini_cli_through_anthropic_upstream(dirs, tmp_path):
    need_gemini()
    cwd, home = dirs
    upstream = ScriptedUpstream().start()
    write = json.dumps({"file_path": str(cwd / "hello.txt"), "content": GREETING})

    def reply(received: Received) -> Json | Sse:
        body = received.json
        model = body["model"]
        fmt = (body.get("output_config") or {}).get("format")
        if fmt:
            return Json(an_message(json_answer(fmt["schema"]), model=model))
        if "tool_result" in json.dumps(body["messages"]):
            return Sse(an_text_stream("I wrote ", "hello.txt.", model=model))
        return Sse(thinking_then(an_tool_stream("toolu_w1", "write_file", write, model=model)))

    upstream.default = reply
    gateway = gateway_to(tmp_path, upstream, "an")
    try:
        output = run_gemini(gateway, cwd, home, "-p", "Create hello.txt with a greeting.", "--yolo")
    finally:
        gateway.stop()
        upstream.stop()
    check_gemini_turn(output, cwd)
    bodies = [r.json for r in upstream.received]
    assert all(r.headers["x-api-key"] == "an-upstream-key" for r in upstream.received)
    assert any((b.get("output_config") or {}).get("format") for b in bodies)  # the classifier
    main = [b for b in bodies if b.get("tools")]
    assert len(main) == 2
    assert "write_file" in [t["name"] for t in main[0]["tools"]]
    uses = [b for m in main[1]["messages"] for b in m["content"] if b["type"] == "tool_use"]
    results = [b for m in main[1]["messages"] for b in m["content"] if b["type"] == "tool_result"]
    assert [u["name"] for u in uses] == ["write_file"]
    assert [r["tool_use_id"] for r in results] == [uses[0]["id"]]
    # The signed thinking went out to Gemini CLI inside a thoughtSignature and came back.
    turn = next(m for m in main[1]["messages"] if m["role"] == "assistant")["content"]
    assert turn[0] == {"type": "thinking", "thinking": "Plan the file.", "signature": "sig-an-1"}


def thinking_then(frames: list[bytes]) -> list[bytes]:
    """An Anthropic tool stream with a signed thinking block before the tool call."""

    def event(name: str, data: dict[str, Any]) -> bytes:
        return an_event(name, {"type": name, **data})

    thinking = [
        event(
            "content_block_start",
            {"index": 0, "content_block": {"type": "thinking", "thinking": ""}},
        ),
        event(
            "content_block_delta",
            {"index": 0, "delta": {"type": "thinking_delta", "thinking": "Plan the file."}},
        ),
        event(
            "content_block_delta",
            {"index": 0, "delta": {"type": "signature_delta", "signature": "sig-an-1"}},
        ),
        event("content_block_stop", {"index": 0}),
    ]
    # The tool block moves to index 1.
    shifted = [f.replace(b'"index":0', b'"index":1') for f in frames[1:]]
    return [frames[0], *thinking, *shifted]


def test_gemini_cli_through_openai_upstream(dirs, tmp_path):
    need_gemini()
    cwd, home = dirs
    upstream = ScriptedUpstream().start()
    write = json.dumps({"file_path": str(cwd / "hello.txt"), "content": GREETING})

    def reply(received: Received) -> Json | Sse:
        body = received.json
        system = body["messages"][0]["content"] if body["messages"][0]["role"] == "system" else ""
        if "fits this JSON schema: " in system:
            # The classifier's schema reaches an OpenAI server in words.
            schema = json.loads(system.rsplit("fits this JSON schema: ", 1)[1])
            text = json_answer(schema)
            return Sse(oa_text_stream(text)) if body.get("stream") else Json(oa_completion(text))
        if any(m["role"] == "tool" for m in body["messages"]):
            return Sse(oa_text_stream("I wrote ", "hello.txt."))
        return Sse(oa_tool_stream([("call_w1", "write_file", write)], split=9))

    upstream.default = reply
    gateway = gateway_to(tmp_path, upstream, "oa")
    try:
        output = run_gemini(gateway, cwd, home, "-p", "Create hello.txt with a greeting.", "--yolo")
    finally:
        gateway.stop()
        upstream.stop()
    check_gemini_turn(output, cwd)
    main = [r.json for r in upstream.received if r.json.get("tools")]
    assert len(main) == 2 and all(b["model"].startswith("gemini-") for b in main)
    call = next(m for m in main[1]["messages"] if m.get("tool_calls"))["tool_calls"][0]
    assert call["function"]["name"] == "write_file"
    assert next(m for m in main[1]["messages"] if m["role"] == "tool")["tool_call_id"] == call["id"]


@dataclass
class Passthrough:
    gateway: TetherServer
    upstream: ScriptedUpstream
    cwd: Path
    home: Path
    tmp: Path
    first: dict[str, Any]


@pytest.fixture(scope="module")
def passthrough(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Passthrough]:
    """Gemini CLI's first turn to a scripted Gemini upstream (a module fixture: the resumed
    chat of the next test continues it)."""
    need_gemini()
    tmp = tmp_path_factory.mktemp("gemini-pass")
    cwd, home = tmp / "proj", tmp / "home"
    cwd.mkdir()
    home.mkdir()
    upstream = ScriptedUpstream().start()

    def reply(received: Received) -> Json | Sse:
        body = received.json
        config = body.get("generationConfig") or {}
        if config.get("responseMimeType") == "application/json":
            schema = config.get("responseJsonSchema") or config.get("responseSchema") or {}
            return Json(gm_response([{"text": json_answer(schema)}], "STOP", GM_USAGE))
        if "functionResponse" in json.dumps(body["contents"][-1]) or not body.get("tools"):
            return Sse(gm_text_stream("I wrote ", "hello.txt."))
        names = [d["name"] for t in body["tools"] for d in t.get("functionDeclarations", [])]
        if "write_file" not in names:  # the resumed chat, without --yolo
            return Sse(gm_text_stream("I wrote ", "hello.txt earlier."))
        args = {"file_path": str(cwd / "hello.txt"), "content": GREETING}
        return Sse(gm_call_stream([("write_file", args)], text="Writing it."))

    upstream.default = reply
    gateway = gateway_to(tmp, upstream, "gm")
    try:
        first = run_gemini(gateway, cwd, home, "-p", "Create hello.txt with a greeting.", "--yolo")
        yield Passthrough(gateway, upstream, cwd, home, tmp, first)
    finally:
        gateway.stop()
        upstream.stop()


def test_gemini_cli_passthrough_to_gemini_upstream(passthrough):
    check_gemini_turn(passthrough.first, passthrough.cwd)
    received = passthrough.upstream.received
    assert all(r.headers["x-goog-api-key"] == "gm-upstream-key" for r in received)
    assert all(GATEWAY_KEY not in json.dumps(r.headers) for r in received)
    classifier = [r for r in received if r.path.endswith(":generateContent")]
    main = [r for r in received if r.path.endswith(":streamGenerateContent")]
    assert classifier and len(main) == 2
    # Passthrough: the client's own function-call ids and signatures arrive as it sent them.
    history = main[1].json["contents"]
    call = next(p for c in history for p in c["parts"] if "functionCall" in p)
    answer = next(p for c in history for p in c["parts"] if "functionResponse" in p)
    assert call["functionCall"]["name"] == answer["functionResponse"]["name"] == "write_file"
    if os.environ.get("TETHER_RECORD_FIXTURES") == "1":
        for name, r in (
            ("classifier", classifier[0]),
            ("prompt", main[0]),
            ("tool_result", main[1]),
        ):
            save_fixture(f"gemini_cli_{name}", r, passthrough)


def test_gemini_cli_resumed_chat_through_passthrough(passthrough):
    before = len(passthrough.upstream.received)
    resumed = run_gemini(
        passthrough.gateway,
        passthrough.cwd,
        passthrough.home,
        "-p",
        "What did you write?",
        "--resume",
        "latest",
    )
    assert "earlier" in resumed["response"]
    main = [
        r
        for r in passthrough.upstream.received[before:]
        if r.path.endswith(":streamGenerateContent")
    ]
    assert len(main) == 1
    # The resumed chat carries the first run's turns, the function call and its response.
    history = main[0].json["contents"]
    assert len(history) >= 5 and "functionResponse" in json.dumps(history)
    if os.environ.get("TETHER_RECORD_FIXTURES") == "1":
        save_fixture("gemini_cli_resumed", main[0], passthrough)


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace not installed")
def test_gemini_cli_connects_to_nothing_but_the_gateway(passthrough, tmp_path):
    """With the settings above (no usage statistics, telemetry or update check) Gemini CLI
    opens no connection but to tether on 127.0.0.1: not even a DNS lookup."""
    trace = tmp_path / "connect.trace"
    output = run_gemini(
        passthrough.gateway,
        passthrough.cwd,
        passthrough.home,
        "-p",
        "Say hello.",
        wrapper=("strace", "-f", "-qq", "-e", "trace=connect", "-o", str(trace)),
    )
    assert output["response"]
    calls = [line for line in trace.read_text().splitlines() if "connect(" in line]
    inet = [line for line in calls if "AF_INET" in line]
    assert inet, "strace saw no network connection at all"
    port = str(urlsplit(passthrough.gateway.url).port)
    for line in inet:
        assert 'inet_addr("127.0.0.1")' in line or '"::1"' in line, line
        assert f"htons({port})" in line, line


def save_fixture(name: str, received: Received, run: Passthrough) -> None:
    text = received.raw.decode()
    # Temp paths differ per run; keep the fixtures stable and free of local paths.
    for path, stable in ((run.cwd, "/tmp/proj"), (run.home, "/tmp/home"), (run.tmp, "/tmp")):
        text = text.replace(str(path), stable)
    headers = {
        k: v
        for k, v in received.headers.items()
        if k in ("user-agent", "x-goog-api-client", "content-type")
    }
    record = {"path": received.path, "headers": headers, "body": orjson.loads(text)}
    (FIXTURES / f"{name}.json").write_bytes(
        orjson.dumps(record, option=orjson.OPT_INDENT_2) + b"\n"
    )


@pytest.mark.skipif(not CLAUDE.exists(), reason="bundled claude binary missing")
def test_claude_code_write_turn_through_gemini_upstream(dirs, tmp_path):
    cwd, home = dirs
    upstream = ScriptedUpstream().start()
    write = {"file_path": str(cwd / "hello.txt"), "content": FILE_TEXT}

    def reply(received: Received) -> Json | Sse:
        if received.path.endswith(":countTokens"):
            return Json({"totalTokens": 1000})
        body = received.json
        streamed = received.path.endswith(":streamGenerateContent")
        names = [d["name"] for t in body.get("tools") or [] for d in t["functionDeclarations"]]
        if "Write" not in names:  # titles, summaries
            if streamed:
                return Sse(gm_text_stream("Greeting file"))
            return Json(gm_response([{"text": '{"title": "Greeting file"}'}], "STOP", GM_USAGE))
        if "functionResponse" in json.dumps(body["contents"]):
            return Sse(gm_text_stream("I wrote ", "hello.txt for you."))
        return Sse(gm_call_stream([("Write", write)], signature="c2lnLWdlbWluaQ=="))

    upstream.default = reply
    gateway = gateway_to(tmp_path, upstream, "gm", keys=())  # Claude Code sends key "test"
    try:
        lines = run_claude(gateway.url, cwd, home, "claude-sonnet-4-5")
    finally:
        gateway.stop()
        upstream.stop()
    check_result(lines, cwd)
    main = [r for r in upstream.received if "functionDeclarations" in r.raw.decode()]
    assert len(main) >= 2
    assert all(r.headers["x-goog-api-key"] == "gm-upstream-key" for r in main)
    last = main[-1].json["contents"]
    call = next(p for c in last for p in c["parts"] if "functionCall" in p)
    assert call["functionCall"]["name"] == "Write"
    assert call["thoughtSignature"] == "c2lnLWdlbWluaQ=="  # Gemini's signature came back
    response = next(p for c in last for p in c["parts"] if "functionResponse" in p)
    assert response["functionResponse"]["name"] == "Write"
    # Claude Code's tool schemas reached Gemini in its subset.
    decls = json.dumps(main[-1].json["tools"])
    assert "additionalProperties" not in decls and "$schema" not in decls
