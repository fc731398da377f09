// Tool cards: each tool call as one compact card (a summary line and a short preview),
// paired with its result by call_id, that expands to the full input and result. The full
// body is built only when a card is first opened, which keeps long transcripts fast.

import { basename, countLines, esc, firstLine, outputText, plural, pretty, truncate } from "../dom.js";
import { diffStats, editsDiff, renderDiff } from "../diff.js";
import { highlight } from "../highlight.js";
import { codeBlock } from "../markdown.js";

const EXT_LANG = {
  py: "python", js: "js", mjs: "js", cjs: "js", ts: "ts", tsx: "ts", jsx: "js", go: "go",
  rs: "rust", c: "c", h: "c", cc: "cpp", cpp: "cpp", java: "java", kt: "kotlin",
  swift: "swift", rb: "ruby", php: "php", sh: "bash", bash: "bash", zsh: "bash",
  json: "json", yaml: "yaml", yml: "yaml", toml: "toml", sql: "sql", cs: "cs",
  scala: "scala", dart: "dart",
};

export function langOf(path) {
  const name = basename(path);
  if (/^(Makefile|Dockerfile)$/i.test(name)) return name.toLowerCase();
  const dot = name.lastIndexOf(".");
  return dot < 0 ? "" : EXT_LANG[name.slice(dot + 1).toLowerCase()] || "";
}

function lines(text) { return String(text ?? "").split("\n"); }

function clip(text, max, fromEnd = false) {
  const all = lines(text);
  if (all.length <= max) return { text: all.join("\n"), more: 0 };
  const kept = fromEnd ? all.slice(-max) : all.slice(0, max);
  return { text: kept.join("\n"), more: all.length - max };
}

function moreLine(n, where) {
  return n ? `<div class="more">${plural(n, "more line")}${where ? ` ${where}` : ""}</div>` : "";
}

function editsOf(name, input) {
  if (name === "MultiEdit" && Array.isArray(input.edits)) return input.edits;
  if (name === "Edit" || name === "str_replace_based_edit_tool") {
    return [{ old_string: input.old_string ?? input.old_str, new_string: input.new_string ?? input.new_str }];
  }
  return null;
}

// {icon, label, summary}: the one line a card shows for a call.
export function describe(name, input) {
  const i = input && typeof input === "object" ? input : {};
  switch (name) {
    case "Bash": return { label: "Bash", summary: i.command || "" };
    case "Read": {
      const range = i.offset ? ` (from line ${i.offset})` : "";
      return { label: "Read", summary: (i.file_path || "") + range };
    }
    case "Write": return { label: "Write", summary: i.file_path || "" };
    case "Edit": case "MultiEdit": return { label: name, summary: i.file_path || "" };
    case "Grep": {
      const where = i.path || i.glob ? ` in ${i.path || ""}${i.glob ? ` (${i.glob})` : ""}` : "";
      return { label: "Grep", summary: `${i.pattern || ""}${where}` };
    }
    case "Glob": return { label: "Glob", summary: `${i.pattern || ""}${i.path ? ` in ${i.path}` : ""}` };
    case "WebFetch": return { label: "Fetch", summary: i.url || "" };
    case "WebSearch": return { label: "Search", summary: i.query || "" };
    case "Task": case "Agent": return { label: name, summary: i.description || i.prompt || "" };
    case "TodoWrite": return { label: "Todos", summary: Array.isArray(i.todos) ? plural(i.todos.length, "item") : "" };
    case "NotebookEdit": return { label: "Notebook", summary: i.notebook_path || "" };
    default: {
      const first = Object.values(i).find((v) => typeof v === "string");
      return { label: name || "Tool", summary: first || "" };
    }
  }
}

// A result's content, {} when it has none or an unexpected shape.
function resultOf(result) {
  const c = result?.content;
  return c && typeof c === "object" ? c : {};
}

// A tool stopped by an interrupt (the runner marks it: Claude Code's own words for it are
// "The user doesn't want to proceed with this tool use", even when the person had allowed
// it) is shown as what happened: interrupted.
function interrupted(result) {
  return resultOf(result).interrupted === true;
}

const INTERRUPTED_TEXT = "Stopped by an interrupt before it finished.";

function resultState(result) {
  if (!result) return { cls: "pending", text: "running", mark: "…" };
  if (interrupted(result)) return { cls: "interrupted", text: "interrupted", mark: "■" };
  if (resultOf(result).is_error) return { cls: "error", text: "failed", mark: "✗" };
  return { cls: "ok", text: "done", mark: "✓" };
}

