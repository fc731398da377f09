// The session view: header (status, model, permission mode, usage), the live transcript,
// open permission requests, and the composer (prompt, Interrupt, End session).

import { $, basename, esc, formatCost, formatTokens, personName, withCode } from "../dom.js";
import { rawMessage, renderMessage, renderTranscript } from "./messages.js";
import { answerFor, collectAnswers, isQuestion, permissionCard, plainCard, resolvedNote } from "./permission.js";
import { agentLabel, statusBadge } from "./sessions.js";
import { toolBody } from "./tools.js";
import { PERMISSION_MODES as MODES } from "../protocol.js";

const MODE_LABELS = {
  default: "Ask", acceptEdits: "Accept edits", plan: "Plan", bypassPermissions: "Bypass",
  dontAsk: "Don't ask", auto: "Auto",
};

export class SessionView {
  constructor(store, root, sessionId, ui) {
    this.store = store;
    this.root = root;
    this.id = sessionId;
    this.ui = ui;
    this.transcript = null;
    this.unsubscribe = null;
    this.endArmed = null;
  }

  get canSteer() { return this.store.canSteer; }
  // Model calls hold prompts: admin and client tokens read them (protocol.py read_flows).
  get canReadCalls() { return ["admin", "client"].includes(this.store.me?.scope); }

  async mount() {
    const steer = this.canSteer;
    this.root.innerHTML = `<div class="view session-view">
  <header class="bar">
    <a href="#/" class="back" aria-label="Back to sessions" title="Back to sessions (Esc)">‹</a>
    <div class="bar-title"><h1 id="s-title">Session</h1><div class="sub" id="s-sub"></div></div>
    <span id="s-status"></span>
  </header>
  <div class="meta" id="s-meta">
    <span id="s-model" class="chip" title="Model"></span>
    <label class="chip mode">Mode <select id="s-mode" aria-label="Permission mode"${steer ? "" : " disabled"}>
      ${MODES.map((m) => `<option value="${m}">${MODE_LABELS[m]}</option>`).join("")}</select></label>
    <span id="s-usage" class="chip" title="Tokens in / out and cost of the loaded messages"></span>${this.canReadCalls ? `
    <a id="s-calls" class="chip" href="#/session/${encodeURIComponent(this.id)}/calls">Model calls</a>` : ""}
  </div>
  <p id="s-locked" class="locked-banner" role="status" hidden></p>
  <main id="transcript" class="transcript" tabindex="0" aria-label="Transcript">
    <div id="earlier"></div>
    <div id="msgs" aria-live="polite" aria-relevant="additions"><p class="loading">Loading…</p></div>
  </main>
  <div id="notes" class="notes" aria-live="polite"></div>
  <section id="pending" class="pending" aria-label="Permission requests"></section>
  <footer class="composer" id="composer">${steer ? `
    <form id="prompt-form" class="prompt-form">
      <textarea id="prompt" rows="1" enterkeyhint="send" aria-label="Message to the agent" aria-keyshortcuts="/"
        placeholder="Message the agent…"></textarea>
      <button type="submit" class="btn primary send" aria-label="Send message">Send</button>
    </form>
    <div class="controls">
      <span class="hint">Enter sends · Shift+Enter new line</span>
      <button type="button" id="interrupt" class="btn small" aria-keyshortcuts="i">Interrupt</button>
      <button type="button" id="end" class="btn small danger-outline">End session</button>
    </div>` : `<p class="readonly">Read-only: this token may watch but not steer.</p>`}
  </footer>
</div>`;
    this.bind();
    this.unsubscribe = this.store.subscribe((kind, detail) => this.onStore(kind, detail));
    this.clock = setInterval(() => this.tickExpiry(), 1000);
    const started = performance.now();
    try {
      this.transcript = await this.store.openTranscript(this.id);
    } catch (err) {
      $("#msgs", this.root).innerHTML = `<p class="empty" role="alert">${esc(err.status === 404 ? "There is no such session." : `Could not load the session: ${err.message}`)}</p>`;
      // Nothing to steer: no prompt box, mode picker or usage for a session that is not there.
      for (const sel of ["#composer", "#s-meta", "#pending"]) $(sel, this.root).hidden = true;
      $("#s-title", this.root).textContent = err.status === 404 ? "No such session" : "Session";
      return;
    }
    if (!this.root.isConnected || this.unsubscribe === null) return;
    this.renderHeader();
    this.renderPending();
    this.followEnd();
    this.renderAll(true);
    // First paint of the transcript (the tests read it to report the figure).
    requestAnimationFrame(() => {
      window.__tetherFirstPaint = {
        ms: performance.now() - started, // from opening the view (includes fetching)
        sinceNavigation: performance.now(), // from the page load started
        messages: this.transcript.messages.length,
      };
      document.documentElement.dataset.sessionReady = this.id;
    });
  }

