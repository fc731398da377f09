// The page's state: sessions, pending permission requests and the transcripts that are
// open, kept current from snapshots (HTTP) and live events (the stream). Views subscribe
// and re-render what changed.
//
// Snapshot and stream can overlap (the stream opens first, then the snapshot is read), so
// every merge is idempotent: messages are keyed by seq, requests by id (a resolved one is
// never resurrected by an older snapshot), sessions keep the newest version.

import { EventStream, newId } from "./api.js";
import { Vault } from "./vault.js";

export const ACTIVE = new Set(["starting", "running", "idle", "waiting"]);

export class Transcript {
  constructor(sessionId) {
    this.sessionId = sessionId;
    this.messages = []; // sorted by seq
    this.seqs = new Set();
    this.calls = new Map(); // call_id -> tool_call message
    this.results = new Map(); // call_id -> tool_result message
    this.loaded = false;
    this.hasEarlier = false;
    this.usage = { input: 0, output: 0, cacheRead: 0, cacheWrite: 0, cost: 0, costSeen: false, resultCost: null };
    this.model = null;
  }

  get firstSeq() { return this.messages.length ? this.messages[0].seq : null; }
  get lastSeq() { return this.messages.length ? this.messages[this.messages.length - 1].seq : 0; }

  // Adds messages not seen yet; returns {added, inOrder}: inOrder is false when one
  // landed before the end (the view then renders the whole transcript again).
  add(messages) {
    const added = [];
    let inOrder = true;
    for (const m of messages) {
      if (!m || typeof m.seq !== "number" || this.seqs.has(m.seq)) continue;
      this.seqs.add(m.seq);
      if (m.seq > this.lastSeq) this.messages.push(m);
      else {
        inOrder = false;
        let k = this.messages.findIndex((x) => x.seq > m.seq);
        if (k < 0) k = this.messages.length;
        this.messages.splice(k, 0, m);
      }
      this.index(m);
      added.push(m);
    }
    return { added, inOrder };
  }

  index(m) {
    if (m.role === "user") return; // a person's message is never a tool call, result or usage
    const c = m.content || {};
    if (m.kind === "tool_call" && c.call_id) this.calls.set(c.call_id, m);
    else if (m.kind === "tool_result" && c.call_id) this.results.set(c.call_id, m);
    else if (m.kind === "usage") {
      const u = this.usage;
      u.input += Number(c.input_tokens) || 0;
      u.output += Number(c.output_tokens) || 0;
      u.cacheRead += Number(c.cache_read_input_tokens) || 0;
      u.cacheWrite += Number(c.cache_creation_input_tokens) || 0;
      if (c.cost_usd != null) { u.cost += Number(c.cost_usd) || 0; u.costSeen = true; }
    } else if (m.kind === "result" && c.total_cost_usd != null) {
      this.usage.resultCost = Number(c.total_cost_usd) || 0;
    } else if (m.kind === "system" && c.model) {
      this.model = c.model;
    }
  }

  get cost() {
    const u = this.usage;
    if (u.costSeen) return u.cost;
    return u.resultCost;
  }
}

export class Store {
  constructor(relay) {
    this.relay = relay;
    this.me = null;
    this.sessions = new Map();
    this.permissions = new Map(); // pending only
    this.resolved = new Set();
    this.answeredHere = new Set();
    this.transcripts = new Map();
    this.connection = "connecting";
    this.listeners = new Set();
    this.snapshotDone = false;
    // Opens encrypted sessions (main.js loads this device's key into it before start).
    this.vault = new Vault(null);
    // Decrypting is asynchronous: events go through one chain so they apply in order.
    this.inbox = Promise.resolve();
    this.stream = new EventStream(relay, {
      onEvent: (type, data, id) => {
        this.inbox = this.inbox
          .then(async () => this.apply(type, await this.vault.event(type, data), id))
          .catch((err) => console.error("tether: could not apply", type, err));
      },
      onOpen: ({ resumed }) => this.onOpen(resumed),
      onState: (state) => { this.connection = state; this.emit("connection", { state }); },
    });
  }

