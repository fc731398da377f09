"""The one answer language of the terminal: how a person answers a permission request in
`tether permissions`, `tether attach` and `tether run`, the same keys everywhere.

    y        yes, allow                    (also: a, yes, allow, ok, /allow)
    n [why]  no, deny, with a reason       (also: d, no, deny, /deny)
    1, 2 …   yes, and remember the rule shown beside the number (one per suggestion
             from the agent, labelled as the web labels it; `A`/always picks the only one)
    N [why]  no, and never: an ACP agent's "reject always" answer, shown only when the
             agent offers one (sent as a deny naming that option, as the web's button)
    e        show the whole request (a long command or file is folded at first)
    s        later: to the back of the queue   q  quit

AskUserQuestion is a form, not a yes/no: `QuestionForm` asks each question in turn and
takes an option's number (several, comma-separated, when more than one may be chosen) or
any other text as the person's own answer.

Pure: lines in, answers and text out; the commands do the I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Action = Literal["allow", "deny", "remember", "expand", "skip", "quit", "help"]


@dataclass(frozen=True)
class Answer:
    action: Action
    reason: str | None = None
    index: int | None = None  # which suggestion, for "remember" (or a deny's reject_always)


_ALLOW = {"y", "yes", "a", "allow", "ok"}
_DENY = {"n", "no", "d", "deny"}
_ALWAYS = {"A", "always", "aa", "!"}
_NEVER = {"N", "never"}


def parse_answer(
    line: str, offered: list[int] | None = None, refusable: list[int] | None = None
) -> Answer:
    """What a typed line means, given the suggestions `offered` to remember (their indexes
    in the request, numbered 1, 2 … on screen) and the agent's "reject always" options
    (`refusable`, see `refusals`). Case matters only for `a` (allow) vs `A` (always) and
    `n` (no) vs `N` (never); `A` picks a rule only when exactly one was offered, since a
    key must never allow something the person was not shown. `N` with no such option on
    screen is a plain no."""
    offered = offered or []
    text = line.strip().removeprefix("/")
    word, _, rest = text.partition(" ")
    if word in _NEVER and refusable and len(refusable) == 1:
        return Answer("deny", rest.strip() or None, index=refusable[0])
    if word in _ALWAYS:
        return Answer("remember", index=offered[0]) if len(offered) == 1 else Answer("help")
    if word.isdigit():
        k = int(word)
        return (
            Answer("remember", index=offered[k - 1]) if 1 <= k <= len(offered) else Answer("help")
        )
    low = word.lower()
    if low in _ALLOW:
        return Answer("allow")
    if low in _DENY:
        return Answer("deny", rest.strip() or None)
    if low in ("e", "expand", "more", "show"):
        return Answer("expand")
    if low in ("s", "skip", "later"):
        return Answer("skip")
    if low in ("q", "quit", "exit"):
        return Answer("quit")
    return Answer("help")


def suggestions_of(request: dict[str, Any]) -> list[Any]:
    offered = request.get("suggestions")
    return offered if isinstance(offered, list) else []


def rememberable(request: dict[str, Any], cwd: str | None = None) -> list[tuple[int, str]]:
    """The suggestions a person may choose to remember, as (index in the request, label).
    An ACP agent's options are its own answers: only its "allow always" ones remember."""
    out = []
    for i, s in enumerate(suggestions_of(request)):
        if isinstance(s, dict) and s.get("type") == "acp_option":
            if s.get("kind") == "allow_always":
                out.append((i, str(s.get("name") or "Yes, always")))
        else:
            out.append((i, remember_label(s, cwd)))
    return out


def refusals(request: dict[str, Any]) -> list[tuple[int, str]]:
    """An ACP agent's "reject always" options, as (index in the request, the agent's own
    label). Claude's requests have none: its deny remembers nothing."""
    return [
        (i, " ".join(str(s.get("name") or "No, never").split())[:60])
        for i, s in enumerate(suggestions_of(request))
        if isinstance(s, dict)
        and s.get("type") == "acp_option"
        and s.get("kind") == "reject_always"
    ]


# ── "Yes, and remember…" in the agent's own terms (as the web card says it) ──────────────