  // Reading at the end keeps you at the end, also when the transcript's box shrinks
  // (a permission card opens, the phone keyboard comes up); scrolled up stays put.
  followEnd() {
    const main = $("#transcript", this.root);
    this.atEnd = true;
    main.addEventListener("scroll", () => {
      // Our own scrolls are not the reader's: their events arrive a frame later, when
      // the box may have changed again.
      if (main.scrollTop === this.autoTop) return;
      this.atEnd = main.scrollHeight - main.scrollTop - main.clientHeight < 80;
    }, { passive: true });
    this.resizer = new ResizeObserver(() => { if (this.atEnd) this.scrollToEnd(); });
    this.resizer.observe(main);
  }

  scrollToEnd() {
    const main = $("#transcript", this.root);
    main.scrollTop = main.scrollHeight;
    this.autoTop = main.scrollTop;
    this.atEnd = true;
  }

  unmount() {
    clearInterval(this.clock);
    if (this.resizer) this.resizer.disconnect();
    if (this.unsubscribe) this.unsubscribe();
    this.unsubscribe = null;
    this.store.closeTranscript(this.id);
    delete document.documentElement.dataset.sessionReady;
  }

  session() { return this.store.sessions.get(this.id); }

  // ── rendering ────────────────────────────────────────────────────────────

  renderHeader() {
    const s = this.session();
    if (!s) return;
    const title = s.title || basename(s.cwd) || s.id;
    $("#s-title", this.root).textContent = title;
    document.title = `${title} · tether`;
    $("#s-sub", this.root).textContent = [agentLabel(s), s.host, s.cwd].filter(Boolean).join(" · ");
    const status = this.store.effectiveStatus(s);
    $("#s-status", this.root).innerHTML = statusBadge(status) +
      (status === "running" && this.turnStart() ? `<span class="run-for" data-since="${esc(this.turnStart())}"></span>` : "");
    this.tickExpiry();
    const model = s.model || this.transcript?.model;
    const modelEl = $("#s-model", this.root);
    modelEl.textContent = model || "model unknown";
    const select = $("#s-mode", this.root);
    if (document.activeElement !== select) select.value = s.permission_mode || "default";
    select.disabled = !this.canSteer || s.status === "ended";
    this.renderUsage();
    this.renderLocked(s);
    const composer = $("#composer", this.root);
    if (s.status === "ended" && !composer.classList.contains("ended")) {
      composer.classList.add("ended");
      composer.innerHTML = `<p class="readonly">This session has ended.</p>`;
    }
  }

  // An encrypted session this browser holds no key for: one clear line saying so and how
  // to get one, and no prompt box (what it sent could not be sealed). Interrupt, End and
  // the mode stay: they carry no content.
  renderLocked(s) {
    const banner = $("#s-locked", this.root);
    banner.hidden = !s.locked;
    if (!s.locked) return;
    banner.innerHTML = withCode(s.lockedHint);
    const form = $("#prompt-form", this.root);
    if (form) form.outerHTML = `<p class="readonly">Encrypted session: this browser cannot read or write its messages.</p>`;
  }

  renderUsage() {
    const t = this.transcript;
    if (!t) return;
    const u = t.usage;
    const cost = t.cost;
    $("#s-usage", this.root).textContent =
      `${formatTokens(u.input + u.cacheRead + u.cacheWrite)} in · ${formatTokens(u.output)} out` +
      (cost != null ? ` · ${formatCost(cost)}` : "");
  }

