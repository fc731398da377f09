"""Gateway hooks through the real gateway: every built-in, the test plugin package
(tests/plugins/tether_hook_shout, found through its `tether.hooks` entry points), declared
order, fail-open and fail-closed, on each surface, with the real SDKs as clients."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from importlib.metadata import entry_points

import pytest
import yaml
from starlette.requests import Request

from tests.gateway.conftest import gateway_config, start_gateway
from tests.gateway.test_claude_code import CLAUDE, run_claude
from tests.gateway.test_cli import tether
from tests.gateway.upstreams import (
    Json,
    Received,
    ScriptedUpstream,
    Sse,
    an_message,
    an_text_stream,
    oa_completion,
    oa_text_stream,
)
from tests.support.sdks import anthropic, genai, genai_errors, openai
from tests.support.sdks import genai_types as types
from tests.support.server import TetherServer
from tether.config import ConfigError
from tether.gateway.config import parse_gateway_config
from tether.gateway.hooks import build_pipeline
from tether.gateway.hooks.formats import append_system, offered_tools, redact
from tether.gateway.hooks.order import Declared, sort_hooks
from tether.gateway.streaming import StreamOut

if not entry_points(group="tether.hooks", name="shout"):
    pytest.fail(
        "the test plugin is not installed: pip install -e tests/plugins/tether_hook_shout "
        "(scripts/test does)",
        pytrace=False,
    )

SECRET = "sk-plugin-secret-0000"  # what the Explode plugin raises with
HOOKS = [
    # Written first, declared to run after redact: a secret is redacted before it is
    # upper-cased (the pattern is lower-case).
    {
        "plugin": "shout",
        "options": {"models": "claude-shout*", "header": "loud"},
        "after": ["redact"],
    },
    {"type": "redact", "patterns": [r"sk-[a-z0-9]{8,}"]},
    {"type": "headers", "set": {"X-Team": "infra"}, "remove": ["anthropic-beta"]},
    {"type": "rewrite_model", "models": {"claude-old-*": "same-new"}},
    {"type": "system_prompt", "append": "Be safe."},
    {"type": "block", "models": ["claude-forbidden-*"], "tools": ["Danger*"]},
    {
        "plugin": "explode",
        "name": "explode-open",
        "on_error": "skip",
        "options": {"models": "claude-boom-open*"},
    },
    {"plugin": "explode", "name": "explode-closed", "options": {"models": "claude-boom-closed*"}},
    {
        "plugin": "explode",
        "name": "explode-event",
        "options": {"models": "claude-boom-event-closed*", "phase": "event"},
    },
    {
        "plugin": "explode",
        "name": "explode-event-open",
        "on_error": "skip",
        "options": {"models": "claude-boom-event-open*", "phase": "event"},
    },
]
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def gw(
    tmp_path_factory: pytest.TempPathFactory,
    oa_upstream: ScriptedUpstream,
    an_upstream: ScriptedUpstream,
) -> Iterator[TetherServer]:
    config = gateway_config(oa_upstream, an_upstream, hooks=HOOKS)
    server = start_gateway(tmp_path_factory.mktemp("hooks"), config)
    yield server
    server.stop()


@pytest.fixture
def an_client(gw: TetherServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key="client-key", max_retries=0)


@pytest.fixture
def oa_client(gw: TetherServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key="client-key", max_retries=0)


# --- the plugin package --------------------------------------------------------------------


def test_plugin_changes_request_and_anthropic_stream(an_client, oa_upstream):
    oa_upstream.push(Sse(oa_text_stream("hel", "lo ", "there")))
    with an_client.messages.stream(
        model="claude-shout-1", max_tokens=50, messages=[{"role": "user", "content": "quiet"}]
    ) as stream:
        text = "".join(stream.text_stream)
    assert text == "HELLO THERE"
    sent = oa_upstream.received[-1]
    assert sent.json["messages"][-1] == {"role": "user", "content": "QUIET"}
    assert sent.headers["x-shout"] == "loud"


def test_plugin_changes_request_and_openai_stream(oa_client, oa_upstream):
    oa_upstream.push(Sse(oa_text_stream("a", "b")))
    stream = oa_client.chat.completions.create(
        model="claude-shout-2", messages=[{"role": "user", "content": "psst"}], stream=True
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "AB"
    assert oa_upstream.received[-1].json["messages"][-1]["content"] == "PSST"


def test_plugin_changes_a_responses_stream(oa_client, oa_upstream):
    oa_upstream.push(Sse(oa_text_stream("re", "sponses")))
    stream = oa_client.responses.create(model="claude-shout-6", input="hi", stream=True)
    deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
    assert "".join(deltas) == "RESPONSES"


def test_plugin_changes_a_gemini_stream(gw, oa_upstream):
    oa_upstream.push(Sse(oa_text_stream("gem", "ini")))
    client = genai.Client(
        api_key="client-key", http_options=types.HttpOptions(base_url=gw.url, retry_options=None)
    )
    chunks = client.models.generate_content_stream(model="claude-shout-7", contents="hi")
    assert "".join(chunk.text or "" for chunk in chunks) == "GEMINI"


def test_plugin_changes_a_whole_answer(an_client, oa_client, oa_upstream):
    oa_upstream.push(Json(oa_completion("calm words")), Json(oa_completion("calm words")))
    message = an_client.messages.create(model="claude-shout-4", max_tokens=50, messages=HI)
    assert message.content[0].text == "CALM WORDS"
    completion = oa_client.chat.completions.create(model="claude-shout-5", messages=HI)
    assert completion.choices[0].message.content == "CALM WORDS"


def test_declared_order_redacts_before_the_plugin_shouts(an_client, oa_upstream):
    oa_upstream.push(Json(oa_completion("ok")))
    an_client.messages.create(
        model="claude-shout-3",
        max_tokens=50,
        messages=[{"role": "user", "content": "my key is sk-abcdefgh1234"}],
    )
    assert oa_upstream.received[-1].json["messages"][-1]["content"] == "MY KEY IS [REDACTED]"


def test_stream_is_untouched_when_no_hook_changes_it(an_client, oa_upstream):
    oa_upstream.push(Sse(oa_text_stream("quiet ", "words")))
    with an_client.messages.stream(model="claude-sonnet-4", max_tokens=50, messages=HI) as s:
        assert "".join(s.text_stream) == "quiet words"


# --- built-ins -----------------------------------------------------------------------------


def test_redact_replaces_secrets_in_every_text(an_client, oa_upstream):
    oa_upstream.push(Json(oa_completion("ok")))
    an_client.messages.create(
        model="claude-sonnet-4",
        max_tokens=50,
        system="deploy with sk-systemkey99",
        messages=[{"role": "user", "content": [{"type": "text", "text": "use sk-abcdefgh1234"}]}],
    )
    raw = oa_upstream.received[-1].raw.decode()
    assert "sk-systemkey99" not in raw and "sk-abcdefgh1234" not in raw
    assert "use [redacted]" in raw and "deploy with [redacted]" in raw


def test_headers_set_and_removed_on_passthrough_and_translated_calls(gw, an_upstream, oa_upstream):
    client = anthropic.Anthropic(
        base_url=gw.url,
        api_key="client-key",
        max_retries=0,
        default_headers={"anthropic-beta": "some-beta"},
    )
    an_upstream.push(Json(an_message("ok", model="same-x")))
    client.messages.create(model="same-x", max_tokens=10, messages=HI)
    passthrough = an_upstream.received[-1].headers
    assert passthrough["x-team"] == "infra"
    assert "anthropic-beta" not in passthrough
    oa_upstream.push(Json(oa_completion("ok")))
    client.messages.create(model="claude-sonnet-4", max_tokens=10, messages=HI)
    assert oa_upstream.received[-1].headers["x-team"] == "infra"


def test_rewrite_model_changes_where_the_call_goes(an_client, an_upstream):
    an_upstream.push(Json(an_message("ok", model="same-new")))
    raw = an_client.messages.with_raw_response.create(
        model="claude-old-1", max_tokens=10, messages=HI
    )
    assert raw.headers["tether-route"] == "an/same-new"
    assert an_upstream.received[-1].json["model"] == "same-new"


def test_block_by_model_is_a_403_in_each_clients_format(an_client, oa_client, oa_upstream):
    with pytest.raises(anthropic.PermissionDeniedError) as refused:
        an_client.messages.create(model="claude-forbidden-1", max_tokens=10, messages=HI)
    assert "model 'claude-forbidden-1' is not allowed here" in refused.value.message
    assert refused.value.body["error"]["type"] == "permission_error"
    with pytest.raises(openai.PermissionDeniedError, match="block"):
        oa_client.chat.completions.create(model="claude-forbidden-2", messages=HI)
    assert oa_upstream.received == []


def test_block_by_tool_name(an_client, oa_upstream):
    tool = {"name": "DangerZone", "input_schema": {"type": "object"}}
    with pytest.raises(anthropic.PermissionDeniedError, match="tool 'DangerZone'"):
        an_client.messages.create(model="claude-sonnet-4", max_tokens=10, messages=HI, tools=[tool])
    assert oa_upstream.received == []


# --- the system prompt, on each surface ---------------------------------------------------


def _system_text(sent: dict) -> str:
    return sent["messages"][0]["content"] if sent["messages"][0]["role"] == "system" else ""


def test_system_prompt_anthropic_surface(an_client, oa_upstream):
    oa_upstream.push(Json(oa_completion("ok")))
    an_client.messages.create(model="claude-sonnet-4", max_tokens=10, system="Hi.", messages=HI)
    assert _system_text(oa_upstream.received[-1].json) == "Hi.\n\nBe safe."


def test_system_prompt_openai_chat_surface(oa_client, oa_upstream):
    oa_upstream.push(Json(oa_completion("ok")))
    oa_client.chat.completions.create(model="claude-sonnet-4", messages=HI)
    assert _system_text(oa_upstream.received[-1].json) == "Be safe."


def test_system_prompt_responses_surface(oa_client, oa_upstream):
    oa_upstream.push(Json(oa_completion("ok")))
    oa_client.responses.create(model="claude-sonnet-4", instructions="Hi.", input="hello")
    assert "Hi.\n\nBe safe." in _system_text(oa_upstream.received[-1].json)


def test_system_prompt_gemini_surface(gw, oa_upstream):
    oa_upstream.push(Json(oa_completion("ok")))
    client = genai.Client(
        api_key="client-key", http_options=types.HttpOptions(base_url=gw.url, retry_options=None)
    )
    client.models.generate_content(
        model="claude-sonnet-4",
        contents="hello",
        config=types.GenerateContentConfig(system_instruction="Hi."),
    )
    assert "Be safe." in str(oa_upstream.received[-1].json["messages"][0])


def test_block_on_the_gemini_surface_is_permission_denied(gw, oa_upstream):
    client = genai.Client(
        api_key="client-key", http_options=types.HttpOptions(base_url=gw.url, retry_options=None)
    )
    with pytest.raises(genai_errors.ClientError) as refused:
        client.models.generate_content(model="claude-forbidden-3", contents="hello")
    assert refused.value.code == 403 and refused.value.status == "PERMISSION_DENIED"
    assert oa_upstream.received == []


# --- failures ------------------------------------------------------------------------------


def test_fail_open_skips_the_hook_and_logs_no_secret(an_client, oa_upstream, caplog):
    oa_upstream.push(Json(oa_completion("fine")))
    with caplog.at_level(logging.WARNING, logger="tether.gateway.hooks"):
        message = an_client.messages.create(model="claude-boom-open", max_tokens=10, messages=HI)
    assert message.content[0].text == "fine"
    assert "explode-open" in caplog.text and "skipped" in caplog.text
    assert SECRET not in caplog.text


def test_fail_closed_refuses_the_call(an_client, oa_upstream, caplog):
    with (
        caplog.at_level(logging.WARNING, logger="tether.gateway.hooks"),
        pytest.raises(anthropic.InternalServerError, match="explode-closed"),
    ):
        an_client.messages.create(model="claude-boom-closed", max_tokens=10, messages=HI)
    assert oa_upstream.received == []
    assert SECRET not in caplog.text


def test_fail_closed_in_a_stream_ends_it_with_an_error(an_client, oa_upstream):
    oa_upstream.push(Sse(oa_text_stream("never", "seen")))
    with (
        pytest.raises(anthropic.APIStatusError, match="explode-event"),
        an_client.messages.stream(
            model="claude-boom-event-closed", max_tokens=10, messages=HI
        ) as s,
    ):
        "".join(s.text_stream)


def test_fail_closed_in_an_openai_stream_ends_it_with_an_error(oa_client, oa_upstream):
    oa_upstream.push(Sse(oa_text_stream("never", "seen")))
    stream = oa_client.chat.completions.create(
        model="claude-boom-event-closed", messages=HI, stream=True
    )
    with pytest.raises(openai.APIError, match="explode-event"):
        list(stream)


def test_fail_open_in_a_stream_is_logged_once_and_the_stream_goes_on(
    an_client, oa_upstream, caplog
):
    oa_upstream.push(Sse(oa_text_stream("all ", "of ", "it")))
    with (
        caplog.at_level(logging.WARNING, logger="tether.gateway.hooks"),
        an_client.messages.stream(model="claude-boom-event-open", max_tokens=10, messages=HI) as s,
    ):
        assert "".join(s.text_stream) == "all of it"
    assert caplog.text.count("explode-event-open") == 1


# --- the record, and nothing wrapped when nothing asks ------------------------------------


def _request(path: str = "/v1/messages") -> Request:
    scope = {"type": "http", "method": "POST", "path": path, "headers": [], "query_string": b""}
    return Request(scope)


def _pipeline(hooks: list[dict]):
    return build_pipeline(parse_gateway_config({"hooks": hooks}).hooks)


async def test_each_run_is_recorded_on_the_request():
    pipeline = _pipeline(
        [
            {"type": "system_prompt", "append": "x"},
            {"type": "rewrite_model", "models": {"a-*": "b"}},
        ]
    )
    http = _request()
    body = {"model": "c", "messages": []}
    exchange = await pipeline.request(http, body, "c")
    runs = http.state.hook_runs
    assert [(r["name"], r["phase"], r["changed"], r["outcome"]) for r in runs] == [
        ("system_prompt", "request", True, "ok"),
        ("rewrite_model", "request", False, "ok"),
    ]
    assert runs[0]["what"] == ["system"] and all(r["ms"] >= 0 for r in runs)
    assert exchange.changed and body["system"] == "x"


async def test_a_stream_is_not_wrapped_without_event_hooks():
    async def chunks():
        yield b"data: {}\n\n"

    pipeline = _pipeline([{"type": "headers", "set": {"x-a": "1"}}])
    exchange = await pipeline.request(_request(), {"model": "m"}, "m")
    assert not exchange.changed  # headers alone leave the client's bytes as they are
    source = chunks()
    out = StreamOut(200, [(b"content-type", b"text/event-stream")], source)
    assert (await pipeline.response(exchange, out)).body is source
    await source.aclose()


async def test_only_limits_a_hook_to_some_calls():
    pipeline = _pipeline(
        [
            {
                "type": "system_prompt",
                "append": "x",
                "only": {"surfaces": ["anthropic"], "models": ["claude-*"]},
            },
            {"type": "rewrite_model", "models": {"old": "claude-new"}, "before": "system_prompt"},
        ]
    )
    rewritten = {"model": "old"}
    await pipeline.request(_request(), rewritten, "old")
    assert rewritten == {"model": "claude-new", "system": "x"}  # `only` saw the new model
    http, other_model = _request(), {"model": "gpt-5"}
    await pipeline.request(http, other_model, "gpt-5")
    assert "system" not in other_model
    assert [run["name"] for run in http.state.hook_runs] == ["rewrite_model"]
    chat = {"model": "claude-a", "messages": []}
    await pipeline.request(_request("/v1/chat/completions"), chat, "claude-a")
    assert chat["messages"] == []


async def test_a_stream_is_not_wrapped_when_its_event_hook_is_not_for_the_call():
    async def chunks():
        yield b"data: {}\n\n"

    pipeline = _pipeline([{"plugin": "shout", "only": {"models": ["loud-*"]}}])
    exchange = await pipeline.request(_request(), {"model": "quiet"}, "quiet")
    source = chunks()
    out = StreamOut(200, [(b"content-type", b"text/event-stream")], source)
    assert (await pipeline.response(exchange, out)).body is source
    await source.aclose()


# --- order and config errors ---------------------------------------------------------------


def test_a_plugin_declares_its_own_order():
    hooks = [
        {"plugin": "shout", "options": {"after": ["redact"]}},
        {"type": "redact", "patterns": ["x"]},
    ]
    assert [stage.name for stage in _pipeline(hooks).stages] == ["redact", "shout"]
    with pytest.raises(ConfigError, match="no hook named 'redact'"):
        _pipeline(hooks[:1])


def test_sort_keeps_config_order_unless_declared():
    hooks = [
        Declared("a", after=("c",)),
        Declared("b"),
        Declared("c"),
        Declared("d", before=("b",)),
    ]
    assert [hooks[i].name for i in sort_hooks(hooks)] == ["c", "a", "d", "b"]


@pytest.mark.parametrize(
    ("hooks", "message"),
    [
        (
            [
                {"type": "headers", "after": "system_prompt"},
                {"type": "system_prompt", "append": "x", "after": ["headers"]},
            ],
            "cycle: headers → system_prompt → headers",
        ),
        ([{"type": "headers", "before": ["nope"]}], "hooks[0].before: no hook named 'nope'"),
        ([{"type": "headers"}, {"type": "headers"}], "two hooks are named 'headers'"),
        ([{"plugin": "nope"}], "no installed plugin named 'nope'"),
        (
            [{"plugin": "shout", "options": {"loud": 1}}],
            "hooks[0].options: plugin 'shout' refused its options: got an unexpected keyword "
            "argument 'loud'",
        ),
        (
            [{"plugin": "explode", "options": {"phase": "sk-in-the-wrong-option"}}],
            "hooks[0].options: plugin 'explode' refused its options (phase): ValueError (its "
            "message is not shown",
        ),
        ([{"type": "headers", "sett": {}}], "hooks[0]: unknown field 'sett'"),
        ([{"type": "shout"}], "type must be one of headers, rewrite_model"),
        ([{"type": "redact", "patterns": ["("]}], "patterns[0]: is not a regular expression"),
        (
            [{"type": "block", "models": ["x"], "status": 500}],
            "hooks[0].status: must be one of 400 or 403",
        ),
        ([{"type": "block"}], "hooks[0]: needs models or tools"),
        (
            [{"type": "headers", "remove": ["Content-Length"]}],
            "hooks[0].remove: header 'Content-Length' is the gateway's own to set",
        ),
        (
            [{"type": "headers", "set": {"x-a": "1\r\nx-b: 2"}}],
            "hooks[0].set: header 'x-a': the value holds a line break",
        ),
        (
            [{"type": "headers", "only": {"surfaces": ["grpc"]}}],
            "hooks[0].only.surfaces[0]: must be one of 'anthropic', 'openai'",
        ),
    ],
)
def test_config_errors_name_the_problem(hooks, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as raised:
        _pipeline(hooks)
    assert "sk-in-the-wrong-option" not in str(raised.value)  # options may hold secrets


CYCLE = {
    "gateway": {
        "hooks": [
            {"type": "redact", "patterns": ["x"], "after": ["block"]},
            {"type": "block", "models": ["y"], "after": ["redact"]},
        ]
    }
}


def test_gateway_check_names_the_cycle_and_lists_the_order(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(CYCLE))
    result = tether("gateway", "check", "--config", str(path))
    assert result.returncode == 1
    assert (
        "cycle: redact → block → redact" in result.stderr
        or "cycle: block → redact → block" in result.stderr
    )
    path.write_text(yaml.safe_dump({"gateway": {"hooks": HOOKS}}))
    result = tether("gateway", "check", "--config", str(path))
    assert result.returncode == 0, result.stderr
    order = re.findall(r"│ \d+ +│ (\S+)", result.stdout)
    assert order.index("redact") < order.index("shout")


def test_serve_refuses_to_start_on_an_unknown_name(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"gateway": {"hooks": [{"type": "headers", "after": "x"}]}}))
    result = tether(
        "serve",
        "--only",
        "gateway",
        "--port",
        "0",
        "--data-dir",
        str(tmp_path),
        "--config",
        str(path),
    )
    assert result.returncode == 1
    assert "gateway.hooks[0].after: no hook named 'x'" in result.stderr


# --- the surfaces' shapes (pure) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("surface", "body", "expected"),
    [
        ("anthropic", {}, {"system": "X"}),
        (
            "anthropic",
            {"system": [{"type": "text", "text": "a"}]},
            {"system": [{"type": "text", "text": "a"}, {"type": "text", "text": "X"}]},
        ),
        (
            "openai",
            {"messages": [{"role": "user", "content": "u"}]},
            {"messages": [{"role": "system", "content": "X"}, {"role": "user", "content": "u"}]},
        ),
        (
            "openai",
            {"messages": [{"role": "developer", "content": "d"}]},
            {"messages": [{"role": "developer", "content": "d\n\nX"}]},
        ),
        ("responses", {"instructions": "i"}, {"instructions": "i\n\nX"}),
        (
            "gemini",
            {"systemInstruction": {"parts": [{"text": "s"}]}},
            {"systemInstruction": {"parts": [{"text": "s"}, {"text": "X"}]}},
        ),
        ("gemini", {}, {"systemInstruction": {"parts": [{"text": "X"}]}}),
    ],
)
def test_append_system_per_surface(surface, body, expected):
    append_system(surface, body, "X")
    assert body == expected


def test_offered_tools_in_every_shape():
    body = {
        "tools": [
            {"name": "anthropic_or_responses"},
            {"type": "function", "function": {"name": "chat"}},
            {"functionDeclarations": [{"name": "gemini"}]},
        ]
    }
    assert list(offered_tools(body)) == ["anthropic_or_responses", "chat", "gemini"]


def test_redact_leaves_opaque_values_alone():
    body = {"messages": [{"content": [{"type": "thinking", "thinking": "k1", "signature": "k1"}]}]}
    assert redact(body, (re.compile("k1"),), "_") == 1
    assert body["messages"][0]["content"][0] == {
        "type": "thinking",
        "thinking": "_",
        "signature": "k1",
    }


# --- the real Claude Code ------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(not CLAUDE.exists(), reason="bundled claude binary missing")
def test_claude_code_through_the_hooks(gw, an_upstream, tmp_path):
    """Claude Code's own requests (system prompt as cached blocks, its headers) pass
    through to an Anthropic upstream with the hooks applied; a key-like string in its
    working directory, which Claude Code puts in its system prompt, is redacted."""
    cwd, home = tmp_path / "proj-sk-abcdefgh1234", tmp_path / "home"
    cwd.mkdir()
    home.mkdir()

    def reply(received: Received) -> Json | Sse:
        if received.json.get("stream") is True:
            return Sse(an_text_stream("All done.", model="same-sonnet"))
        return Json(an_message("Title", model="same-sonnet"))

    an_upstream.default = reply
    try:
        lines = run_claude(gw.url, cwd, home, "same-sonnet")
    finally:
        an_upstream.default = None
    assert lines[-1]["type"] == "result" and "All done." in lines[-1]["result"]
    calls = [r for r in an_upstream.received if r.path == "/v1/messages"]
    assert calls
    for call in calls:
        assert call.headers["x-team"] == "infra" and "anthropic-beta" not in call.headers
        assert b"sk-abcdefgh1234" not in call.raw
        system = call.json["system"]
        assert system[-1] == {"type": "text", "text": "Be safe."}
    assert any(b"proj-[redacted]" in call.raw for call in calls)