// The short preview under a card's summary line.
function preview(name, input, result) {
  const i = input || {};
  const out = result && !interrupted(result) ? outputText(resultOf(result).output) : null;
  if (name === "Bash") {
    if (out === null || !out.trim()) return "";
    const c = clip(out.replace(/\n+$/, ""), 6, true);
    return moreLine(c.more, "above") + `<pre class="out">${esc(c.text)}</pre>`;
  }
  const edits = editsOf(name, i);
  if (edits) {
    const diff = editsDiff(edits);
    const { added, removed } = diffStats(diff);
    const shown = diff.filter((l) => l.op !== " ").slice(0, 12);
    const hidden = diff.filter((l) => l.op !== " ").length - shown.length;
    return `<div class="stats"><span class="d-add">+${added}</span> <span class="d-del">−${removed}</span></div>` +
      renderDiff(shown) + moreLine(hidden, "changed");
  }
  if (name === "Write") {
    const c = clip(i.content, 8);
    return `<div class="stats">${plural(countLines(i.content), "line")}</div>` +
      `<pre class="out"><code>${highlight(c.text, langOf(i.file_path))}</code></pre>` + moreLine(c.more, "");
  }
  if (name === "TodoWrite" && Array.isArray(i.todos)) {
    return `<ul class="todos">${i.todos.map((t) => {
      if (!t || typeof t !== "object") return `<li class="todo-odd"><code>${esc(JSON.stringify(t))}</code></li>`;
      const s = t.status === "completed" ? "done" : t.status === "in_progress" ? "doing" : "todo";
      return `<li class="todo-${s}">${esc(t.content || t.activeForm || "")}</li>`;
    }).join("")}</ul>`;
  }
  // Read, Grep, Glob and the rest: one line, with the result counted.
  return "";
}

function lastLine(text) {
  const rows = String(text ?? "").split("\n").map((r) => r.trim()).filter(Boolean);
  return rows.length ? rows[rows.length - 1] : "";
}

function resultNote(name, result) {
  if (!result) return "";
  if (interrupted(result)) return "interrupted";
  const out = outputText(resultOf(result).output);
  // A failure's error is at its end (a traceback's last line, `make`'s last word).
  if (resultOf(result).is_error) return firstLine(lastLine(out), 120);
  if (name === "Read" || name === "Grep" || name === "Glob") {
    const n = countLines(out);
    return plural(n, name === "Read" ? "line" : "result");
  }
  return "";
}

// The card head's name starts with the text it shows (label, line, note; the spans are
// apart by a space), as a speech user would say it to pick it, then its state when the
// note did not say it already.
function headName(label, line, note, state) {
  const said = [label, line, note].filter(Boolean).join(" ");
  return `${said}${note === state ? "" : ` (${state})`}; show details`;
}

export function toolCard(call, result) {
  const c = call.content || {};
  const { label, summary } = describe(c.name, c.input);
  const state = resultState(result);
  const note = resultNote(c.name, result);
  const oneLine = c.name === "Bash" ? `$ ${firstLine(summary, 200)}` : firstLine(summary, 200);
  const id = esc(c.call_id || "");
  return `<div class="tool tool-${state.cls}" data-call-id="${id}" data-seq="${call.seq}">` +
    `<button type="button" class="tool-head" aria-expanded="false" ` +
    `aria-label="${esc(headName(label, oneLine, note, state.text))}">` +
    `<span class="tool-name">${esc(label)}</span> ` +
    `<span class="tool-sum">${esc(oneLine)}</span> ` +
    (note ? `<span class="tool-note">${esc(note)}</span> ` : "") +
    `<span class="tool-state" aria-hidden="true">${state.mark}</span></button>` +
    `<div class="tool-preview">${preview(c.name, c.input, result)}</div>` +
    `<div class="tool-body" hidden></div></div>`;
}

// A result whose call is not loaded (it is on an earlier page).
export function orphanResult(m) {
  const stopped = interrupted(m);
  const out = stopped ? INTERRUPTED_TEXT : outputText(resultOf(m).output);
  const c = clip(out, 6);
  const cls = stopped ? "interrupted" : resultOf(m).is_error ? "error" : "ok";
  return `<div class="tool tool-${cls}" data-seq="${m.seq}">` +
    `<div class="tool-head static"><span class="tool-name">Result</span></div>` +
    `<pre class="out">${esc(c.text)}</pre>${moreLine(c.more, "")}</div>`;
}

// The expanded body: the whole input and the whole result.
export function toolBody(call, result) {
  const c = call.content || {};
  const i = c.input || {};
  let html = "";
  const edits = editsOf(c.name, i);
  if (c.name === "Bash") {
    if (i.description) html += `<p class="tool-desc">${esc(i.description)}</p>`;
    html += codeBlock(i.command || "", "bash");
  } else if (edits) {
    html += renderDiff(editsDiff(edits));
  } else if (c.name === "Write") {
    html += codeBlock(i.content || "", langOf(i.file_path));
  }
  html += `<details class="raw"><summary>Input</summary>${codeBlock(pretty(i), "json")}</details>`;
  if (result && interrupted(result)) {
    html += `<div class="tool-result-label">Interrupted</div><pre class="out full">${INTERRUPTED_TEXT}</pre>`;
  } else if (result) {
    const out = outputText(resultOf(result).output);
    html += `<div class="tool-result-label">${resultOf(result).is_error ? "Error" : "Result"}</div>` +
      `<pre class="out full">${esc(out)}</pre>`;
  } else {
    html += `<div class="tool-result-label">No result yet.</div>`;
  }
  return html;
}