  renderAll(scrollToEnd) {
    const main = $("#transcript", this.root);
    const fromBottom = main.scrollHeight - main.scrollTop;
    const t = this.transcript;
    const html = renderTranscript(t);
    $("#msgs", this.root).innerHTML = html ||
      `<p class="empty">No messages yet. They appear here as the agent works.</p>`;
    $("#earlier", this.root).innerHTML = t.hasEarlier
      ? `<button type="button" class="btn small load-earlier">Load earlier messages</button>` : "";
    // Keep the reader's place: at the end, or the same distance from the bottom.
    if (scrollToEnd) this.scrollToEnd();
    else main.scrollTop = main.scrollHeight - fromBottom;
  }

  append(messages) {
    const atEnd = this.atEnd !== false;
    const list = $("#msgs", this.root);
    const empty = list.querySelector(".empty, .loading");
    if (empty) empty.remove();
    let html = "";
    for (const m of messages) {
      if (m.kind === "tool_result" && m.role !== "user" && this.transcript.calls.has(m.content?.call_id)) {
        this.refreshCard(m.content.call_id);
        continue;
      }
      html += renderMessage(m, this.transcript);
    }
    if (html) list.insertAdjacentHTML("beforeend", html);
    if (atEnd) this.scrollToEnd();
  }

  refreshCard(callId) {
    const call = this.transcript.calls.get(callId);
    const card = this.root.querySelector(`.tool[data-call-id="${CSS.escape(callId)}"]`);
    if (!call || !card) return;
    const open = card.querySelector(".tool-head").getAttribute("aria-expanded") === "true";
    card.outerHTML = renderMessage(call, this.transcript);
    if (open) this.toggleCard(this.root.querySelector(`.tool[data-call-id="${CSS.escape(callId)}"]`));
  }

  toggleCard(card) {
    if (!card) return;
    const head = card.querySelector(".tool-head");
    const body = card.querySelector(".tool-body");
    const open = head.getAttribute("aria-expanded") !== "true";
    head.setAttribute("aria-expanded", String(open));
    card.classList.toggle("open", open);
    if (open && !body.dataset.filled) {
      const callId = card.dataset.callId;
      const call = this.transcript.calls.get(callId);
      if (call) {
        try {
          body.innerHTML = toolBody(call, this.transcript.results.get(callId));
        } catch (err) {
          console.error("tether: could not render the tool call", callId, err);
          body.innerHTML = rawMessage(call);
        }
      }
      body.dataset.filled = "1";
    }
    body.hidden = !open;
  }

  // A message cut at SHOWN_CHARS, rendered whole.
  showAll(seq) {
    const m = this.transcript.messages.find((x) => x.seq === seq);
    const el = this.root.querySelector(`#msgs [data-seq="${seq}"]`);
    if (m && el) el.outerHTML = renderMessage(m, this.transcript, true);
  }

  renderPending() {
    const box = $("#pending", this.root);
    const pending = this.store.pendingFor(this.id);
    const want = new Set(pending.map((p) => p.id));
    for (const card of box.querySelectorAll(".perm")) {
      if (!want.has(card.dataset.permId)) card.remove();
    }
    for (const p of pending) {
      if (box.querySelector(`.perm[data-perm-id="${CSS.escape(p.id)}"]`)) continue;
      let html;
      try {
        const s = this.session();
        html = permissionCard(p, this.canSteer, s?.cwd, s?.agent_state?.edits_input !== false);
      } catch (err) {
        // Still answerable: the raw request with plain Allow and Deny.
        console.error("tether: could not render the permission request", p.id, err);
        html = plainCard(p, this.canSteer);
      }
      box.insertAdjacentHTML("beforeend", html);
      this.tickExpiry();
    }
    box.classList.toggle("has-cards", pending.length > 0);
  }

  // When the running turn began: the last prompt a person sent.
  turnStart() {
    const ms = this.transcript?.messages || [];
    for (let k = ms.length - 1; k >= 0; k--) {
      if (ms[k].role === "user" && ms[k].kind === "user_text") return ms[k].created_at;
    }
    return null;
  }

