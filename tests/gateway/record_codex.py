"""Record the requests the real Codex CLI sends, as fixtures for the gateway tests.

    .venv/bin/python -m tests.gateway.record_codex

Codex talks straight to a scripted Responses upstream (no tether in between) in four
scenes: a plain prompt, a function-call turn (exec_command, then its output sent back),
an apply_patch turn, and a resumed conversation (`codex exec resume --last`). The
request bodies land in tests/gateway/fixtures/codex_*.json.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import orjson

from tests.gateway.codex import PREFIX, codex_binary, codex_home, run_codex
from tests.gateway.upstreams import ScriptedUpstream, Sse, rs_stream

FIXTURES = Path(__file__).parent / "fixtures"
MODEL = "gpt-test"
PATCH_CMD = (
    "apply_patch <<'EOF'\n*** Begin Patch\n*** Add File: hello.txt\n+hello from codex\n"
    "*** End Patch\nEOF"
)


def exec_call(cmd: str) -> list[bytes]:
    return rs_stream(calls=(("call_exec1", "exec_command", orjson.dumps({"cmd": cmd}).decode()),))


def main() -> int:
    binary, why = codex_binary()
    if binary is None:
        print(f"cannot record: {why}", file=sys.stderr)
        return 1
    # CODEX_HOME outside /tmp: Codex refuses to put its helper binaries under /tmp.
    scratch = PREFIX.parent / "codex-record"
    shutil.rmtree(scratch, ignore_errors=True)
    upstream = ScriptedUpstream(default=Sse(rs_stream("Done."))).start()
    try:
        scenes = {
            "plain": ([], ["say hi"], 0),
            "tool_result": ([Sse(exec_call("echo tether-ok"))], ["run echo tether-ok"], 1),
            "apply_patch": ([Sse(exec_call(PATCH_CMD))], ["create hello.txt"], 1),
        }
        for name, (replies, prompt, index) in scenes.items():
            upstream.reset()
            upstream.push(*replies)
            home = codex_home(scratch / name / "home", f"{upstream.url}/v1", MODEL)
            work = scratch / name / "work"
            work.mkdir(parents=True)
            done = run_codex(binary, home, work, "record-key", *prompt)
            if done.returncode != 0:
                print(done.stdout, done.stderr, file=sys.stderr)
                return 1
            (FIXTURES / f"codex_{name}.json").write_bytes(
                orjson.dumps(upstream.received[index].json, option=orjson.OPT_INDENT_2)
            )
            print(f"codex_{name}.json: {len(upstream.received)} requests")
        # Resume the function-call conversation: the full history goes up again.
        upstream.reset()
        home, work = scratch / "tool_result" / "home", scratch / "tool_result" / "work"
        done = run_codex(binary, home, work, "record-key", "resume", "--last", "and once more")
        if done.returncode != 0:
            print(done.stdout, done.stderr, file=sys.stderr)
            return 1
        (FIXTURES / "codex_resumed.json").write_bytes(
            orjson.dumps(upstream.received[0].json, option=orjson.OPT_INDENT_2)
        )
        print("codex_resumed.json")
    finally:
        upstream.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
