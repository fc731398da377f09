// A session's model calls (the gateway's flows): a list (time, model, provider, tokens,
// cost, duration, status), and one call opened with its request and answer readable
// (system prompt, tools, messages, the answer's text) or raw (the bytes as sent), on the
// client's side or the upstream's.

import { $, clockTime, esc, formatCost, formatTokens } from "../dom.js";

const SIDES = { client: ["request_body", "response_body"], upstream: ["upstream_request_body", "upstream_response_body"] };

function parse(text) {
  if (!text) return null;
  try { return JSON.parse(text); } catch { return null; }
}

function blockText(block) {
  if (typeof block === "string") return block;
  if (!block || typeof block !== "object") return JSON.stringify(block);
  if (typeof block.text === "string") return block.text;
  if (block.type === "tool_use") return `[tool_use ${block.name} ${JSON.stringify(block.input)}]`;
  if (block.type === "tool_result") return `[tool_result ${block.tool_use_id}: ${contentText(block.content)}]`;
  if (block.type === "thinking") return `[thinking] ${block.thinking || ""}`;
  if (block.functionCall) return `[functionCall ${block.functionCall.name} ${JSON.stringify(block.functionCall.args)}]`;
  if (block.functionResponse) return `[functionResponse ${block.functionResponse.name}]`;
  if (block.type === "function_call") return `[function_call ${block.name} ${block.arguments}]`;
  if (block.type === "function_call_output") return `[function_call_output ${block.call_id}: ${block.output}]`;
  return JSON.stringify(block);
}

function contentText(content) {
  if (content == null) return "";
  return Array.isArray(content) ? content.map(blockText).join("\n") : blockText(content);
}

// The request as system prompt, tool names and messages, in any of the four formats.
export function conversation(body) {
  const out = { system: "", tools: [], messages: [] };
  if (!body || typeof body !== "object") return out;
  if (Array.isArray(body.contents)) { // Gemini
    out.system = contentText(body.systemInstruction?.parts);
    for (const t of body.tools || []) for (const f of t.functionDeclarations || []) out.tools.push(f.name);
    for (const c of body.contents) out.messages.push([c.role || "user", contentText(c.parts)]);
    return out;
  }
  if (body.input !== undefined) { // Responses
    out.system = body.instructions || "";
    const items = typeof body.input === "string" ? [{ role: "user", content: body.input }] : body.input || [];
    for (const i of items) out.messages.push(i.role ? [i.role, contentText(i.content)] : [i.type || "item", blockText(i)]);
  }
  const systems = body.system ? [contentText(body.system)] : [];
  for (const m of body.messages || []) {
    let text = contentText(m.content);
    for (const call of m.tool_calls || []) text += `\n[tool_call ${call.function?.name} ${call.function?.arguments}]`;
    if ((m.role === "system" || m.role === "developer") && out.messages.length === 0) systems.push(text);
    else out.messages.push([m.role, text]);
  }
  if (systems.length) out.system = systems.join("\n");
  for (const t of body.tools || []) out.tools.push(t.name || t.function?.name || t.type);
  return out;
}

function objects(text) {
  const whole = parse(text);
  if (whole !== null) return Array.isArray(whole) ? whole : [whole];
  const out = [];
  for (const line of text.split(/\r?\n/)) {
    if (line.startsWith("data:")) {
      const value = parse(line.slice(5).trim());
      if (value !== null) out.push(value);
    }
  }
  return out;
}

// The answer's text (and tool calls), whole or put together from its stream events.
export function answerText(text) {
  if (!text) return "";
  const parts = [];
  for (const o of objects(text)) {
    if (!o || typeof o !== "object") continue;
    if (o.type === "message" && Array.isArray(o.content)) parts.push(...o.content.map(blockText));
    else if (o.type === "content_block_delta") parts.push(o.delta?.text || o.delta?.partial_json || "");
    else if (o.type === "content_block_start" && o.content_block?.type === "tool_use") parts.push(`[tool_use ${o.content_block.name}] `);
    else if (o.type === "response.output_text.delta") parts.push(o.delta || "");
    else if (o.object === "response") for (const item of o.output || []) parts.push(contentText(item.content));
    else if (Array.isArray(o.choices)) {
      for (const c of o.choices) {
        const part = c.delta || c.message || {};
        parts.push(part.content || "");
        for (const call of part.tool_calls || []) parts.push((call.function?.name ? `[tool_call ${call.function.name}] ` : "") + (call.function?.arguments || ""));
      }
    } else if (Array.isArray(o.candidates)) {
      for (const c of o.candidates) for (const p of c.content?.parts || []) if (!p.thought) parts.push(blockText(p));
    } else if (o.error && typeof o.error === "object") parts.push(`[error] ${o.error.message}`);
  }
  return parts.join("");
}

function ms(v) { return v == null ? "–" : `${Math.round(v)} ms`; }

function flowRow(f, sessionId) {
  const model = f.upstream_model && f.upstream_model !== f.client_model
    ? `${f.client_model} → ${f.upstream_model}` : (f.client_model || "–");
  const bad = (f.status || 0) >= 400 || f.error;
  return `<li><a class="flow-row${bad ? " failed" : ""}" data-flow="${esc(f.id)}"
    href="#/session/${encodeURIComponent(sessionId)}/calls/${encodeURIComponent(f.id)}">
    <span class="flow-time">${esc(clockTime(f.received_at))}</span>
    <span class="flow-model">${esc(model)}</span>
    <span class="chip">${esc(f.provider || "–")}</span>
    <span class="flow-tokens" title="Tokens in / out">${formatTokens(f.input_tokens)} / ${formatTokens(f.output_tokens)}</span>
    <span class="flow-cost">${f.cost == null ? "–" : formatCost(f.cost)}</span>
    <span class="flow-ms">${ms(f.duration_ms)}</span>
    <span class="flow-status">${esc(f.status ?? "–")}${f.stream ? " · stream" : ""}</span></a></li>`;
}