  // How long each open request has before it expires and is denied, and how long the
  // running turn has been running.
  tickExpiry() {
    for (const el of this.root.querySelectorAll(".perm-expiry[data-expires]")) {
      el.textContent = expiresIn(Date.parse(el.dataset.expires) - Date.now());
    }
    const running = this.root.querySelector(".run-for[data-since]");
    if (running) running.textContent = ` for ${elapsed(Date.now() - Date.parse(running.dataset.since))}`;
  }

  note(text, kind = "") {
    const notes = $("#notes", this.root);
    if (!notes) return;
    const el = document.createElement("div");
    el.className = `note-pop ${kind}`;
    el.setAttribute("role", "status");
    el.innerHTML = `<span>${esc(text)}</span><button type="button" class="close" aria-label="Dismiss">×</button>`;
    notes.append(el);
    setTimeout(() => el.remove(), 12000);
  }

  // ── store events ─────────────────────────────────────────────────────────

  onStore(kind, detail) {
    if (!this.transcript) return;
    if (kind === "messages" && detail.sessionId === this.id) {
      if (detail.inOrder) this.append(detail.added);
      else this.renderAll(false);
      this.renderUsage();
      if (detail.added.some((m) => m.kind === "system" || m.kind === "user_text")) this.renderHeader();
    } else if (kind === "session" && detail.session.id === this.id) {
      this.renderHeader();
    } else if (kind === "permissions") {
      const r = detail.resolved;
      if (r && r.session_id === this.id && detail.had && !detail.mine) this.note(resolvedNote(r));
      this.renderPending();
      this.renderHeader();
    } else if (kind === "control" && detail.control.session_id === this.id) {
      const c = detail.control;
      if (c.action === "interrupt") this.note(`Interrupt sent by ${c.by ? personName(c.by) : "someone"}.`);
      else if (c.action === "permission_mode") this.note(`Permission mode set to ${MODE_LABELS[c.mode] || c.mode} by ${c.by || "someone"}.`);
      else if (c.action === "end") this.note(`Session ended by ${c.by || "someone"}.`);
    }
  }

  // ── actions ──────────────────────────────────────────────────────────────

