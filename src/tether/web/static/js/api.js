// The relay client: HTTP calls under /api/v1 and the live event stream.
//
// The stream is SSE read with fetch() (EventSource cannot send an Authorization header,
// and the token must never travel in a URL). It resumes from the last cursor with
// Last-Event-ID after any drop, so nothing is missed and nothing doubled, and backs off
// with jitter while the relay is away.

import { SSEParser } from "./sse.js";

export class ApiError extends Error {
  constructor(status, type, message, body = null) {
    super(message);
    this.status = status;
    this.type = type;
    this.body = body;
  }
}

export class Relay {
  constructor(token, base = "/api/v1") {
    this.token = token;
    this.base = base;
  }

  headers(extra = {}) {
    return { Authorization: `Bearer ${this.token}`, ...extra };
  }

  async call(method, path, body) {
    const init = { method, headers: this.headers(), cache: "no-store" };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
    let response;
    try {
      response = await fetch(this.base + path, init);
    } catch (err) {
      throw new ApiError(0, "unreachable", "The relay cannot be reached.");
    }
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    if (!response.ok) {
      const error = (data && data.error) || {};
      throw new ApiError(response.status, error.type || "http_error",
        error.message || `${response.status} ${response.statusText}`, data);
    }
    return data;
  }

  me() { return this.call("GET", "/me"); }

  // The gateway's captured model calls (admin and client tokens).
  flows(filters = {}) {
    const q = new URLSearchParams(Object.entries(filters).map(([k, v]) => [k, String(v)]));
    return this.call("GET", `/flows?${q}`).then((d) => d.flows);
  }
  flow(id) { return this.call("GET", `/flows/${enc(id)}`); }
  sessions() { return this.call("GET", "/sessions").then((d) => d.sessions); }
  session(id) { return this.call("GET", `/sessions/${enc(id)}`); }

  // The newest `limit` messages (before `before`, when given), oldest first; or with
  // `after`, the ones after that seq.
  messages(id, { after, before, limit = 1000 } = {}) {
    const q = new URLSearchParams({ limit: String(limit) });
    if (after !== undefined) q.set("after", String(after));
    if (before !== undefined) q.set("before", String(before));
    return this.call("GET", `/sessions/${enc(id)}/messages?${q}`).then((d) => d.messages);
  }

  postMessage(id, body) {
    return this.call("POST", `/sessions/${enc(id)}/messages`, body);
  }

  sendText(id, text) {
    // The client id makes a retried send idempotent: the relay stores it once.
    return this.call("POST", `/sessions/${enc(id)}/messages`,
      { id: newId(), role: "user", kind: "user_text", content: { text } });
  }

  interrupt(id) { return this.call("POST", `/sessions/${enc(id)}/interrupt`, {}); }
  setMode(id, mode) { return this.call("POST", `/sessions/${enc(id)}/permission-mode`, { mode }); }
  end(id, reason) { return this.call("POST", `/sessions/${enc(id)}/end`, reason ? { reason } : {}); }

  pendingPermissions() {
    return this.call("GET", "/permissions?status=pending").then((d) => d.permissions);
  }

  respond(permissionId, answer) {
    return this.call("POST", `/permissions/${enc(permissionId)}/respond`, answer);
  }
}

function enc(s) { return encodeURIComponent(s); }

export function newId() {
  if (globalThis.crypto && crypto.randomUUID) return "web-" + crypto.randomUUID();
  return "web-" + Date.now().toString(36) + Math.random().toString(36).slice(2);
}

// The delay before reconnect attempt `n` (0-based): exponential from 0.5 s, capped at
// 30 s, with full jitter so many tabs do not reconnect in lockstep after a restart.
export function backoffDelay(n, random = Math.random) {
  const cap = Math.min(30000, 500 * 2 ** Math.min(n, 10));
  return Math.round(cap / 2 + random() * cap / 2);
}

