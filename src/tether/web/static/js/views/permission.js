// The permission request card: what the agent wants to do, and the answers a person can
// give (Allow, Deny with a reason, Allow and remember one of the agent's suggested rules,
// Allow with an edited input).
// AskUserQuestion is a question, not a permission: its options are rendered as a form
// and the answers go back as `updated_input.answers` with an allow.

import { countLines, esc, personName, plural, pretty, withCode } from "../dom.js";
import { diffLines, editsDiff, renderDiff } from "../diff.js";
import { codeBlock, renderMarkdown } from "../markdown.js";
import { describe, langOf } from "./tools.js";

// AskUserQuestion's questions as the form shows them, or null when none can be read (the
// request is then an ordinary one, answered with Allow or Deny). An item that is not a
// question is kept as {raw}, so it shows as what it is and the others stay answerable.
function questionsOf(p) {
  const qs = p.input?.questions;
  if (p.tool_name !== "AskUserQuestion" || !Array.isArray(qs)) return null;
  const read = qs.map((q) => {
    if (!q || typeof q !== "object" || typeof q.question !== "string") return { raw: q };
    const options = (Array.isArray(q.options) ? q.options : []).map((o) => {
      if (typeof o === "string") return { label: o };
      if (o && typeof o === "object" && typeof o.label === "string") {
        return { label: o.label, description: typeof o.description === "string" ? o.description : "" };
      }
      return { raw: o };
    });
    return { question: q.question, header: typeof q.header === "string" ? q.header : "", multiSelect: q.multiSelect === true, options };
  });
  return read.some((q) => !("raw" in q)) ? read : null;
}

export function isQuestion(p) {
  return questionsOf(p) !== null;
}

function rawItem(value) {
  return `<code class="raw-item">${esc(JSON.stringify(value) ?? String(value))}</code>`;
}

// Whether a Write creates or replaces its file, from what the request says (Claude Code's
// title or description); "Writes" when it does not say.
function writeVerb(p) {
  const said = `${p.title || ""} ${p.description || ""}`;
  if (/\boverwrit|\breplac/i.test(said)) return "Overwrites";
  if (/\bcreat|\bnew file/i.test(said)) return "Creates";
  return "Writes";
}

function what(p) {
  const i = p.input || {};
  const path = `<div class="perm-path">${esc(i.file_path || "")}</div>`;
  if (p.tool_name === "Bash") return codeBlock(i.command || "", "bash", { wrap: true }) +
    (i.description ? `<p class="perm-desc">${esc(i.description)}</p>` : "");
  if (p.tool_name === "Edit") return path + renderDiff(diffLines(i.old_string, i.new_string));
  if (p.tool_name === "MultiEdit" && Array.isArray(i.edits)) return path + renderDiff(editsDiff(i.edits));
  if (p.tool_name === "Write") {
    const content = typeof i.content === "string" ? i.content : pretty(i.content ?? "");
    return `<div class="perm-stats">${writeVerb(p)} ${plural(countLines(content), "line")} to</div>` +
      path + codeBlock(content, langOf(i.file_path));
  }
  if (p.tool_name === "WebFetch") return `<div class="perm-path">${esc(i.url || "")}</div>` +
    (i.prompt ? `<p class="perm-desc">${esc(i.prompt)}</p>` : "");
  if (p.tool_name === "ExitPlanMode" && typeof i.plan === "string") return `<div class="perm-plan md">${renderMarkdown(i.plan)}</div>`;
  if (p.tool_name === "TodoWrite" && Array.isArray(i.todos)) return todoList(i.todos);
  return codeBlock(pretty(i), "json");
}

// "Always allow" in the agent's own terms: one answer per rule Claude suggested, saying
// what it adds (for this session only: the runner keeps every rule to the session).
const MODE_ANSWERS = {
  acceptEdits: "Yes, allow all edits this session",
  bypassPermissions: "Yes, and skip every permission check this session",
  plan: "Yes, and switch to plan mode",
  default: "Yes, and ask again for everything this session",
  dontAsk: "Yes, and deny whatever is not allowed already, without asking, this session",
};