_MODE_ANSWERS = {
    "acceptEdits": "Yes, allow all edits this session",
    "bypassPermissions": "Yes, and skip every permission check this session",
    "plan": "Yes, and switch to plan mode",
    "default": "Yes, and ask again for everything this session",
    "dontAsk": "Yes, and deny whatever is not allowed already, without asking, this session",
}


def _rule_text(rule: Any, cwd: str | None) -> str:
    rule = rule if isinstance(rule, dict) else {}
    tool = str(rule.get("toolName") or "?")
    content = rule.get("ruleContent")
    if content in (None, ""):
        return f"every {tool} call"
    if tool == "Bash":
        return f"`{content}` commands" + (f" in {cwd}" if cwd else "")
    return f"{tool}(`{content}`)"


def remember_label(suggestion: Any, cwd: str | None = None) -> str:
    """What choosing this suggestion adds, e.g. "Yes, and don't ask again this session for
    `npm test:*` commands in /proj"."""
    s = suggestion if isinstance(suggestion, dict) else {}
    kind = s.get("type")
    rules = ", ".join(_rule_text(r, cwd) for r in s.get("rules") or [] if r is not None)
    dirs = ", ".join(f"`{d}`" for d in s.get("directories") or [])
    if kind == "setMode":
        mode = s.get("mode")
        return _MODE_ANSWERS.get(str(mode), f"Yes, and switch to {mode} mode this session")
    if kind in ("addRules", "replaceRules"):
        if s.get("behavior") == "allow":
            return f"Yes, and don't ask again this session for {rules}"
        if s.get("behavior") == "deny":
            return f"Yes, and deny {rules} from now on this session"
        return f"Yes, and ask each time for {rules} this session"
    if kind == "removeRules":
        return f"Yes, and drop the rule for {rules} this session"
    if kind == "addDirectories":
        return f"Yes, and allow access to {dirs} this session"
    if kind == "removeDirectories":
        return f"Yes, and stop allowing {dirs} this session"
    return f"Yes, and apply {suggestion!r}"


_OPTION_ANSWERS = {"allow_once": "allow", "reject_once": "deny", "allow_always": "always"}


def agent_labels(request: dict[str, Any]) -> dict[str, str]:
    """The agent's own words for the typed answers ("allow", "deny", "always"), when it gave
    them: an ACP agent's options travel as `acp_option` suggestions. {} for Claude's."""
    labels: dict[str, str] = {}
    for option in request.get("suggestions") or []:
        if not isinstance(option, dict) or option.get("type") != "acp_option":
            continue
        answer = _OPTION_ANSWERS.get(str(option.get("kind")))
        name = option.get("name")
        if answer and answer not in labels and isinstance(name, str) and name.strip():
            labels[answer] = " ".join(name.split())[:60]
    return labels


def choices(request: dict[str, Any], cwd: str | None = None) -> list[tuple[str, str]]:
    """The answers on offer as (key, label), in the order they are shown."""
    said = agent_labels(request)  # an ACP agent's own words for its answers
    if request.get("tool_name") == "ExitPlanMode":
        yes, no = "Yes, start (ask before each edit)", "No, keep planning (n <what to change>)"
    else:
        yes = said.get("allow", "Yes")
        no = f"{said.get('deny', 'No')} (n <reason> tells the agent why)"
    rows = [("y", yes)]
    rows += [(str(k), label) for k, (_, label) in enumerate(rememberable(request, cwd), start=1)]
    rows.append(("n", no))
    never = refusals(request)
    if len(never) == 1:  # a key names exactly one answer
        rows.append(("N", f"{never[0][1]} (N <reason> tells the agent why)"))
    return rows


def keys_help(request: dict[str, Any], cwd: str | None = None, *, more: str = "") -> str:
    """The answers and keys, one per line, then the keys that are not answers."""
    rows = [f"  {key}  {label}" for key, label in choices(request, cwd)]
    tail = "e show it all" + (f" · {more}" if more else "")
    return "\n".join(rows) + f"\n  ({tail})"


def respond_args(answer: Answer) -> dict[str, Any]:
    """The relay `respond` arguments for an allow, a deny or a remembered rule."""
    args: dict[str, Any] = {"behavior": "allow"}
    if answer.action == "deny":
        args = {"behavior": "deny", "message": answer.reason}
        if answer.index is not None:
            args["remember"] = [answer.index]  # the agent's reject_always option
    elif answer.action == "remember" and answer.index is not None:
        args["remember"] = [answer.index]  # exactly the rule that was shown, nothing more
    return args