  bind() {
    const root = this.root;
    root.addEventListener("click", (e) => this.onClick(e));
    root.addEventListener("submit", (e) => this.onSubmit(e));
    const prompt = $("#prompt", root);
    if (prompt) {
      prompt.addEventListener("keydown", (e) => {
        if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
          e.preventDefault();
          this.send();
        }
      });
      prompt.addEventListener("input", () => autosize(prompt));
    }
    const select = $("#s-mode", root);
    select.addEventListener("change", () => this.setMode(select.value));
  }

  onClick(e) {
    const target = e.target.closest("button, .tool-head");
    if (!target || !this.root.contains(target)) return;
    if (target.classList.contains("tool-head") && !target.classList.contains("static")) {
      this.toggleCard(target.closest(".tool"));
    } else if (target.classList.contains("load-earlier")) {
      target.disabled = true;
      this.store.loadEarlier(this.transcript).catch((err) => this.ui.toast(err.message));
    } else if (target.classList.contains("show-all")) {
      this.showAll(Number(target.dataset.seq));
    } else if (target.classList.contains("close")) {
      target.closest(".note-pop")?.remove();
    } else if (target.id === "interrupt") {
      this.interrupt();
    } else if (target.id === "end") {
      this.end(target);
    } else if (target.dataset.action && target.closest(".perm")) {
      this.answer(target.closest(".perm"), target.dataset.action, target.dataset.suggestion);
    }
  }

  onSubmit(e) {
    e.preventDefault();
    if (e.target.id === "prompt-form") this.send();
    else if (e.target.dataset.action === "answer") this.answer(e.target.closest(".perm"), "answer");
  }

  async send() {
    const prompt = $("#prompt", this.root);
    const text = prompt.value;
    if (!text.trim()) return;
    prompt.disabled = true;
    try {
      await this.store.sendText(this.id, text);
      prompt.value = "";
      autosize(prompt);
      if (this.session()?.agent_online === false) {
        this.ui.toast("The agent is offline: your message is queued and reaches it when it returns.");
      }
    } catch (err) {
      this.ui.toast(`Not sent: ${err.message}`);
    } finally {
      prompt.disabled = false;
      prompt.focus();
    }
  }

  async interrupt() {
    const status = this.session() ? this.store.effectiveStatus(this.session()) : "";
    if (status === "idle" || status === "offline" || status === "ended") {
      this.ui.toast(status === "idle" ? "Nothing to interrupt: the agent is idle."
        : status === "offline" ? "Nothing to interrupt: the agent is offline." : "The session has ended.");
      return;
    }
    try {
      await this.store.relay.interrupt(this.id);
    } catch (err) {
      this.ui.toast(`Interrupt failed: ${err.message}`);
    }
  }

  async end(button) {
    // Two presses, so a stray tap on a phone does not end the session.
    if (!this.endArmed) {
      button.textContent = "Press again to end";
      button.classList.add("armed");
      this.endArmed = setTimeout(() => {
        this.endArmed = null;
        button.textContent = "End session";
        button.classList.remove("armed");
      }, 5000);
      return;
    }
    clearTimeout(this.endArmed);
    this.endArmed = null;
    try {
      const s = await this.store.relay.end(this.id, "Ended from the web UI.");
      this.store.upsertSession(s);
      this.renderHeader();
    } catch (err) {
      this.ui.toast(`Could not end the session: ${err.message}`);
    }
  }

  async setMode(mode) {
    const select = $("#s-mode", this.root);
    try {
      const s = await this.store.relay.setMode(this.id, mode);
      this.store.upsertSession(s);
    } catch (err) {
      this.ui.toast(`Could not change the mode: ${err.message}`);
      select.value = this.session()?.permission_mode || "default";
    }
  }

  async answer(card, action, suggestion) {
    const p = this.store.permissions.get(card?.dataset.permId);
    if (!p) return;
    const error = card.querySelector(".perm-error");
    let body;
    if (action === "answer") {
      const { answers, missing } = collectAnswers(p, card.querySelector("form"));
      if (missing.length) return showError(error, `Choose an answer for: ${missing.join(", ")}`);
      body = { behavior: "allow", updated_input: { ...p.input, answers } };
    } else {
      const result = answerFor(p, isQuestion(p) && action === "deny" ? "deny" : action, card, suggestion);
      if (result.error) return showError(error, result.error);
      body = result.body;
    }
    for (const b of card.querySelectorAll("button")) b.disabled = true;
    try {
      await this.store.respond(p, body);
      card.classList.add("answered");
    } catch (err) {
      for (const b of card.querySelectorAll("button")) b.disabled = false;
      if (err.type === "already_resolved") {
        card.remove();
        this.note(resolvedNote(err.body?.error?.permission || p));
      } else {
        showError(error, err.message);
      }
    }
  }

  // Keyboard shortcuts while this view is shown (main.js calls this when no field has focus).
  shortcut(key) {
    const card = this.root.querySelector("#pending .perm:not(.answered)");
    if (key === "/" && $("#prompt", this.root)) { $("#prompt", this.root).focus(); return true; }
    // `a` never allows by itself: it brings the request into view and puts the focus on
    // its Allow, so what is allowed is on screen before Enter allows it.
    if (key === "a" && card && this.canSteer) {
      const allow = card.querySelector('[data-action="allow"], .questions [type="submit"]');
      if (allow) {
        card.scrollIntoView({ block: "nearest" });
        allow.focus();
        return true;
      }
    }
    if (key === "d" && card && this.canSteer) {
      const reason = card.querySelector(".deny-reason");
      if (reason) { reason.focus(); return true; }
    }
    if (key === "i" && $("#interrupt", this.root)) { this.interrupt(); return true; }
    return false;
  }
}

export function elapsed(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h} h ${String(m).padStart(2, "0")} min` : `${m}:${ss}`;
}

export function expiresIn(ms) {
  if (!Number.isFinite(ms)) return "";
  if (ms <= 0) return "Expiring now";
  const s = Math.ceil(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return `Expires in ${h ? `${h} h ${String(m).padStart(2, "0")} min` : `${m}:${ss}`}`;
}

function showError(el, text) {
  el.textContent = text;
  el.hidden = false;
}

function autosize(textarea) {
  textarea.style.height = "auto";
  textarea.style.height = Math.min(textarea.scrollHeight, 200) + "px";
}

