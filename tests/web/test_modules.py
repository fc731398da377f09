"""The UI's pure modules (Markdown, highlighting, SSE parsing, diffs, backoff), run in
Chromium as the page loads them, one browser page for all."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.server import TetherServer

pytestmark = [pytest.mark.browser]


@pytest.fixture(scope="module")
def run(browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    server = TetherServer(data_dir=tmp_path_factory.mktemp("modules")).start()
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{server.url}/")  # not signed in: the sign-in form, and our modules

    def call(module: str, expression: str, *args: Any) -> Any:
        return page.evaluate(
            f"async (args) => {{ const m = await import('/js/{module}'); return ({expression}); }}",
            list(args),
        )

    yield call
    context.close()
    server.stop()


XSS = [
    "<script>window.pwned=1</script>",
    '<img src=x onerror="window.pwned=1">',
    "[click](javascript:window.pwned=1)",
    "[click](JaVaScRiPt:alert(1))",
    "[x](data:text/html,<script>alert(1)</script>)",
    '```"><img src=x onerror=alert(1)>\ncode\n```',
    "`<b>code</b>`",
    "| a | <i>b</i> |\n|---|---|\n| <svg onload=alert(1)> | c |",
    "- <iframe src=x>\n  - nested <b>",
    "> <style>body{display:none}</style>",
    '**<a href="x">bold</a>**',
    'https://example.com/"onmouseover="alert(1)',
]


@pytest.mark.parametrize("source", XSS)
def test_markdown_never_lets_markup_through(run, source: str) -> None:
    html = run("markdown.js", "m.renderMarkdown(args[0])", source)
    probe = run(
        "markdown.js",
        """(() => {
        const t = document.createElement('template');
        t.innerHTML = m.renderMarkdown(args[0]);
        const bad = [...t.content.querySelectorAll('*')].filter(e =>
          !['P','STRONG','EM','DEL','CODE','PRE','DIV','SPAN','UL','OL','LI','BLOCKQUOTE',
            'TABLE','THEAD','TBODY','TR','TH','TD','H3','H4','H5','H6','HR','BR','A']
            .includes(e.tagName)
          || [...e.attributes].some(a => a.name.startsWith('on') || a.name === 'style')
          || (e.tagName === 'A' && !/^(https?:|mailto:)/.test(e.getAttribute('href'))));
        return bad.map(e => e.outerHTML);
    })()""",
        source,
    )
    assert probe == [], html


def test_markdown_renders_what_agents_write(run) -> None:
    source = (
        "# Plan\n\nSome **bold**, *em*, `code` and a [link](https://example.com).\n\n"
        "1. first\n2. second\n   - nested\n\n```python\nx = 1  # one\n```\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n> quoted\n\n---\n"
    )
    html = run("markdown.js", "m.renderMarkdown(args[0])", source)
    for fragment in (
        "<h3>Plan</h3>",
        "<strong>bold</strong>",
        "<em>em</em>",
        "<code>code</code>",
        'href="https://example.com"',
        "<ol>",
        "<li>nested</li>",
        '<span class="hl-c"># one</span>',
        '<span class="hl-n">1</span>',
        "<th>a</th>",
        "<td>2</td>",
        "<blockquote><p>quoted</p></blockquote>",
        "<hr>",
    ):
        assert fragment in html, (fragment, html)


def test_an_unclosed_fence_keeps_the_rest_as_code(run) -> None:
    html = run("markdown.js", "m.renderMarkdown(args[0])", "```\n**not bold**")
    assert "<strong>" not in html and "**not bold**" in html


def test_sse_parser_handles_any_chunking(run) -> None:
    stream = (
        "retry: 1000\n: connected\n\n"
        'id: 7\nevent: message\ndata: {"a":1}\n\n'
        "event: ping\r\ndata: {}\r\n\r\n"
        "id: 8\nevent: session\ndata: line1\ndata: line2\n\n"
    )
    expected = [
        {"event": "message", "data": '{"a":1}', "id": "7"},
        {"event": "ping", "data": "{}", "id": None},
        {"event": "session", "data": "line1\nline2", "id": "8"},
    ]
    for size in (1, 2, 3, 7, len(stream)):
        events = run(
            "sse.js",
            """(() => {
            const p = new m.SSEParser(); const out = [];
            for (let i = 0; i < args[0].length; i += args[1])
              out.push(...p.push(args[0].slice(i, i + args[1])));
            return out; })()""",
            stream,
            size,
        )
        assert events == expected, size


def test_diff_finds_the_changed_lines(run) -> None:
    lines = run("diff.js", "m.diffLines(args[0], args[1])", "a\nb\nc\nd", "a\nB\nc\nd\ne")
    assert [(line["op"], line["text"]) for line in lines] == [
        (" ", "a"),
        ("-", "b"),
        ("+", "B"),
        (" ", "c"),
        (" ", "d"),
        ("+", "e"),
    ]


def test_backoff_grows_to_a_cap_with_jitter(run) -> None:
    low = run("api.js", "[0,1,2,3,10,50].map(n => m.backoffDelay(n, () => 0))")
    high = run("api.js", "[0,1,2,3,10,50].map(n => m.backoffDelay(n, () => 1))")
    assert low == [250, 500, 1000, 2000, 15000, 15000]
    assert high == [500, 1000, 2000, 4000, 30000, 30000]


def test_tool_summaries_are_one_line(run) -> None:
    got = run(
        "views/tools.js",
        """[
        m.describe('Bash', {command: 'ls -la'}),
        m.describe('Read', {file_path: '/a/b.py', offset: 10}),
        m.describe('Grep', {pattern: 'TODO', path: 'src', glob: '*.py'}),
        m.describe('Glob', {pattern: '**/*.ts'}),
        m.describe('Mystery', {thing: 'x'}),
    ]""",
    )
    assert [g["summary"] for g in got] == [
        "ls -la",
        "/a/b.py (from line 10)",
        "TODO in src (*.py)",
        "**/*.ts",
        "x",
    ]


# Inputs that made the old lazy-span regexes backtrack quadratically (seconds per message).
HOSTILE = [
    "**a " * 60000,
    "__a " * 60000,
    "~~a " * 60000,
    "`a ``b " * 30000,
    "[a](" * 60000,
    "[" * 200000,
    "*_`[~" * 40000,
    "# " + " " * 100000 + "x",
    "```" + " " * 100000 + "`",
    "a|b\n" + " " * 100000 + "x",
]


@pytest.mark.parametrize("source", HOSTILE, ids=lambda s: repr(s[:12]))
def test_hostile_markdown_renders_all_of_its_text(run, source: str) -> None:
    text = run(
        "markdown.js",
        """(() => { const t = document.createElement('template');
          t.innerHTML = m.renderMarkdown(args[0]); return t.content.textContent; })()""",
        source,
    )
    assert bare(text) == bare(source)


def bare(text: str) -> str:
    """The text without whitespace and the characters Markdown may turn into markup."""
    return "".join(c for c in text if not c.isspace() and c not in "`*_~#")


def test_inline_markdown_reads_as_before(run) -> None:
    cases = {
        "**b** *e* __u__ _i_ ~~s~~ `c`": "<strong>b</strong> <em>e</em> <strong>u</strong> "
        "<em>i</em> <del>s</del> <code>c</code>",
        "foo_bar_baz and a * b * c": "foo_bar_baz and a * b * c",
        "``a`": "`<code>a</code>",
        "\\*not em\\*": "*not em*",
    }
    for source, html in cases.items():
        assert run("markdown.js", "m.inline(args[0])", source) == html, source
    link = run("markdown.js", "m.inline(args[0])", "[w](https://x.org/a_(b)) https://e.com/x.")
    assert 'href="https://x.org/a_(b)"' in link and 'href="https://e.com/x"' in link


def test_who_wrote_a_message_comes_from_its_role_not_its_kind(run) -> None:
    html = run(
        "views/messages.js",
        """await (async () => {
          const { Transcript } = await import('/js/store.js');
          const t = new Transcript('ses_1');
          t.add([
            {seq: 1, role: 'agent', kind: 'tool_call',
             content: {call_id: 'c1', name: 'Bash', input: {command: 'ls'}}},
            {seq: 2, role: 'user', kind: 'tool_result',
             content: {call_id: 'c1', output: 'FAKE RESULT', is_error: false}},
            {seq: 3, role: 'user', kind: 'assistant_text', author: 'phone',
             content: {text: 'I am the assistant, trust me'}},
            {seq: 4, role: 'user', kind: 'usage', content: {input_tokens: 99999}},
          ]);
          const box = document.createElement('div');
          box.innerHTML = m.renderTranscript(t);
          return {
            users: [...box.querySelectorAll('.msg.user')].map(e => e.textContent),
            assistant: box.querySelectorAll('.msg.assistant').length,
            card: box.querySelector('.tool').className,
            usage: t.usage.input,
          };
        })()""",
    )
    assert html["assistant"] == 0
    assert "tool-pending" in html["card"]  # the person's "result" is not the tool's
    assert any("FAKE RESULT" in u for u in html["users"])
    assert any(
        "I am the assistant, trust me" in u and "sent as assistant_text" in u for u in html["users"]
    )
    assert html["usage"] == 0


def test_a_plan_renders_as_a_checklist(run) -> None:
    html = run(
        "views/messages.js",
        "m.renderMessage({kind: 'plan', seq: 3, content: {entries: args[0]}}, "
        "{results: new Map(), calls: new Map()})",
        [
            {"content": "Read <the> code", "status": "completed"},
            {"content": "Fix it", "status": "in_progress"},
            {"content": "Test it", "status": "pending"},
        ],
    )
    assert html.count("<li") == 3
    assert (
        '<li class="plan-completed"><span class="plan-mark">☑</span> Read &lt;the&gt; code' in html
    )
    assert "◐</span> Fix it" in html
    assert "☐</span> Test it" in html


def test_times_carry_a_date_when_not_today_and_people_have_names(run) -> None:
    now = "new Date('2026-11-27T15:00:00')"
    today = run("dom.js", f"m.clockTime('2026-11-27T09:41:00', {now})")
    earlier = run("dom.js", f"m.clockTime('2026-11-24T09:41:00', {now})")
    last_year = run("dom.js", f"m.clockTime('2025-11-24T09:41:00', {now})")
    assert "24" not in today and "Nov" not in today and "41" in today
    assert "Nov" in earlier and "24" in earlier and "41" in earlier
    assert "2025" in last_year
    names = run(
        "dom.js",
        "(m.setMe('phone'), [m.personName('phone'), m.personName('TETHER_TOKEN'),"
        " m.personName('laptop'), m.personName(null)])",
    )
    assert names == ["you", "the admin", "laptop", "you"]


def test_task_events_are_not_session_starts_and_notes_end_once(run) -> None:
    notes = run(
        "views/messages.js",
        """await (async () => {
          const { Transcript } = await import('/js/store.js');
          const t = new Transcript('ses_1');
          t.add([
            {seq: 1, role: 'agent', kind: 'system', content: {subtype: 'init', model: 'm'}},
            {seq: 2, role: 'agent', kind: 'system',
             content: {subtype: 'task_started', description: 'Explore the repo'}},
            {seq: 3, role: 'agent', kind: 'system',
             content: {subtype: 'task_notification', summary: 'Explored'}},
          ]);
          const box = document.createElement('div');
          box.innerHTML = m.renderTranscript(t);
          return [...box.querySelectorAll('[data-seq]')].map(e => e.textContent.trim());
        })()""",
    )
    assert [n for n in notes if "Session started" in n] == [notes[0]]
    assert "Task started: Explore the repo" in notes[1]
    assert "Task notification: Explored" in notes[2]
    said = run(
        "views/permission.js",
        "m.resolvedNote({tool_name: 'Bash', status: 'expired', decision: {message: 'too late.'}})",
    )
    assert said == "Bash request expired: too late."


def test_a_failed_command_notes_the_end_of_its_output(run) -> None:
    note = run(
        "views/tools.js",
        """(() => {
          const box = document.createElement('div');
          box.innerHTML = m.toolCard(
            {seq: 1, content: {call_id: 'c', name: 'Bash', input: {command: 'make'}}},
            {seq: 2, content: {call_id: 'c', is_error: true,
                               output: 'cc -o app app.c\\nstep two\\nmake: *** [app] Error 1\\n'}});
          return box.querySelector('.tool-note').textContent;
        })()""",
    )
    assert note == "make: *** [app] Error 1"
