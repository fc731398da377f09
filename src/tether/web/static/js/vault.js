// What this device can read of encrypted sessions: its key (made when it was paired,
// js/e2e.js) and one session key per session, unwrapped from the session's
// `metadata.e2e.keys["device:<id>"]`. Everything the store takes from the relay passes
// through here; a session not encrypted passes untouched, one not shared with this
// device shows as locked, and a box that does not open in its place is marked
// `tampered` and its content dropped, so it is never rendered (docs/encryption.md).

import { isBox, loadDeviceKey, openBox, seal, unwrap, wrap } from "./e2e.js";

const LOCKED_TITLE = "Encrypted session";
// Why a session is locked here, and what opens it: a browser signed in with a plain token
// link holds no device key at all; a paired one may have paired after the session began.
export const NO_DEVICE_KEY = "This browser holds no key for this session — pair it with `tether pair`.";
export const NOT_GRANTED = "This device holds no key for this session (it began before the " +
  "device was paired) — a device that opens it can share it (Devices → Share sessions), " +
  "or `tether devices grant NAME` on the host.";
export const TAMPERED = "This failed its integrity check (altered, moved from another session, " +
  "or not meant for this place) and is not shown.";

function keySet(session) {
  const e2e = session?.metadata?.e2e;
  return e2e && typeof e2e === "object" && e2e.keys && typeof e2e.keys === "object" ? e2e : null;
}

export class Vault {
  constructor(device) {
    this.device = device || null;
    this.keys = new Map(); // session id -> Promise<Uint8Array|null>
    this.encrypted = new Set(); // session ids known to be encrypted
  }

  static async load() {
    return new Vault(await loadDeviceKey());
  }

  get recipient() { return this.device ? `device:${this.device.id}` : null; }

  keyFor(session) {
    const e2e = keySet(session);
    if (!e2e) return Promise.resolve(null);
    this.encrypted.add(session.id);
    // Only a key set that names this device is remembered: one without it may gain it
    // later (another device grants it), and the next version of the session opens then.
    const wrapped = this.recipient ? e2e.keys[this.recipient] : null;
    if (!wrapped) return this.keys.get(session.id) || Promise.resolve(null);
    if (!this.keys.has(session.id)) {
      // Any client may add a key entry for this device, wrapping a key of its own: only
      // the key the session was sealed with opens its metadata box, so check that first.
      const checked = unwrap(wrapped, this.device, ["wrap", session.id, this.recipient])
        .then(async (key) => {
          if (isBox(e2e.meta)) await openBox(key, e2e.meta, ["meta", session.id]);
          return key;
        });
      this.keys.set(session.id, checked.catch(() => null));
    }
    return this.keys.get(session.id);
  }

  // Share every encrypted session this device holds the key of with another paired
  // device (`device`: the relay's record, {id, public_key}): its session key wrapped to
  // that device's public key, added through POST /sessions/{id}/keys, which only ever
  // adds an entry. The caller has had the person compare the key's code with the one the
  // other device shows (docs/encryption.md, "A device grants another").
  async grantTo(relay, device) {
    const recipient = `device:${device.id}`;
    const out = { granted: [], had: [], skipped: [] };
    const { sessions } = await relay.call("GET", "/sessions?limit=5000");
    for (let s of sessions) {
      if (!keySet(s)) continue;
      if (keySet(s).keys[recipient]) { out.had.push(s.id); continue; }
      const key = await this.keyFor(s);
      if (!key) { out.skipped.push(s.id); continue; }
      const body = { recipient, wrapped: await wrap(key, device.public_key, ["wrap", s.id, recipient]) };
      const path = `/sessions/${encodeURIComponent(s.id)}/keys`;
      let result = "skipped";
      for (let attempt = 0; attempt < 2 && result === "skipped"; attempt++) {
        try {
          await relay.call("POST", path, { ...body, expected_version: s.metadata_version });
          result = "granted";
        } catch (err) {
          if (err.type === "conflict") result = "had"; // granted meanwhile: kept as it is
          else if (err.type !== "version_conflict") break;
          else s = await relay.call("GET", `/sessions/${encodeURIComponent(s.id)}`);
        }
      }
      out[result].push(s.id);
    }
    return out;
  }