  get canSteer() { return !!this.me && this.me.scope !== "viewer"; }

  subscribe(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); }

  emit(kind, detail = {}) {
    for (const fn of this.listeners) {
      try { fn(kind, detail); } catch (err) { console.error("tether: view failed on", kind, err); }
    }
  }

  start() { this.stream.start(); }
  stop() { this.stream.stop(); }

  async onOpen(resumed) {
    // A resumed stream replays everything after the cursor; a fresh one carries only
    // live events, so the state is read again (the stream is already open, so nothing
    // that happens meanwhile is lost).
    if (resumed && this.snapshotDone) return;
    try {
      await this.loadSnapshot();
    } catch (err) {
      this.emit("error", { message: `Could not load sessions: ${err.message}` });
    }
  }

  async loadSnapshot() {
    const knownBefore = new Set(this.permissions.keys());
    const [plainSessions, sealedPending] = await Promise.all([
      this.relay.sessions(), this.relay.pendingPermissions()]);
    const sessions = await this.vault.sessions(plainSessions);
    const pending = await this.vault.permissions(sealedPending);
    for (const s of sessions) this.upsertSession(s);
    for (const p of pending) this.addPermission(p, false);
    // Requests we held before reading the snapshot that it no longer lists were resolved
    // while we were away (ones that arrived during the read are not touched).
    const stillPending = new Set(pending.map((p) => p.id));
    for (const id of knownBefore) {
      if (!stillPending.has(id)) {
        this.permissions.delete(id);
        this.resolved.add(id);
      }
    }
    this.snapshotDone = true;
    this.emit("sessions");
    this.emit("permissions");
    for (const t of this.transcripts.values()) if (t.loaded) this.catchUp(t);
  }

  // Sessions waiting for a person first (oldest request first), then by latest activity.
  sortedSessions() {
    const firstAsk = (s) => this.pendingFor(s.id)[0]?.created_at;
    return [...this.sessions.values()].sort((a, b) => {
      const wa = a.status !== "ended" && firstAsk(a), wb = b.status !== "ended" && firstAsk(b);
      if (wa && wb) return String(wa).localeCompare(String(wb));
      if (wa || wb) return wa ? -1 : 1;
      return String(b.last_activity_at).localeCompare(String(a.last_activity_at));
    });
  }

  pendingFor(sessionId) {
    return [...this.permissions.values()]
      .filter((p) => p.session_id === sessionId)
      .sort((a, b) => String(a.created_at).localeCompare(String(b.created_at)));
  }

  // running / idle / waiting / offline / ended, where an open request means "waiting for
  // you" and a runner whose lease lapsed (agent_online false) means "agent offline".
  effectiveStatus(session) {
    if (session.status === "ended") return "ended";
    if (session.agent_online === false) return "offline";
    if (this.pendingFor(session.id).length) return "waiting";
    return session.status;
  }

  upsertSession(s) {
    const old = this.sessions.get(s.id);
    if (old && String(old.updated_at) > String(s.updated_at)) {
      // An older copy (a snapshot read before the latest event): keep ours.
      return old;
    }
    const merged = { ...s };
    if (old) {
      merged.last_seq = Math.max(old.last_seq || 0, s.last_seq || 0);
      if (String(old.last_activity_at) > String(s.last_activity_at)) {
        merged.last_activity_at = old.last_activity_at;
      }
    }
    this.sessions.set(s.id, merged);
    return merged;
  }

  addPermission(p, live) {
    if (this.resolved.has(p.id) || p.status !== "pending") return false;
    const isNew = !this.permissions.has(p.id);
    this.permissions.set(p.id, p);
    return isNew && live;
  }

  apply(type, data, id) {
    if (!data) return;
    switch (type) {
      case "session": {
        const before = this.sessions.get(data.id);
        const s = this.upsertSession(data);
        this.emit("sessions");
        this.emit("session", { session: s });
        if (s.status === "waiting" && before && before.status !== "waiting") {
          this.emit("attention", { session: s, reason: "waiting" });
        }
        break;
      }
      case "message": {
        const s = this.sessions.get(data.session_id);
        if (s) {
          s.last_seq = Math.max(s.last_seq || 0, data.seq);
          if (String(data.created_at) > String(s.last_activity_at)) s.last_activity_at = data.created_at;
          this.emit("sessions");
        }
        const t = this.transcripts.get(data.session_id);
        if (t && t.loaded) {
          if (data.seq > t.lastSeq + 1) this.catchUp(t);
          else this.addMessages(t, [data]);
        }
        break;
      }
      case "permission_request": {
        const live = id !== null || this.snapshotDone;
        if (this.addPermission(data, live)) {
          this.emit("attention", { session: this.sessions.get(data.session_id), permission: data, reason: "permission" });
        }
        this.emit("permissions", { added: data });
        this.emit("sessions");
        break;
      }
      case "permission_resolved": {
        this.resolved.add(data.id);
        const had = this.permissions.delete(data.id);
        const mine = this.answeredHere.has(data.id);
        this.emit("permissions", { resolved: data, had, mine });
        this.emit("sessions");
        break;
      }
      case "control":
        this.emit("control", { control: data });
        break;
      default:
        break;
    }
  }

  addMessages(t, messages) {
    const { added, inOrder } = t.add(messages);
    if (added.length) this.emit("messages", { sessionId: t.sessionId, added, inOrder });
  }

  // Messages after the newest one we hold (after a gap or a fresh reconnect).
  async catchUp(t) {
    if (t.catchingUp) { t.catchUpAgain = true; return; }
    t.catchingUp = true;
    try {
      for (;;) {
        t.catchUpAgain = false;
        const batch = await this.vault.messages(
          await this.relay.messages(t.sessionId, { after: t.lastSeq, limit: 1000 }));
        this.addMessages(t, batch);
        if (batch.length < 1000 && !t.catchUpAgain) break;
      }
    } catch (err) {
      this.emit("error", { message: `Could not load messages: ${err.message}` });
    } finally {
      t.catchingUp = false;
    }
  }

  // The transcript of a session: the newest `limit` messages first, older on demand.
  async openTranscript(sessionId, limit = 1000) {
    let t = this.transcripts.get(sessionId);
    if (t && t.loaded) return t;
    if (!t) {
      t = new Transcript(sessionId);
      this.transcripts.set(sessionId, t);
    }
    const session = await this.vault.session(await this.relay.session(sessionId));
    this.upsertSession(session);
    const before = (session.last_seq || 0) + 1;
    const batch = await this.vault.messages(await this.relay.messages(sessionId, { before, limit }));
    t.add(batch);
    t.hasEarlier = (t.firstSeq ?? before) > 1;
    t.loaded = true;
    // Anything posted since the session was read arrived on the stream before `loaded`
    // was set; fetch it now so it is not lost.
    await this.catchUp(t);
    return t;
  }

  async loadEarlier(t, limit = 500) {
    if (!t.hasEarlier || t.firstSeq == null) return;
    const batch = await this.vault.messages(
      await this.relay.messages(t.sessionId, { before: t.firstSeq, limit }));
    t.add(batch);
    t.hasEarlier = batch.length === limit && (t.firstSeq ?? 1) > 1;
    this.emit("messages", { sessionId: t.sessionId, added: batch, inOrder: false });
  }

  // A prompt for the session's agent; sealed when the session is encrypted. The client id
  // makes a retried send idempotent: the relay stores it once.
  async sendText(sessionId, text) {
    const body = { id: newId(), role: "user", kind: "user_text", content: { text } };
    return this.relay.postMessage(sessionId, await this.vault.sealMessage(sessionId, body));
  }

  closeTranscript(sessionId) {
    this.transcripts.delete(sessionId);
  }

  async respond(permission, answer) {
    this.answeredHere.add(permission.id);
    try {
      return await this.relay.respond(permission.id, await this.vault.sealAnswer(permission, answer));
    } catch (err) {
      this.answeredHere.delete(permission.id);
      throw err;
    }
  }
}