function ruleText(rule, cwd) {
  const tool = esc(rule?.toolName || "?");
  const content = rule?.ruleContent;
  if (content == null || content === "") return `every ${tool} call`;
  if (rule.toolName === "Bash") return `<code>${esc(content)}</code> commands${cwd ? ` in ${esc(cwd)}` : ""}`;
  return `${tool}(<code>${esc(content)}</code>)`;
}

// The label (HTML) of the answer that applies suggestion `s`.
export function rememberLabel(s, cwd) {
  if (!s || typeof s !== "object") return `Yes, and apply <code>${esc(JSON.stringify(s))}</code>`;
  const rules = Array.isArray(s.rules) ? s.rules.map((r) => ruleText(r, cwd)).join(", ") : "";
  const dirs = Array.isArray(s.directories) ? s.directories.map((d) => `<code>${esc(d)}</code>`).join(", ") : "";
  if (s.type === "setMode") return esc(MODE_ANSWERS[s.mode] || `Yes, and switch to ${s.mode} mode this session`);
  if (s.type === "addRules" || s.type === "replaceRules") {
    if (s.behavior === "allow") return `Yes, and don't ask again this session for ${rules}`;
    if (s.behavior === "deny") return `Yes, and deny ${rules} from now on this session`;
    return `Yes, and ask each time for ${rules} this session`;
  }
  if (s.type === "removeRules") return `Yes, and drop the rule for ${rules} this session`;
  if (s.type === "addDirectories") return `Yes, and allow access to ${dirs} this session`;
  if (s.type === "removeDirectories") return `Yes, and stop allowing ${dirs} this session`;
  return `Yes, and apply <code>${esc(JSON.stringify(s))}</code>`;
}

// An ACP agent's own answers, which travel as `acp_option` suggestions {option_id, name,
// kind}: allow_once and reject_once are Allow and Deny, under the agent's labels; the
// "always" ones get buttons of their own, sent by index (`remember: [i]`) so the runner
// picks exactly that option. Null for a request that carries none (Claude's).
export function agentOptions(p) {
  const offered = Array.isArray(p.suggestions) ? p.suggestions : [];
  const options = [];
  offered.forEach((o, k) => {
    if (o && o.type === "acp_option" && typeof o.kind === "string") {
      options.push({ k, kind: o.kind, name: typeof o.name === "string" && o.name.trim() ? o.name : "" });
    }
  });
  if (!options.length) return null;
  const first = (kind) => options.find((o) => o.kind === kind);
  return {
    allow: first("allow_once")?.name || "Allow",
    deny: first("reject_once")?.name || "Deny",
    more: options.filter((o) => o.kind === "allow_always" || o.kind === "reject_always"),
  };
}

function agentButtons(options) {
  if (!options.more.length) return "";
  return `<div class="perm-remember" role="group" aria-label="The agent's other answers">` +
    options.more.map((o) => {
      const allow = o.kind === "allow_always";
      const label = o.name || (allow ? "Always allow" : "Always deny");
      return `<button type="button" class="btn remember${allow ? "" : " danger"}" data-action="${allow ? "always" : "never"}" data-suggestion="${o.k}">${esc(label)}</button>`;
    }).join("") + `</div>`;
}

// Above the sticky answers, not in them: a rule can be long, and Allow and Deny must
// always fit on screen.
function rememberButtons(p, cwd) {
  const acp = agentOptions(p);
  if (acp) return agentButtons(acp);
  const offered = Array.isArray(p.suggestions) ? p.suggestions : [];
  if (!offered.length) return "";
  return `<div class="perm-remember" role="group" aria-label="Allow and remember a rule">` +
    offered.map((s, k) =>
      `<button type="button" class="btn remember" data-action="always" data-suggestion="${k}">${rememberLabel(s, cwd)}</button>`,
    ).join("") + `</div>`;
}

const TODO_MARKS = { completed: ["done", "☑", "done"], in_progress: ["doing", "◐", "in progress"] };

function todoList(todos) {
  return `<ul class="todo-list">${todos.map((t) => {
    if (!t || typeof t !== "object") return `<li class="todo-odd">${rawItem(t)}</li>`;
    const [cls, mark, said] = TODO_MARKS[t.status] || ["todo", "☐", "to do"];
    return `<li class="todo-${cls}"><span class="todo-mark" aria-label="${said}">${mark}</span> ${esc(t.content || t.activeForm || "")}</li>`;
  }).join("")}</ul>`;
}