export class FlowsView {
  constructor(store, root, sessionId, flowId, ui) {
    this.store = store;
    this.root = root;
    this.id = sessionId;
    this.flowId = flowId;
    this.ui = ui;
    this.flow = null;
    this.side = "client";
    this.raw = false;
  }

  async mount() {
    this.root.innerHTML = `<div class="view flows-view">
  <header class="bar">
    <a href="${this.back}" class="back" aria-label="Back" title="Back (Esc)">‹</a>
    <div class="bar-title"><h1>${this.flowId ? "Model call" : "Model calls"}</h1><div class="sub">${esc(this.id)}</div></div>
  </header>
  <main id="flows" class="flows" tabindex="-1"><p class="loading">Loading…</p></main>
</div>`;
    const main = $("#flows", this.root);
    try {
      if (this.flowId) {
        this.flow = await this.store.relay.flow(this.flowId);
        this.renderFlow();
      } else {
        const flows = await this.store.relay.flows({ session: this.id, limit: 500 });
        main.innerHTML = flows.length
          ? `<ul class="flow-list" aria-label="Model calls">${flows.map((f) => flowRow(f, this.id)).join("")}</ul>`
          : `<p class="empty">No model calls recorded for this session. Calls are linked when the agent runs with <code>tether run --gateway</code>.</p>`;
      }
    } catch (err) {
      const why = err.status === 403 ? "This token may not read model calls." : err.status === 404 ? "There is no such call." : `Could not load: ${err.message}`;
      main.innerHTML = `<p class="empty" role="alert">${esc(why)}</p>`;
    }
    document.documentElement.dataset.flowsReady = this.flowId || this.id;
  }

  renderFlow() {
    const f = this.flow;
    const [reqKey, resKey] = SIDES[this.side];
    const request = f[reqKey];
    const answer = f[resKey];
    let body;
    if (request == null && answer == null) {
      body = `<p class="empty">No bodies were kept (capture was ${esc(f.capture)}).</p>`;
    } else if (this.raw) {
      body = `<h2>Request</h2><pre class="raw" id="flow-request">${esc(request || "")}</pre>
        <h2>Response</h2><pre class="raw" id="flow-response">${esc(answer || "")}</pre>`;
    } else {
      const c = conversation(parse(request));
      body = `<h2>System prompt</h2><pre class="flow-system">${esc(c.system || "(none)")}</pre>
        <h2>Tools (${c.tools.length})</h2><p class="flow-tools">${esc(c.tools.join(", ") || "none")}</p>
        <h2>Messages (${c.messages.length})</h2>
        <ol class="flow-messages">${c.messages.map(([role, text]) => `<li><b>${esc(role)}</b><pre>${esc(text)}</pre></li>`).join("")}</ol>
        <h2>Answer</h2><pre class="flow-answer" id="flow-answer">${esc(answerText(answer) || "(empty)")}</pre>`;
    }
    const hooks = (f.hook_runs || []).map((h) => `<li>${esc(h.name)} (${esc(h.phase)}): ${esc(h.outcome)}${h.changed ? " · changed" : ""} · ${esc(h.ms)} ms</li>`).join("");
    $("#flows", this.root).innerHTML = `<dl class="flow-facts">
      <dt>Route</dt><dd>${esc(f.client_model)} → ${esc(f.provider)}/${esc(f.upstream_model)} (${esc(f.route_reason)})</dd>
      <dt>Status</dt><dd>${esc(f.status)} (upstream ${esc(f.upstream_status ?? "–")})${f.error ? ` · <span class="flow-error">${esc(f.error)}</span>` : ""}</dd>
      <dt>Tokens</dt><dd>${formatTokens(f.input_tokens)} in / ${formatTokens(f.output_tokens)} out · ${f.cost == null ? "cost unknown" : formatCost(f.cost)}</dd>
      <dt>Timings</dt><dd>connected ${ms(f.connected_ms)} · first byte ${ms(f.first_byte_ms)} · total ${ms(f.duration_ms)}</dd>
    </dl>${hooks ? `<ul class="flow-hooks">${hooks}</ul>` : ""}
    <div class="flow-tabs" role="toolbar">
      <button type="button" class="btn small" data-side="client" aria-pressed="${this.side === "client"}">Client side</button>
      <button type="button" class="btn small" data-side="upstream" aria-pressed="${this.side === "upstream"}">Upstream side</button>
      <button type="button" class="btn small" id="flow-raw" aria-pressed="${this.raw}">${this.raw ? "Readable" : "Raw"}</button>
    </div>
    <section class="flow-body">${body}</section>`;
    for (const button of this.root.querySelectorAll("[data-side]")) {
      button.addEventListener("click", () => { this.side = button.dataset.side; this.renderFlow(); });
    }
    $("#flow-raw", this.root).addEventListener("click", () => { this.raw = !this.raw; this.renderFlow(); });
  }

  // Escape goes here (main.js): from a call to the list, from the list to the session.
  get back() {
    const session = `#/session/${encodeURIComponent(this.id)}`;
    return this.flowId ? `${session}/calls` : session;
  }

  unmount() { delete document.documentElement.dataset.flowsReady; }
}
