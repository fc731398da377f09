// One transcript message as HTML. Tool results render inside their call's card (paired by
// call_id), usage messages are summed in the header, everything else is a row here.

import { clockTime, esc, formatCost, pretty, truncate } from "../dom.js";
import { renderMarkdown } from "../markdown.js";
import { orphanResult, toolCard } from "./tools.js";

export function renderMessage(m, transcript) {
  const c = m.content && typeof m.content === "object" ? m.content : {};
  const seq = m.seq;
  switch (m.kind) {
    case "user_text":
      return `<div class="msg user" data-seq="${seq}"><div class="bubble">${esc(c.text ?? "")}</div>` +
        `<div class="meta">${esc(m.author || "you")} · ${esc(clockTime(m.created_at))}</div></div>`;
    case "assistant_text":
      return `<div class="msg assistant md" data-seq="${seq}">${renderMarkdown(c.text ?? "")}</div>`;
    case "thinking":
      return `<details class="msg thinking" data-seq="${seq}"><summary>Thinking</summary>` +
        `<div class="thinking-text">${esc(c.text ?? "")}</div></details>`;
    case "plan":
      return planList(seq, c.entries);
    case "tool_call":
      return toolCard(m, transcript.results.get(c.call_id));
    case "tool_result":
      return transcript.calls.has(c.call_id) ? "" : orphanResult(m);
    case "usage":
      return "";
    case "result":
      return note(seq, resultText(c), c.is_error ? "error" : "");
    case "status":
      return c.text || c.status ? note(seq, c.text || `Status: ${c.status}`) : "";
    case "error":
      return `<div class="msg error" role="alert" data-seq="${seq}">${esc(c.message || pretty(c))}</div>`;
    case "system": {
      const bits = ["Session started"];
      if (c.model) bits.push(c.model);
      if (c.permission_mode) bits.push(`mode ${c.permission_mode}`);
      return note(seq, bits.join(" · "));
    }
    default:
      return note(seq, `${m.kind}: ${truncate(pretty(m.content), 200)}`);
  }
}

// The agent's plan as a checklist (ACP sends the whole plan each time it changes).
const PLAN_MARKS = { completed: "☑", in_progress: "◐" };

function planList(seq, entries) {
  const rows = (Array.isArray(entries) ? entries : []).map((e) => {
    const status = String(e?.status || "pending");
    return `<li class="plan-${esc(status)}"><span class="plan-mark">${PLAN_MARKS[status] || "☐"}</span> ` +
      `${esc(e?.content ?? "")}</li>`;
  });
  return `<div class="msg plan" data-seq="${seq}"><div class="plan-title">Plan</div>` +
    `<ul class="plan-list">${rows.join("")}</ul></div>`;
}

function note(seq, text, cls = "") {
  return `<div class="msg note ${cls}" data-seq="${seq}">${esc(text)}</div>`;
}

function resultText(c) {
  if (c.is_error) return `Turn failed${c.subtype ? ` (${c.subtype})` : ""}${c.text ? `: ${truncate(c.text, 300)}` : ""}`;
  const bits = ["Turn finished"];
  if (c.num_turns) bits.push(`${c.num_turns} turn${c.num_turns === 1 ? "" : "s"}`);
  if (c.duration_ms) bits.push(`${(c.duration_ms / 1000).toFixed(1)} s`);
  if (c.total_cost_usd != null) bits.push(formatCost(c.total_cost_usd));
  return bits.join(" · ");
}

// The whole transcript in one string: one innerHTML write, one layout.
export function renderTranscript(transcript) {
  let html = "";
  for (const m of transcript.messages) html += renderMessage(m, transcript);
  return html;
}
