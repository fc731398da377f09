"""How sessions, permission requests and transcript messages read in a terminal.

Pure: each function turns relay data into text (and a Rich renderable where colour
helps); the commands decide where it goes. The same text serves a plain pipe, so nothing
here depends on a TTY.
"""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

FOLD_LINES = 20
FOLD_WIDTH = 400


def fold(text: str, lines: int = FOLD_LINES, width: int = FOLD_WIDTH) -> str:
    """At most `lines` lines of at most `width` characters, saying what was left out."""
    rows = text.splitlines() or [""]
    out = [
        r if len(r) <= width else r[:width] + f"… (+{len(r) - width} chars)" for r in rows[:lines]
    ]
    if len(rows) > lines:
        out.append(f"… {plural(len(rows) - lines, 'more line')}")
    return "\n".join(out)


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def one_line(text: str, width: int = 100) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def ago(stamp: str | None, now: datetime | None = None) -> str:
    """'12s ago', '3m ago', '5h ago', '2d ago' for an ISO time from the relay."""
    if not stamp:
        return "-"
    try:
        then = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    seconds = max(0, int(((now or datetime.now(UTC)) - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def short_path(path: str | None, home: str | None = None) -> str:
    if not path:
        return "-"
    home = home if home is not None else os.path.expanduser("~")
    if home and home != "/" and (path == home or path.startswith(home + "/")):
        return "~" + path[len(home) :]
    return path


def tokens(n: int | None) -> str:
    if not n:
        return "0"
    return f"{n / 1000:.1f}k" if n >= 1000 else str(n)


# ── sessions ──────────────────────────────────────────────────────────────────────────

SESSION_COLUMNS = ("ID", "STATUS", "ACTIVE", "TITLE", "CWD", "ASKS")


def state_of(session: dict[str, Any]) -> str:
    """What a session is doing, as the web UI says it: an open request means it waits for
    a person, a runner whose lease lapsed means its agent is offline."""
    if session.get("status") == "ended":
        return "ended"
    if session.get("agent_online") is False:
        return "agent offline"
    pending = int(session.get("pending_permissions") or 0)
    if pending:
        return f"waiting ({pending})" if pending > 1 else "waiting"
    return str(session.get("status") or "-")


def asks(request: dict[str, Any] | None) -> str:
    """What a waiting session asks, in a few words: "wants to run `pytest -x`"."""
    if not request:
        return ""
    data = request.get("input") if isinstance(request.get("input"), dict) else {}
    tool = str(request.get("tool_name") or "tool")
    if tool == "Bash" and data.get("command"):
        return f"wants to run `{one_line(str(data['command']).splitlines()[0], 200)}`"
    if tool == "AskUserQuestion":
        return "has a question for you"
    if tool == "ExitPlanMode":
        return "wants you to approve a plan"
    target = data.get("file_path") or data.get("url") or data.get("path") or data.get("pattern")
    return f"wants to use {tool}" + (f" on {one_line(str(target), 200)}" if target else "")


def waiting_first(
    sessions: list[dict[str, Any]], pending: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Sessions that wait for a person first (oldest request first), then the rest in the
    relay's order (latest activity first)."""
    first_ask: dict[str, str] = {}
    for p in sorted(pending, key=lambda p: str(p.get("created_at"))):
        first_ask.setdefault(str(p.get("session_id")), str(p.get("created_at")))

    def key(item: tuple[int, dict[str, Any]]) -> tuple[int, str, int]:
        i, s = item
        ask = first_ask.get(s["id"]) if s.get("status") != "ended" else None
        return (0, ask, i) if ask else (1, "", i)

    return [s for _, s in sorted(enumerate(sessions), key=key)]


def clip(text: str, width: int) -> str:
    """`text` in at most `width` characters, an ellipsis marking a cut."""
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: width - 1] + "…"


def table_lines(
    header: tuple[str, ...], rows: list[tuple[str, ...]], width: int, flexible: dict[int, int]
) -> list[str]:
    """A plain table in `width` columns: the other columns keep their full width, and
    the `flexible` ones (index → widest useful width) share what is left, in order,
    cut with an ellipsis; the last one takes the rest. One line per row, never wrapped."""
    table = [header, *rows]
    widths = [max(len(r[k]) for r in table) for k in range(len(header))]
    left = width - sum(w for k, w in enumerate(widths) if k not in flexible) - 2 * (len(header) - 1)
    last = max(flexible)
    for k in sorted(flexible):
        share = left if k == last else min(widths[k], flexible[k], max(len(header[k]), left // 3))
        widths[k] = max(len(header[k]), min(widths[k], share))
        left -= widths[k]
    return [
        "  ".join(clip(cell, w).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in table
    ]


def session_row(
    session: dict[str, Any], now: datetime | None = None, request: dict[str, Any] | None = None
) -> tuple[str, ...]:
    return (
        session["id"],
        state_of(session),
        ago(session.get("last_activity_at"), now),
        one_line(session.get("title") or "(untitled)", 200),
        short_path(session.get("cwd")),
        asks(request),
    )


# ── permission requests ───────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class RequestView:
    """A permission request as a person reads it: what the tool is about to do (`summary`)
    and its input in the most readable form (`body`, with a lexer for colour)."""

    summary: str
    body: str
    lexer: str | None = None


_LEXERS = {
    ".py": "python",
    ".js": "javascript",
    ".ts": "typescript",
    ".tsx": "tsx",
    ".json": "json",
    ".md": "markdown",
    ".sh": "bash",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".toml": "toml",
    ".html": "html",
    ".css": "css",
    ".rs": "rust",
    ".go": "go",
    ".sql": "sql",
    ".c": "c",
    ".h": "c",
    ".java": "java",
    ".rb": "ruby",
}


def _lexer_for(path: str) -> str | None:
    return _LEXERS.get(os.path.splitext(path)[1].lower())


def edit_diff(old: str, new: str, context: int = 3) -> str:
    """An edit as a unified diff a person reads, as the web's card shows it: hunks with
    `context` unchanged lines around each change, every line numbered in the old and the
    new text (from the edit's first line: the request holds no file offsets), the sign
    first so a diff lexer colours it. Lines are compared without their line ends, so a
    last line with no newline is neither glued to the next one nor shown as changed."""
    a, b = old.splitlines(), new.splitlines()
    w = len(str(max(len(a), len(b), 1)))
    out: list[str] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for group in matcher.get_grouped_opcodes(context):
        (_, i1, _, j1, _), (_, _, i2, _, j2) = group[0], group[-1]
        out.append(f"@@ -{i1 + 1},{i2 - i1} +{j1 + 1},{j2 - j1} @@")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out += [
                    f"  {i + 1:>{w}} {j + 1:>{w}} │ {a[i]}"
                    for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
                ]
                continue
            out += [f"- {i + 1:>{w}} {'':>{w}} │ {a[i]}" for i in range(i1, i2)]
            out += [f"+ {'':>{w}} {j + 1:>{w}} │ {b[j]}" for j in range(j1, j2)]
    return "\n".join(out) or "(no change)"


def describe_request(tool: str, tool_input: dict[str, Any], full: bool = False) -> RequestView:
    """Bash as a command, Write as a file preview, Edit as a diff, the rest as JSON. A
    command's lines are never cut (what runs must be read whole); long inputs are folded
    by lines unless `full` (the person asked to see everything)."""
    if full:
        return _describe(tool, tool_input, lambda text, *_: text)
    return _describe(tool, tool_input, fold)


def _describe(tool: str, tool_input: dict[str, Any], fold: Any) -> RequestView:
    data = tool_input if isinstance(tool_input, dict) else {"input": tool_input}
    path = str(data.get("file_path") or data.get("notebook_path") or data.get("path") or "")
    if tool == "Bash" and "command" in data:
        summary = "run a shell command"
        if data.get("description"):
            summary += f": {one_line(data['description'], 80)}"
        return RequestView(summary, fold("$ " + str(data["command"]), FOLD_LINES, 10**9), "bash")
    if tool == "Write" and "content" in data:
        content = str(data["content"])
        count = len(content.splitlines())
        return RequestView(
            f"write {path} ({plural(count, 'line')})", fold(content), _lexer_for(path)
        )
    if tool == "Edit" and "old_string" in data:
        what = "edit every match in" if data.get("replace_all") else "edit"
        diff = edit_diff(str(data["old_string"]), str(data.get("new_string", "")))
        return RequestView(f"{what} {path}", fold(diff, 40, 10**9), "diff")  # lines wrap
    if tool == "MultiEdit" and isinstance(data.get("edits"), list):
        edits = [e for e in data["edits"] if isinstance(e, dict)]
        diffs = [
            f"@@ edit {k} of {len(edits)} @@\n"
            + edit_diff(str(e.get("old_string", "")), str(e.get("new_string", "")))
            for k, e in enumerate(edits, 1)
        ]
        return RequestView(
            f"make {len(diffs)} edits to {path}", fold("\n".join(diffs), 40, 10**9), "diff"
        )
    if tool == "WebFetch" and "url" in data:
        return RequestView(f"fetch {data['url']}", fold(str(data.get("prompt") or "")))
    if tool == "ExitPlanMode" and isinstance(data.get("plan"), str):
        return RequestView(
            "leave plan mode and start on this plan", fold(data["plan"], 60), "markdown"
        )
    if tool == "TodoWrite" and isinstance(data.get("todos"), list):
        return RequestView("update its todo list", checklist(data["todos"]))
    if tool in ("Read", "Glob", "Grep", "LS") and data:
        target = path or str(data.get("pattern") or "")
        return RequestView(
            f"{tool.lower()} {one_line(target, 80)}",
            fold(json.dumps(data, indent=2, ensure_ascii=False)),
            "json",
        )
    return RequestView(f"use {tool}", fold(json.dumps(data, indent=2, ensure_ascii=False)), "json")


_MARKS = {"completed": "☑", "in_progress": "◐"}


def checklist(todos: list[Any]) -> str:
    """A todo list as a checklist: ☑ done, ◐ in progress, ☐ to do."""
    rows = []
    for t in todos:
        item = t if isinstance(t, dict) else {"content": str(t)}
        mark = _MARKS.get(str(item.get("status")), "☐")
        rows.append(f"{mark} {item.get('content') or item.get('activeForm') or ''}")
    return "\n".join(rows)


def person(name: str) -> str:
    """A token's name as people read it: the server's own admin token is named after the
    TETHER_TOKEN variable it came from, which is no one's name."""
    return "the admin" if name == "TETHER_TOKEN" else name


def resolution(permission: dict[str, Any]) -> str:
    """How a request ended, e.g. 'allowed by phone' or 'cancelled by the agent'."""
    status = permission.get("status") or "resolved"
    decision = permission.get("decision") or {}
    who = decision.get("decided_by")
    if status == "cancelled":
        reason = decision.get("message")
        return "cancelled by the agent" + (f" ({one_line(reason, 80)})" if reason else "")
    if status == "expired":
        return "expired (nobody answered in time)"
    text = status + (f" by {person(who)}" if who else "")
    if isinstance(decision.get("remember"), list):
        text += " (and a rule remembered)"
    elif decision.get("remember"):
        text += " (always)"
    if status == "denied" and decision.get("message"):
        text += f": {one_line(decision['message'], 80)}"
    return text


# ── transcript ────────────────────────────────────────────────────────────────────────


def tool_call_line(content: dict[str, Any]) -> str:
    """`Bash(ls -la)`, `Edit(src/app.py)`… one line for a tool call."""
    name = str(content.get("name") or "tool")
    data = content.get("input") if isinstance(content.get("input"), dict) else {}
    key = next(
        (
            k
            for k in (
                "command",
                "file_path",
                "path",
                "pattern",
                "url",
                "query",
                "description",
                "prompt",
            )
            if k in data
        ),
        None,
    )
    arg = str(data[key]) if key else (json.dumps(data, ensure_ascii=False) if data else "")
    return f"{name}({one_line(arg, 90)})"


def tool_result_text(content: dict[str, Any], lines: int = 2) -> str:
    """A tool's output, folded; of a failure its end, where the error is."""
    output = content.get("output")
    if isinstance(output, list):  # Anthropic content blocks
        output = "\n".join(
            str(b.get("text", "")) if isinstance(b, dict) else str(b) for b in output
        )
    elif not isinstance(output, str):
        output = json.dumps(output, ensure_ascii=False) if output is not None else ""
    text = output.strip() or "(no output)"
    rows = text.splitlines()
    if content.get("is_error") and len(rows) > lines:
        return f"… {plural(len(rows) - lines, 'earlier line')}\n" + fold(
            "\n".join(rows[-lines:]), lines, 160
        )
    return fold(text, lines, 160)


def seconds(ms: float) -> str:
    """A span for people: 4.2 s, 40 s, 2 min 5 s."""
    s = max(0.0, ms / 1000)
    if s < 10:
        return f"{s:.1f} s"
    whole = round(s)
    return f"{whole} s" if whole < 60 else f"{whole // 60} min {whole % 60} s"


def took(content: dict[str, Any]) -> str:
    """How long a turn took, without the time it waited for a person to answer (the
    runner's `waiting_ms`), which is said apart: "took 12 s (+40 s waiting for you)"."""
    duration = content.get("duration_ms")
    if not isinstance(duration, int | float):
        return ""
    waiting = content.get("waiting_ms")
    waiting = waiting if isinstance(waiting, int | float) and waiting > 0 else 0
    out = f"took {seconds(duration - waiting)}"
    return out + (f" (+{seconds(waiting)} waiting for you)" if waiting else "")


def tally(usage: dict[str, Any], message: dict[str, Any]) -> None:
    """Add an agent's message to a session's usage as the web's header counts it: the
    tokens of every usage report, the cost of every report that carries one, and else the
    last result's cost. (The turn's result line shows the same report's cost, so the
    status line after one turn says what that line said.)"""
    kind, content = message.get("kind"), message.get("content")
    if not isinstance(content, dict):
        return
    if kind == "usage":
        for key, value in content.items():
            if isinstance(value, int | float) and key != "cost_usd":
                usage[key] = usage.get(key, 0) + value
        if isinstance(content.get("cost_usd"), int | float):
            usage["cost_usd"] = usage.get("cost_usd", 0) + content["cost_usd"]
            usage["cost_seen"] = True
    elif (
        kind == "result"
        and isinstance(content.get("total_cost_usd"), int | float)
        and not usage.get("cost_seen")
    ):
        usage["cost_usd"] = content["total_cost_usd"]


def clock(seconds: float) -> str:
    """m:ss (h:mm:ss past an hour), as the web's "running for" says it."""
    s = max(0, int(seconds))
    h, m = divmod(s // 60, 60)
    return f"{h}:{m:02d}:{s % 60:02d}" if h else f"{m}:{s % 60:02d}"


def running_for(session: dict[str, Any], since: str | None, now: datetime | None = None) -> str:
    """ "running for 1:05" while a turn runs, counted from the prompt that started it."""
    if state_of(session) != "running" or not since:
        return ""
    try:
        then = datetime.fromisoformat(since.replace("Z", "+00:00"))
    except ValueError:
        return ""
    return f"running for {clock(((now or datetime.now(UTC)) - then).total_seconds())}"


def status_line(
    session: dict[str, Any],
    usage: dict[str, Any],
    since: str | None = None,
    now: datetime | None = None,
) -> str:
    """Model, mode, usage (input counts cache reads and writes, as on the web) and what
    the session is doing, with how long its turn has run."""
    tokens_in = sum(
        int(usage.get(k) or 0)
        for k in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
    )
    parts = [
        session.get("model") or "model ?",
        f"mode {session.get('permission_mode') or 'default'}",
        f"{tokens(tokens_in)} in / {tokens(usage.get('output_tokens'))} out",
        running_for(session, since, now) or state_of(session),
    ]
    if usage.get("cost_usd"):
        parts.insert(3, f"${usage['cost_usd']:.4f}")
    return " · ".join(str(p) for p in parts)