function questionForm(p, readOnly) {
  const dis = readOnly ? " disabled" : "";
  return questionsOf(p).map((q, qi) => {
    if ("raw" in q) return `<div class="question odd">An item that is not a question: ${rawItem(q.raw)}</div>`;
    const type = q.multiSelect ? "checkbox" : "radio";
    const name = `q-${esc(p.id)}-${qi}`;
    const options = q.options.map((o, oi) => {
      if ("raw" in o) return `<div class="opt odd">Not an option: ${rawItem(o.raw)}</div>`;
      const desc = o.description ? `<span class="opt-desc">${esc(o.description)}</span>` : "";
      return `<label class="opt"><input type="${type}" name="${name}" value="${esc(o.label)}" data-q="${qi}" data-o="${oi}"${dis}>` +
        `<span class="opt-label">${esc(o.label)}</span>${desc}</label>`;
    }).join("");
    return `<fieldset class="question" data-q="${qi}"><legend>${q.header ? `<span class="q-header">${esc(q.header)}</span> ` : ""}${esc(q.question)}</legend>` +
      options +
      `<label class="opt other"><span class="opt-label">Other:</span> <input type="text" class="other-text" data-q="${qi}" aria-label="Another answer to: ${esc(q.question)}"${dis}></label>` +
      `</fieldset>`;
  }).join("");
}

const ERROR = `<p class="perm-error" role="alert" hidden></p>`;

// ExitPlanMode's answers in its own terms: approving the plan lets Claude start (each edit
// still asked unless a suggestion above says otherwise); denying keeps it planning.
const LABELS = {
  ExitPlanMode: ["Yes, start (ask before each edit)", "No, keep planning"],
};

function expiry(p) {
  return p.expires_at ? `<span class="perm-expiry" data-expires="${esc(p.expires_at)}"></span>` : "";
}

function answers(p) {
  const acp = agentOptions(p);
  const [allow, deny] = LABELS[p.tool_name] || (acp ? [acp.allow, acp.deny] : ["Allow", "Deny"]);
  return `<div class="perm-footer">` + expiry(p) +
    `<input type="text" class="deny-reason" placeholder="Reason (optional, sent with Deny)" aria-label="Reason for denying">` +
    `<div class="perm-actions">` +
    `<button type="button" class="btn primary" data-action="allow" aria-keyshortcuts="a">${esc(allow)}</button>` +
    `<button type="button" class="btn danger" data-action="deny" aria-keyshortcuts="d">${esc(deny)}</button></div>` +
    `${ERROR}</div>`;
}

const READ_ONLY = `<p class="perm-readonly">Waiting for someone with a client token to answer.</p>`;

function cardStart(p, title) {
  const id = esc(p.id);
  return `<article class="perm" data-perm-id="${id}" aria-labelledby="perm-t-${id}">` +
    `<h2 class="perm-title" id="perm-t-${id}"><span class="perm-tool">${esc(p.tool_name)}</span> ${esc(title)}</h2>`;
}

// The card for a request whose shape the other cards do not expect: what was asked, raw,
// and plain Allow and Deny, so it can always be answered.
export function plainCard(p, canAnswer) {
  let json;
  try { json = JSON.stringify(p.input ?? null, null, 2); } catch { json = String(p.input); }
  return cardStart(p, `Allow ${p.tool_name}?`) + `<div class="perm-what">${codeBlock(json, "json")}</div>` +
    (canAnswer ? answers({ ...p, tool_name: "" }) : READ_ONLY) + `</article>`;
}

