"""A scripted Agent Client Protocol agent for the runner's tests: plain JSON-RPC on stdio.

What the client sends is checked against the `agent-client-protocol` package's schema, so
a request tether shapes wrongly fails here as it would in a real agent. The first word of
each prompt picks a script (see `SCRIPTS`); everything the agent learns from the client
(permission outcomes, fs answers, cancels) is appended as JSON lines to $FAKE_ACP_LOG.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from acp import schema

OPTIONS = [
    {"optionId": "yes", "name": "Yes, write it", "kind": "allow_once"},
    {"optionId": "yes-all", "name": "Always write files", "kind": "allow_always"},
    {"optionId": "no", "name": "No, keep it", "kind": "reject_once"},
    {"optionId": "never", "name": "Never write files", "kind": "reject_always"},
]
MODES = [
    {"id": "default", "name": "Ask first"},
    {"id": "acceptEdits", "name": "Accept edits"},
    {"id": "read-only", "name": "Read only"},
]

_out = threading.Lock()
_ids = itertools.count(1000)
_waiting: dict[int, queue.Queue[dict[str, Any]]] = {}
_cancelled = threading.Event()
_cwd = Path.cwd()


def send(message: dict[str, Any]) -> None:
    with _out:
        sys.stdout.write(json.dumps({"jsonrpc": "2.0", **message}) + "\n")
        sys.stdout.flush()


def raw(line: str) -> None:
    with _out:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def log(event: str, **data: Any) -> None:
    with open(os.environ["FAKE_ACP_LOG"], "a") as f:
        f.write(json.dumps({"event": event, **data}) + "\n")


def call(method: str, params: dict[str, Any]) -> dict[str, Any]:
    request_id = next(_ids)
    answers: queue.Queue[dict[str, Any]] = queue.Queue()
    _waiting[request_id] = answers
    send({"id": request_id, "method": method, "params": params})
    return answers.get(timeout=60)


def update(session_id: str, body: dict[str, Any]) -> None:
    send({"method": "session/update", "params": {"sessionId": session_id, "update": body}})


def say(session_id: str, *chunks: str) -> None:
    for chunk in chunks:
        update(
            session_id,
            {"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": chunk}},
        )


# ── scripts: (session id, prompt words) → stop reason ─────────────────────────────


def hello(sid: str, words: list[str]) -> str:
    update(
        sid,
        {"sessionUpdate": "agent_thought_chunk", "content": {"type": "text", "text": "Greet."}},
    )
    say(sid, "Hello", " from", " the fake agent.")
    return "end_turn"


def plan(sid: str, words: list[str]) -> str:
    entries = [
        {"content": "Read the code", "priority": "high", "status": "completed"},
        {"content": "Fix the bug", "priority": "medium", "status": "in_progress"},
    ]
    update(sid, {"sessionUpdate": "plan", "entries": entries})
    say(sid, "Planned.")
    return "end_turn"


def write(sid: str, words: list[str]) -> str:
    name, text = words[1], " ".join(words[2:])
    target = str(_cwd / name)
    call_id = f"call-{name}"
    update(
        sid,
        {
            "sessionUpdate": "tool_call",
            "toolCallId": call_id,
            "title": f"Write {name}",
            "kind": "edit",
            "status": "pending",
            "locations": [{"path": target}],
            "rawInput": {"path": target, "content": text},
        },
    )
    answer = call(
        "session/request_permission",
        {
            "sessionId": sid,
            "toolCall": {
                "toolCallId": call_id,
                "title": f"Write {name}",
                "kind": "edit",
                "rawInput": {"path": target, "content": text},
                "content": [{"type": "diff", "path": target, "oldText": None, "newText": text}],
                "locations": [{"path": target}],
            },
            "options": OPTIONS,
        },
    )
    outcome = schema.RequestPermissionResponse.model_validate(answer["result"]).outcome
    chosen = getattr(outcome, "option_id", None)
    log("permission", outcome=outcome.outcome, option=chosen)
    if chosen in ("yes", "yes-all"):
        written = call("fs/write_text_file", {"sessionId": sid, "path": target, "content": text})
        log("write", answer=written)
        read = call("fs/read_text_file", {"sessionId": sid, "path": target})
        update(
            sid,
            {
                "sessionUpdate": "tool_call_update",
                "toolCallId": call_id,
                "status": "completed",
                "content": [
                    {"type": "content", "content": {"type": "text", "text": "wrote it"}},
                    {"type": "diff", "path": target, "oldText": None, "newText": text},
                ],
            },
        )
        say(sid, f"Read back: {read['result']['content']}")
    else:
        update(
            sid,
            {
                "sessionUpdate": "tool_call_update",
                "toolCallId": call_id,
                "status": "failed",
                "content": [
                    {"type": "content", "content": {"type": "text", "text": f"refused: {chosen}"}}
                ],
            },
        )
        say(sid, f"Not written ({outcome.outcome} {chosen}).")
    return "cancelled" if _cancelled.is_set() else "end_turn"


def outside(sid: str, words: list[str]) -> str:
    for method, params in (
        ("fs/write_text_file", {"path": str(_cwd / ".." / "outside.txt"), "content": "x"}),
        ("fs/read_text_file", {"path": str(_cwd / ".." / "secret.txt")}),
        ("fs/write_text_file", {"path": str(_cwd / "link" / "escaped.txt"), "content": "x"}),
        ("fs/write_text_file", {"path": "relative.txt", "content": "x"}),
    ):
        answer = call(method, {"sessionId": sid, **params})
        log("fs", method=method, answer=answer)
    say(sid, "Tried outside.")
    return "end_turn"


def wait(sid: str, words: list[str]) -> str:
    say(sid, "Working")
    _cancelled.wait(60)
    if "then-ask" in words:
        answer = call(
            "session/request_permission",
            {
                "sessionId": sid,
                "toolCall": {"toolCallId": "late", "title": "Late ask", "kind": "execute"},
                "options": OPTIONS,
            },
        )
        log("late permission", answer=answer)
    return "cancelled"


def garbage(sid: str, words: list[str]) -> str:
    raw("this is not json")
    raw("[1, 2, 3]")
    send({"id": 987654, "result": {"nobody": "asked"}})
    update(sid, {"sessionUpdate": "something_from_the_future", "value": 42})
    say(sid, "Still here.")
    return "end_turn"


def die(sid: str, words: list[str]) -> str:
    say(sid, "About to fail")
    time.sleep(0.2)
    sys.stderr.write("fatal: the fake agent fell over\n")
    sys.stderr.flush()
    os._exit(3)


def spawn(sid: str, words: list[str]) -> str:
    # A process of the agent's own that would outlive it (as codex-acp's real binary
    # outlives its npm launcher): it reads nothing and holds none of our pipes.
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    log("spawned", pid=child.pid)
    say(sid, "Started a helper.")
    return "end_turn"


SCRIPTS = {f.__name__: f for f in (hello, plan, write, outside, wait, garbage, die, spawn)}


# ── the protocol ──────────────────────────────────────────────────────────────────


def on_request(request_id: Any, method: str, params: dict[str, Any]) -> None:
    if method == "initialize":
        schema.InitializeRequest.model_validate(params)
        log("initialize", params=params)
        result: Any = {
            "protocolVersion": 1,
            "agentCapabilities": {"loadSession": True, "mcpCapabilities": {"http": True}},
            "authMethods": [],
            "agentInfo": {"name": "fake-acp", "version": "9.9.9"},
        }
    elif method in ("session/new", "session/load"):
        (
            schema.NewSessionRequest if method == "session/new" else schema.LoadSessionRequest
        ).model_validate(params)
        sid = params.get("sessionId") or "fake-session-1"
        log(method, params=params)
        if method == "session/load":
            # History replays as updates before the answer; the client holds it already.
            update(
                sid,
                {
                    "sessionUpdate": "user_message_chunk",
                    "content": {"type": "text", "text": "old prompt"},
                },
            )
            say(sid, "Old answer.")
        result = {"modes": {"currentModeId": "default", "availableModes": MODES}}
        if method == "session/new":
            result["sessionId"] = sid
        send({"id": request_id, "result": result})
        update(
            sid,
            {
                "sessionUpdate": "available_commands_update",
                "availableCommands": [{"name": "review", "description": "Review code"}],
            },
        )
        return
    elif method == "session/set_mode":
        schema.SetSessionModeRequest.model_validate(params)
        log("set_mode", mode=params["modeId"])
        update(
            params["sessionId"],
            {"sessionUpdate": "current_mode_update", "currentModeId": params["modeId"]},
        )
        result = {}
    elif method == "session/prompt":
        threading.Thread(target=run_prompt, args=(request_id, params), daemon=True).start()
        return
    else:
        send({"id": request_id, "error": {"code": -32601, "message": f"no {method}"}})
        return
    send({"id": request_id, "result": result})


def run_prompt(request_id: Any, params: dict[str, Any]) -> None:
    schema.PromptRequest.model_validate(params)
    _cancelled.clear()
    text = " ".join(b.get("text", "") for b in params["prompt"] if b.get("type") == "text")
    words = text.split()
    log("prompt", text=text)
    stop = SCRIPTS.get(words[0] if words else "", hello)(params["sessionId"], words)
    send(
        {
            "id": request_id,
            "result": {
                "stopReason": stop,
                "usage": {"totalTokens": 15, "inputTokens": 10, "outputTokens": 5},
            },
        }
    )


def main() -> None:
    for line in sys.stdin:
        message = json.loads(line)
        if "method" not in message:
            waiting = _waiting.pop(message["id"], None)
            if waiting is not None:
                waiting.put(message)
        elif "id" in message:
            on_request(message["id"], message["method"], message.get("params") or {})
        elif message["method"] == "session/cancel":
            log("cancel", params=message["params"])
            _cancelled.set()


if __name__ == "__main__":
    main()