// The relay pings every 15 s; this long without a byte means the connection is dead
// even if the socket has not noticed (a phone that slept, a NAT that forgot us).
const STALL_MS = 40000;

export class EventStream {
  // onEvent(type, data, id) for each event; onOpen({resumed}) when a connection is up
  // (resumed: false means the relay sent only live events, so state must be reloaded);
  // onState("connecting"|"live"|"reconnecting"|"unauthorized").
  constructor(relay, { onEvent, onOpen, onState }) {
    this.relay = relay;
    this.onEvent = onEvent;
    this.onOpen = onOpen || (() => {});
    this.onState = onState || (() => {});
    this.cursor = null;
    this.attempt = 0;
    this.state = "idle";
    this.stopped = true;
    this.controller = null;
    this.lastByteAt = 0;
    this.timer = null;
    this.watchdog = null;
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.watchdog = setInterval(() => {
      if (this.state === "live" && Date.now() - this.lastByteAt > STALL_MS) this.reconnectNow();
    }, 5000);
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.watchdog);
    if (this.controller) this.controller.abort();
  }

  // Drop the current connection (if any) and connect again at once from the cursor:
  // used when the page becomes visible or the network comes back.
  reconnectNow() {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.attempt = 0;
    if (this.controller) this.controller.abort();
    else this.connect();
  }

  // True when the connection may be stale: the page should reconnect on waking.
  get stale() {
    return this.state !== "live" || Date.now() - this.lastByteAt > 20000;
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.onState(state);
  }

  async connect() {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const controller = new AbortController();
    this.controller = controller;
    this.setState(this.attempt === 0 && this.cursor === null ? "connecting" : "reconnecting");
    const headers = this.relay.headers({ Accept: "text/event-stream" });
    const resumed = this.cursor !== null;
    if (resumed) headers["Last-Event-ID"] = String(this.cursor);
    let unauthorized = false;
    try {
      const response = await fetch(this.relay.base + "/events",
        { headers, signal: controller.signal, cache: "no-store" });
      if (response.status === 401 || response.status === 403) {
        unauthorized = true;
        throw new Error("unauthorized");
      }
      if (!response.ok || !response.body) throw new Error(`events: ${response.status}`);
      this.lastByteAt = Date.now();
      this.attempt = 0;
      this.setState("live");
      this.onOpen({ resumed });
      await this.read(response.body, controller.signal);
    } catch (err) {
      // Aborted, dropped or refused: fall through to reconnect.
    } finally {
      if (this.controller === controller) this.controller = null;
    }
    if (this.stopped) return;
    if (unauthorized) {
      this.stop();
      this.setState("unauthorized");
      return;
    }
    this.setState("reconnecting");
    const delay = controller.signal.aborted ? 0 : backoffDelay(this.attempt++);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  async read(body, signal) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    const parser = new SSEParser();
    try {
      while (!signal.aborted) {
        const { value, done } = await reader.read();
        if (done) return;
        this.lastByteAt = Date.now();
        for (const ev of parser.push(decoder.decode(value, { stream: true }))) {
          this.dispatch(ev);
        }
      }
    } finally {
      reader.cancel().catch(() => { /* already closed or aborted */ });
    }
  }

  dispatch(ev) {
    let data = null;
    try { data = ev.data ? JSON.parse(ev.data) : null; } catch { return; }
    const id = ev.id !== null && ev.id !== "" ? Number(ev.id) : null;
    if (ev.event === "reset") {
      // Our cursor was beyond the relay's log: take the relay's end (even though it is
      // lower) and reload the state, as for a fresh, unresumed stream.
      this.cursor = id;
      this.onOpen({ resumed: false });
      return;
    }
    // A replayed or duplicated event at or below the cursor was already handled.
    if (id !== null && this.cursor !== null && id <= this.cursor) return;
    if (id !== null) this.cursor = id;
    try {
      this.onEvent(ev.event, data, id);
    } catch (err) {
      console.error("tether: handling", ev.event, "failed", err);
    }
  }
}
