"""Where the interactive commands write: Rich with colour and panels in a terminal, plain
lines when stdout is a pipe or a file, so scripts and logs read them as easily."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.syntax import Syntax
from rich.text import Text

from tether.cli.answers import read_questions
from tether.cli.render import RequestView, describe_request, one_line, plural, short_path


def view_of(request: dict[str, Any], full: bool) -> RequestView:
    questions = read_questions(request)
    if questions:  # the form that follows shows them
        return RequestView(f"ask you {plural(len(questions), 'question')}", "")
    return describe_request(request["tool_name"], request.get("input") or {}, full)


class Output:
    interactive = False

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False)

    def note(self, text: str, style: str = "") -> None:
        print(text, flush=True)

    def prompt(self, text: str) -> None:
        print(f"> {text}: ", flush=True)

    def request(
        self, request: dict[str, Any], session: dict[str, Any], queued: int, full: bool = False
    ) -> None:
        view = view_of(request, full)
        where = f"{one_line(session.get('title') or session.get('id') or '?', 60)}"
        lines = [
            f"── permission request {request['id']} ({queued} waiting) ──",
            f"session: {where}  cwd: {short_path(session.get('cwd'))}",
            f"tool: {request['tool_name']} — {view.summary}",
        ]
        if request.get("description"):
            lines.append(f"why: {one_line(request['description'], 200)}")
        lines += ["  " + row for row in view.body.splitlines() if view.body]
        print("\n".join(lines), flush=True)


class RichOutput(Output):
    interactive = True

    def note(self, text: str, style: str = "") -> None:
        self.console.print(Text(text, style=style))

    def prompt(self, text: str) -> None:
        self.console.print(Text(f"› {text}", style="bold magenta"))

    def request(
        self, request: dict[str, Any], session: dict[str, Any], queued: int, full: bool = False
    ) -> None:
        view = view_of(request, full)
        head = Text()
        head.append(f"{request['tool_name']}", style="bold")
        head.append(f" wants to {view.summary}")
        parts: list[Any] = [head, Text(f"in {short_path(session.get('cwd'))}", style="dim")]
        if request.get("description"):
            parts.append(Text(one_line(request["description"], 300), style="italic"))
        if not view.body:
            pass
        elif view.lexer:
            parts.append(
                Syntax(
                    view.body,
                    view.lexer,
                    word_wrap=True,
                    theme="ansi_dark",
                    background_color="default",
                )
            )
        else:
            parts.append(Text(view.body))
        title = one_line(session.get("title") or session.get("id") or "?", 50)
        more = f"{queued} waiting" if queued > 1 else "1 waiting"
        self.console.print(
            Panel(
                Group(*parts),
                title=f"[bold]{title}[/]",
                subtitle=f"{request['id']} · {more}",
                border_style="yellow",
                expand=True,
            )
        )


def make_output(interactive: bool | None = None) -> Output:
    if interactive is None:
        interactive = sys.stdout.isatty()
    return RichOutput() if interactive else Output()
