"""A session's messages as a terminal shows them, for `tether attach` and `tether run`.

Pure: a message in, a Rich renderable (or None for what is not shown) out. Who wrote a
message is read from its `role`, never from its kind: only a `user` message is drawn as a
person's words, and a `user` message is never drawn as the agent's, whatever its kind.
`compact` is `tether run`'s view: one short line per thing, no Markdown.
"""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from rich.text import Text

from tether.cli.render import (
    checklist,
    fold,
    one_line,
    person,
    short_path,
    took,
    tool_call_line,
    tool_result_text,
)


def render_message(message: dict[str, Any], compact: bool = False) -> RenderableType | None:
    content = message.get("content")
    if not isinstance(content, dict):
        content = {"text": "" if content is None else str(content)}
    if message.get("role") == "user":
        return _person(message, content)
    kind = message.get("kind")
    text = str(content.get("text") or "")
    if kind == "assistant_text":
        if compact:
            return Text(f"● {one_line(text, 2000)}")
        # rich.markdown brings a Markdown parser and Pygments: only `attach` needs them, and
        # `tether run`, which imports this module, starts faster without.
        from rich.markdown import Markdown

        return Markdown(text)
    if kind == "user_text" and content.get("interrupt") is True:
        return Text(f"■ {_interrupted(content)}", style="yellow")  # not the person's words
    if kind == "user_text":  # the agent's own "user" frame, e.g. a subagent's prompt
        return Text(f"↳ {_brief(text, compact)}", style="dim")
    if kind == "thinking":
        return Text(f"∴ {_brief(text, compact)}", style="dim italic")
    if kind == "plan":
        return Text(f"plan:\n{_plan_text(content)}", style="cyan")
    if kind == "tool_call":
        todos = (
            (content.get("input") or {}).get("todos")
            if isinstance(content.get("input"), dict)
            else None
        )
        if content.get("name") == "TodoWrite" and isinstance(todos, list):
            return Text("⏺ todo list\n" + _indent(checklist(todos)), style="bold")
        return Text(f"⏺ {tool_call_line(content)}", style="bold")
    if kind == "tool_result" and content.get("interrupted") is True:
        return Text("  ⎿ interrupted", style="yellow")  # Claude's words read as a refusal
    if kind == "tool_result":
        body = tool_result_text(content, lines=1 if compact else 2).replace("\n", "\n    ")
        return Text(f"  ⎿ {body}", style="red" if content.get("is_error") else "dim")
    if kind == "usage":
        return None  # summed into the status line
    if kind == "result":
        return Text(_turn_line(content), style="dim")
    if kind == "status":
        return Text(f"· {content.get('text') or content.get('status')}", style="dim")
    if kind == "error":
        out = Text(f"error: {one_line(content.get('message', ''), 300)}", style="red")
        if content.get("stderr"):
            out.append(f"\n{fold(str(content['stderr']), 20 if compact else 40)}", style="dim")
        return out
    if kind == "system" and content.get("subtype") in ("init", None):
        return Text(_started_line(content), style="dim")
    label = content.get("subtype") if kind == "system" else kind
    return Text(f"· {label}: {one_line(str(content), 200)}", style="dim")


def _person(message: dict[str, Any], content: dict[str, Any]) -> Text:
    said = content.get("text")
    if message.get("kind") != "user_text" or not isinstance(said, str):
        # Stored before kinds were checked: still a person's words, shown as such.
        said = f"[{message.get('kind')}] {one_line(str(content), 300)}"
    out = Text(f"› {said}", style="bold cyan")
    out.append(f"  ({message.get('author') or 'you'})", style="dim")
    return out


def _indent(text: str) -> str:
    return "\n".join("    " + row for row in text.splitlines())


def _brief(text: str, compact: bool) -> str:
    return one_line(text, 200) if compact else fold(text, 3, 160)


def agent_label(session: dict[str, Any]) -> str:
    """Which agent runs a session, with its version when the runner learned it."""
    state = session.get("agent_state") or {}
    info = state.get("agent_info") or {}
    version = info.get("version") or state.get("claude_code_version")
    name = session.get("agent") or "agent"
    return f"{name} {version}" if version else name


def _plan_text(content: dict[str, Any]) -> str:
    entries = content.get("entries")
    if isinstance(entries, list):
        rows = []
        for entry in entries:
            item = entry if isinstance(entry, dict) else {"content": entry}
            mark = {"completed": "✓", "in_progress": "…"}.get(str(item.get("status")), "·")
            rows.append(f"  {mark} {one_line(str(item.get('content', '')), 160)}")
        return "\n".join(rows)
    return fold(str(content.get("text") or ""), 20, 160)


def _interrupted(content: dict[str, Any]) -> str:
    by = content.get("interrupted_by")
    return f"interrupted by {person(by)}" if by else "interrupted"


def _turn_line(content: dict[str, Any]) -> str:
    ended = _interrupted(content) if content.get("interrupted_by") else None
    parts = [f"■ turn {ended or content.get('subtype') or 'ended'}"]
    if content.get("num_turns"):
        parts.append(f"{content['num_turns']} steps")
    if took(content):
        parts.append(took(content))
    cost = content.get("total_cost_usd")
    if isinstance(cost, int | float):
        parts.append(f"${cost:.4f}")
    return ", ".join(parts)


def _started_line(content: dict[str, Any]) -> str:
    line = f"· {content.get('model') or 'agent'} started in {short_path(content.get('cwd'))}"
    details = [
        f"claude {content['claude_code_version']}" if content.get("claude_code_version") else "",
        f"mode {content['permission_mode']}" if content.get("permission_mode") else "",
    ]
    details = [d for d in details if d]
    return line + (f" ({', '.join(details)})" if details else "")