// `editsInput`: whether the agent takes an allow with changed input (the runner says so in
// agent_state.edits_input; ACP agents answer with one of their options only, so never).
export function permissionCard(p, canAnswer, cwd = "", editsInput = true) {
  // A request that did not open here (tampered, or no key on this device): nothing of it
  // is shown, and it can only be denied; allowing what nobody can read is not offered.
  if (p.tampered || p.locked) {
    return cardStart(p, p.title || "(tampered)") +
      (p.locked ? `<p class="perm-desc locked">${withCode(p.description || "This device cannot read this request.")}</p>`
        : `<p class="perm-desc tampered" role="alert">${esc(p.description || "This device cannot read this request.")}</p>`) +
      (canAnswer ? `<div class="perm-footer"><div class="perm-actions">` +
        `<button type="button" class="btn danger" data-action="deny">Deny</button></div>${ERROR}</div>` : READ_ONLY) +
      `</article>`;
  }
  const { label } = describe(p.tool_name, p.input);
  const question = isQuestion(p);
  const title = p.title || (question ? "The agent has a question"
    : p.tool_name === "ExitPlanMode" ? "Approve this plan?" : `Allow ${label}?`);
  let html = cardStart(p, title);
  if (p.description) html += `<p class="perm-desc">${esc(p.description)}</p>`;
  if (question) {
    html += `<form class="questions" data-action="answer">${questionForm(p, !canAnswer)}` +
      (canAnswer ? `<div class="perm-footer">${expiry(p)}<div class="perm-actions"><button type="submit" class="btn primary">Send answers</button>` +
        `<button type="button" class="btn" data-action="deny">Dismiss</button></div>${ERROR}</div>` : "") +
      `</form>`;
  } else {
    html += `<div class="perm-what">${what(p)}</div>`;
    if (canAnswer) {
      if (editsInput) {
        html += `<details class="perm-edit"><summary>Edit input before allowing</summary>` +
          `<textarea class="edit-input" rows="6" spellcheck="false" aria-label="Tool input (JSON) to allow">${esc(pretty(p.input || {}))}</textarea></details>`;
      }
      html += rememberButtons(p, cwd) + answers(p);
    }
  }
  if (!canAnswer) html += READ_ONLY;
  return html + `</article>`;
}

// The answers of an AskUserQuestion form, keyed by question text; null when one is missing.
export function collectAnswers(p, form) {
  const answers = {};
  const missing = [];
  questionsOf(p).forEach((q, qi) => {
    if ("raw" in q) return;
    const picked = [...form.querySelectorAll(`input[data-q="${qi}"]:checked`)].map((el) => el.value);
    const other = form.querySelector(`.other-text[data-q="${qi}"]`)?.value.trim();
    if (other) picked.push(other);
    if (!picked.length) missing.push(q.header || q.question || `question ${qi + 1}`);
    answers[q.question] = picked.join(", ");
  });
  return { answers, missing };
}

// The body to send for a button press, or {error} when the edited input is not JSON.
export function answerFor(p, action, card, suggestion) {
  if (action === "deny" || action === "never") {
    const reason = card.querySelector(".deny-reason")?.value.trim();
    const body = { behavior: "deny", message: reason || "Denied from the web UI." };
    // "never": the agent's reject_always option, named by its index.
    if (action === "never" && /^\d+$/.test(suggestion ?? "")) body.remember = [Number(suggestion)];
    return { body };
  }
  const body = { behavior: "allow" };
  // Exactly the one suggestion whose button was pressed; never a rule nobody was shown.
  if (action === "always" && /^\d+$/.test(suggestion ?? "")) body.remember = [Number(suggestion)];
  const edit = card.querySelector(".edit-input");
  if (edit) {
    const original = pretty(p.input || {});
    if (edit.value.trim() !== original.trim()) {
      try {
        const parsed = JSON.parse(edit.value);
        if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
          return { error: "The edited input must be a JSON object." };
        }
        body.updated_input = parsed;
      } catch (err) {
        return { error: `The edited input is not valid JSON: ${err.message}` };
      }
    }
  }
  return { body };
}

export function resolvedNote(p) {
  const d = p.decision || {};
  const by = d.decided_by ? ` by ${personName(d.decided_by)}` : "";
  const tool = p.tool_name;
  if (p.status === "allowed") return `${tool} request was allowed elsewhere${by}.`;
  if (p.status === "denied") return `${tool} request was denied elsewhere${by}.`;
  if (p.status === "expired") return `${tool} request expired: ${sentence(d.message || "no answer in time")}`;
  return `${tool} request was withdrawn${d.message ? `: ${sentence(d.message)}` : "."}`;
}

// A message as the end of a sentence: one full stop, not "denied..".
function sentence(text) {
  const t = String(text).trim();
  return /[.!?…]$/.test(t) ? t : `${t}.`;
}