  async session(s) {
    if (!keySet(s)) return s;
    const key = await this.keyFor(s);
    if (!key) return { ...s, title: LOCKED_TITLE, encrypted: true, locked: true, lockedHint: this.lockedHint };
    try {
      const meta = await openBox(key, keySet(s).meta, ["meta", s.id]);
      return { ...s, title: meta?.title || "untitled", cwd: meta?.cwd ?? s.cwd, encrypted: true };
    } catch {
      return { ...s, title: "(tampered)", encrypted: true, tampered: true };
    }
  }

  // What a locked session says about itself (views/session.js, views/sessions.js).
  get lockedHint() { return this.device ? NOT_GRANTED : NO_DEVICE_KEY; }

  sessions(list) { return Promise.all(list.map((s) => this.session(s))); }

  async message(m) {
    const key = await this.keys.get(m.session_id);
    if (!key) {
      if (!isBox(m.content) && !this.encrypted.has(m.session_id)) return m;
      return { ...m, content: {}, raw: null, locked: true };
    }
    try {
      const plain = await openBox(key, m.content,
        ["msg", m.session_id, String(m.id ?? ""), String(m.role ?? "user"), String(m.kind ?? "user_text")]);
      return { ...m, content: plain?.content, raw: plain?.raw };
    } catch {
      return { ...m, content: {}, raw: null, tampered: true };
    }
  }

  messages(list) { return Promise.all(list.map((m) => this.message(m))); }

  async permission(p) {
    const key = await this.keys.get(p.session_id);
    if (!key) {
      if (!isBox(p.input)) return p;
      return { ...p, input: {}, title: "Encrypted request", description: this.lockedHint, suggestions: [], locked: true };
    }
    const out = { ...p };
    try {
      const plain = await openBox(key, p.input,
        ["permission", p.session_id, String(p.tool_name), p.tool_use_id || ""]);
      out.input = plain?.input || {};
      out.title = plain?.title ?? null;
      out.description = plain?.description ?? null;
      out.suggestions = plain?.suggestions || [];
    } catch {
      Object.assign(out, { input: {}, title: "(tampered)", description: TAMPERED, suggestions: [], tampered: true });
    }
    const d = p.decision;
    if (d && isBox(d.updated_input)) {
      try {
        const plain = await openBox(key, d.updated_input, ["answer", p.session_id, p.id]);
        out.decision = { ...d, updated_input: plain?.updated_input ?? null, message: plain?.message ?? null };
      } catch {
        out.decision = { ...d, updated_input: null, tampered: true };
      }
    }
    return out;
  }

  permissions(list) { return Promise.all(list.map((p) => this.permission(p))); }

  // An event's data as the store should see it.
  async event(type, data) {
    if (!data || typeof data !== "object") return data;
    if (type === "session") return this.session(data);
    if (type === "message") return this.message(data);
    if (type === "permission_request" || type === "permission_resolved") return this.permission(data);
    return data;
  }

  // What this device sends into an encrypted session is sealed like the runner's.
  async sealMessage(sessionId, body) {
    const key = await this.keys.get(sessionId);
    if (!key) {
      // Never a plaintext prompt into an encrypted session: the runner would not take it,
      // and the relay would keep it in the clear.
      if (this.encrypted.has(sessionId)) throw new Error(this.lockedHint);
      return body;
    }
    const plain = { content: body.content, raw: null };
    return { ...body, content: await seal(key, plain, ["msg", sessionId, body.id, body.role, body.kind]) };
  }

  // The decision itself goes sealed to the one request (as SessionCipher.seal_answer
  // does): the relay can neither read an edit or a reason nor forge an allow.
  async sealAnswer(permission, answer) {
    const key = await this.keys.get(permission.session_id);
    if (!key) return answer;
    const plain = {
      behavior: answer.behavior, updated_input: answer.updated_input ?? null,
      remember: answer.remember ?? false, message: answer.message ?? null,
    };
    const box = await seal(key, plain, ["answer", permission.session_id, permission.id]);
    return { ...answer, updated_input: box, message: null };
  }
}