def verdict(
    answer: Answer,
    request: dict[str, Any],
    cwd: str | None = None,
    form: QuestionForm | None = None,
) -> str:
    """What was answered, in a few words, for the note that confirms it."""
    if answer.action == "deny" and form is None and answer.index is not None:
        label = dict(refusals(request)).get(answer.index)
        return f"denied; {label}" if label else "denied"
    if answer.action == "deny":
        return "dismissed" if form is not None else "denied"
    if form is not None:
        return f"answered: {form.summary()}"
    if answer.action == "remember" and answer.index is not None:
        label = dict(rememberable(request, cwd)).get(answer.index)
        if label:
            return "allowed; " + label.removeprefix("Yes, and ").removeprefix("Yes, ")
    return "allowed"


# ── AskUserQuestion ───────────────────────────────────────────────────────────────────


@dataclass
class Question:
    text: str
    header: str
    multi: bool
    options: list[tuple[str, str]]  # (label, description)


def read_questions(request: dict[str, Any]) -> list[Question] | None:
    """AskUserQuestion's questions, or None when the request is no readable question (it
    is then answered as any other request)."""
    data = request.get("input")
    if request.get("tool_name") != "AskUserQuestion" or not isinstance(data, dict):
        return None
    out = []
    for q in data.get("questions") or []:
        if not isinstance(q, dict) or not isinstance(q.get("question"), str):
            continue
        options = []
        for o in q.get("options") or []:
            if isinstance(o, str):
                options.append((o, ""))
            elif isinstance(o, dict) and isinstance(o.get("label"), str):
                options.append((o["label"], str(o.get("description") or "")))
        out.append(
            Question(
                q["question"], str(q.get("header") or ""), q.get("multiSelect") is True, options
            )
        )
    return out or None


@dataclass
class QuestionForm:
    """One AskUserQuestion request answered a question at a time."""

    request: dict[str, Any]
    questions: list[Question]
    answers: dict[str, str] = field(default_factory=dict)

    @property
    def current(self) -> Question | None:
        return (
            self.questions[len(self.answers)] if len(self.answers) < len(self.questions) else None
        )

    @property
    def done(self) -> bool:
        return self.current is None

    def ask(self) -> str:
        q = self.current
        if q is None:
            return ""
        step = f"question {len(self.answers) + 1} of {len(self.questions)}"
        head = f"{q.header}: " if q.header else ""
        rows = [f"{head}{q.text}  ({step})"]
        for k, (label, description) in enumerate(q.options, start=1):
            rows.append(f"  {k}  {label}" + (f" — {description}" if description else ""))
        pick = "numbers, comma-separated," if q.multi else "a number"
        rows.append(f"  (type {pick} or your own answer · n dismisses the question)")
        return "\n".join(rows)

    def feed(self, line: str) -> str | None:
        """Take one typed line as the current question's answer; a complaint when it is no
        answer (the question stays)."""
        q = self.current
        text = line.strip()
        if q is None or not text:
            return "type an answer" if q else None
        parts = [p.strip() for p in text.split(",")] if q.multi else [text]
        if all(p.isdigit() for p in parts):
            picked = []
            for p in parts:
                k = int(p)
                if not 1 <= k <= len(q.options):
                    return f"{k} is not one of the options (1–{len(q.options)})"
                picked.append(q.options[k - 1][0])
            self.answers[q.text] = ", ".join(picked)
        else:
            self.answers[q.text] = text  # the person's own words ("Other")
        return None

    def updated_input(self) -> dict[str, Any]:
        data = self.request.get("input") if isinstance(self.request.get("input"), dict) else {}
        return {**data, "answers": dict(self.answers)}

    def summary(self) -> str:
        return "; ".join(f"{q} → {a}" for q, a in self.answers.items())


def form_step(form: QuestionForm, line: str) -> Answer | str | None:
    """One typed line into a question form: the answer to send (a dismissal, or the
    filled form as an allow), a complaint to show, or None when the next question follows."""
    if line.strip().removeprefix("/").lower() in ("n", "no", "d", "deny", "dismiss"):
        return Answer("deny", "dismissed")
    problem = form.feed(line)
    if problem:
        return problem
    return Answer("allow") if form.done else None
