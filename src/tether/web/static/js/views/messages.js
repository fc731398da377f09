// One transcript message as HTML. Tool results render inside their call's card (paired by
// call_id), usage messages are summed in the header, everything else is a row here.

import { clockTime, esc, formatCost, personName, plural, pretty, truncate } from "../dom.js";
import { codeBlock, renderMarkdown } from "../markdown.js";
import { orphanResult, toolCard } from "./tools.js";
import { TAMPERED } from "../vault.js";

// What one message renders at most until "Show all" is pressed: a huge message must not
// stall the page, and the rest is one tap away.
export const SHOWN_CHARS = 40000;

function text(value) {
  return typeof value === "string" ? value : value == null ? "" : pretty(value);
}

// [the part to render, how many characters are left out]; cut at a line end when one is near.
function capped(value, full) {
  const s = text(value);
  if (full || s.length <= SHOWN_CHARS) return [s, 0];
  let cut = s.lastIndexOf("\n", SHOWN_CHARS);
  if (cut < SHOWN_CHARS / 2) cut = SHOWN_CHARS;
  return [s.slice(0, cut), s.length - cut];
}

function showAll(seq, left) {
  return left ? `<button type="button" class="btn small show-all" data-seq="${seq}">` +
    `Show all (${plural(left, "more character")})</button>` : "";
}

// One message as HTML: whose it is from its role, how it looks from its kind. A message whose shape this code does not expect only degrades its own
// row (its raw JSON is shown); it never takes the rest of the transcript down with it.
export function renderMessage(m, transcript, full = false) {
  // A box that did not open here: say so, show nothing of it (docs/encryption.md).
  if (m?.tampered) {
    return `<div class="msg error tampered" role="alert" data-seq="${esc(m.seq)}">` +
      `Tampered: ${esc(TAMPERED)}</div>`;
  }
  if (m?.locked) {
    // A run of them reads as one line (app.css hides the rest); the banner says why.
    return `<div class="msg note locked" data-seq="${esc(m.seq)}">Encrypted messages: no key in this browser.</div>`;
  }
  try {
    return renderKnown(m, transcript, full);
  } catch (err) {
    console.error("tether: could not render message", m?.seq, err);
    return rawMessage(m);
  }
}

export function rawMessage(m) {
  let json;
  try { json = JSON.stringify(m?.content ?? null, null, 2); } catch { json = String(m?.content); }
  return `<details class="msg raw-msg" data-seq="${esc(m?.seq)}"><summary>A ${esc(m?.kind)} message ` +
    `this page cannot show; its content:</summary>${codeBlock(json, "json")}</details>`;
}

// A person's message: what they wrote, in their bubble. A person's message is shown as
// theirs whatever kind it claims (who wrote it comes from the role, which the relay sets
// from the token; the kind is only what the sender says it is).
function userBubble(m, c, full) {
  const seq = m.seq;
  const claimed = m.kind !== "user_text" ? ` · sent as ${m.kind}` : "";
  const said = m.kind === "user_text" || typeof c.text === "string" ? c.text : m.content;
  const [shown, left] = capped(said, full);
  return `<div class="msg user" data-seq="${seq}"><div class="bubble">${esc(shown)}${showAll(seq, left)}</div>` +
    `<div class="meta">${esc(personName(m.author))} · ${esc(clockTime(m.created_at))}${esc(claimed)}</div></div>`;
}

function renderKnown(m, transcript, full) {
  const c = m.content && typeof m.content === "object" ? m.content : {};
  const seq = m.seq;
  if (m.role === "user") return userBubble(m, c, full);
  switch (m.kind) {
    case "user_text":
      // The agent's note that it was interrupted is not something the person wrote.
      if (c.interrupt === true) return note(seq, interruptedBy(c));
      return userBubble(m, c, full); // the agent's record of what the person said
    case "assistant_text": {
      const [shown, left] = capped(c.text, full);
      return `<div class="msg assistant md" data-seq="${seq}">${renderMarkdown(shown)}${showAll(seq, left)}</div>`;
    }
    case "thinking": {
      const [shown, left] = capped(c.text, full);
      return `<details class="msg thinking" data-seq="${seq}"${full ? " open" : ""}><summary>Thinking</summary>` +
        `<div class="thinking-text">${esc(shown)}${showAll(seq, left)}</div></details>`;
    }
    case "plan":
      return planList(seq, c.entries);
    case "tool_call":
      return toolCard(m, transcript.results.get(c.call_id));
    case "tool_result":
      return transcript.calls.has(c.call_id) ? "" : orphanResult(m);
    case "usage":
      return "";
    case "result":
      return note(seq, resultText(c), c.is_error && !c.interrupted_by ? "error" : "");
    case "status":
      return c.text || c.status ? note(seq, c.text || `Status: ${c.status}`) : "";
    case "error":
      return `<div class="msg error" role="alert" data-seq="${seq}">${esc(c.message || pretty(c))}</div>`;
    case "system": {
      // Only the init frame starts a session; task_started, task_notification… are
      // events inside it, shown as what they are.
      if (c.subtype && c.subtype !== "init") {
        const said = c.description || c.summary || c.message || c.status || "";
        const label = String(c.subtype).replace(/_/g, " ");
        return note(seq, `${label[0].toUpperCase()}${label.slice(1)}${said ? `: ${truncate(String(said), 200)}` : ""}`);
      }
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

// "Interrupted by you." — the runner names who interrupted (the agent does not know).
function interruptedBy(c) {
  return c.interrupted_by ? `Interrupted by ${personName(c.interrupted_by)}.` : "Interrupted.";
}

function resultText(c) {
  if (c.is_error && !c.interrupted_by) {
    return `Turn failed${c.subtype ? ` (${c.subtype})` : ""}${c.text ? `: ${truncate(c.text, 300)}` : ""}`;
  }
  const bits = [c.interrupted_by ? `Turn interrupted by ${personName(c.interrupted_by)}` : "Turn finished"];
  if (c.num_turns) bits.push(`${c.num_turns} turn${c.num_turns === 1 ? "" : "s"}`);
  if (c.duration_ms) bits.push(took(c.duration_ms, c.waiting_ms));
  if (c.total_cost_usd != null) bits.push(formatCost(c.total_cost_usd));
  return bits.join(" · ");
}

// A span for people: 4.2 s, 40 s, 2 min 5 s.
function seconds(ms) {
  const s = Math.max(0, ms / 1000);
  if (s < 10) return `${s.toFixed(1)} s`;
  const whole = Math.round(s);
  return whole < 60 ? `${whole} s` : `${Math.floor(whole / 60)} min ${whole % 60} s`;
}

// How long a turn worked, apart from the time it waited for a person to answer
// (the runner's waiting_ms, which Claude's duration_ms includes).
function took(duration, waiting) {
  const waited = waiting > 0 ? waiting : 0;
  return `took ${seconds(duration - waited)}${waited ? ` (+${seconds(waited)} waiting for you)` : ""}`;
}

// The whole transcript in one string: one innerHTML write, one layout.
export function renderTranscript(transcript) {
  let html = "";
  for (const m of transcript.messages) html += renderMessage(m, transcript);
  return html;
}
