// The primitives of end-to-end encryption in the browser, with WebCrypto only: X25519,
// HKDF-SHA256, AES-256-GCM and HMAC-SHA256, put together exactly as
// src/tether/e2e/crypto.py does (docs/encryption.md is the spec both follow).
//
// A classic script, not a module, because the service worker needs it too (it opens an
// encrypted session's title for a notification, and a classic worker can only
// importScripts): the page loads it before the modules, and js/e2e.js re-exports it.

(function (scope) {
  const AAD_TAG = "tether-e2e-v1";
  const subtle = scope.crypto?.subtle; // undefined on an insecure (http://) page
  const utf8 = new TextEncoder();

  class Tampered extends Error {}

  function b64e(bytes) {
    let s = "";
    for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function b64d(text) {
    const s = atob(String(text).replace(/-/g, "+").replace(/_/g, "/"));
    return Uint8Array.from(s, (c) => c.charCodeAt(0));
  }

  // The authenticated data of a context: the same bytes as Python's
  // json.dumps([tag, *context], ensure_ascii=False, separators=(",", ":")).
  function aad(context) {
    return utf8.encode(JSON.stringify([AAD_TAG, ...context]));
  }

  async function hkdf(ikm, salt, info) {
    const key = await subtle.importKey("raw", ikm, "HKDF", false, ["deriveBits"]);
    const bits = await subtle.deriveBits(
      { name: "HKDF", hash: "SHA-256", salt, info: utf8.encode(info) }, key, 256);
    return new Uint8Array(bits);
  }

  async function mac(key, parts) {
    const k = await subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    return b64e(await subtle.sign("HMAC", k, aad(parts)));
  }

  // ── boxes ──────────────────────────────────────────────────────────────────────

  function isBox(v) {
    return !!v && typeof v === "object" && v.e2e === 1 && typeof v.n === "string" && typeof v.c === "string";
  }

  function aesKey(raw) {
    return subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
  }

  async function seal(key, value, context) {
    const iv = scope.crypto.getRandomValues(new Uint8Array(12));
    const data = utf8.encode(JSON.stringify(value));
    const sealed = await subtle.encrypt(
      { name: "AES-GCM", iv, additionalData: aad(context) }, await aesKey(key), data);
    return { e2e: 1, n: b64e(iv), c: b64e(sealed) };
  }

  async function openBox(key, box, context) {
    if (!isBox(box)) throw new Tampered("not an encrypted box");
    let plain;
    try {
      plain = await subtle.decrypt(
        { name: "AES-GCM", iv: b64d(box.n), additionalData: aad(context) },
        await aesKey(key), b64d(box.c));
    } catch {
      throw new Tampered("the box does not open with this key in this place");
    }
    return JSON.parse(new TextDecoder().decode(plain));
  }

  // ── session keys wrapped to a public key (ECDH-ES, as crypto.wrap/unwrap) ───────

  function joined(a, b) {
    const out = new Uint8Array(a.length + b.length);
    out.set(a);
    out.set(b, a.length);
    return out;
  }

  // `sessionKey` sealed to a recipient's raw X25519 public key (base64url) with a fresh
  // ephemeral key: what this device writes when it shares a session with another.
  async function wrap(sessionKey, recipientPublic, context) {
    const recipient = b64d(recipientPublic);
    const peer = await subtle.importKey("raw", recipient, { name: "X25519" }, false, []);
    const ephemeral = await subtle.generateKey({ name: "X25519" }, false, ["deriveBits"]);
    const epk = new Uint8Array(await subtle.exportKey("raw", ephemeral.publicKey));
    const shared = await subtle.deriveBits({ name: "X25519", public: peer }, ephemeral.privateKey, 256);
    const kek = await hkdf(new Uint8Array(shared), joined(epk, recipient), "tether-wrap-v1");
    return { ...(await seal(kek, b64e(sessionKey), context)), epk: b64e(epk) };
  }

  // A session key wrapped to this device ({publicKey, privateKey}).
  async function unwrap(wrapped, device, context) {
    let kek;
    try {
      const epk = b64d(wrapped.epk);
      const peer = await subtle.importKey("raw", epk, { name: "X25519" }, false, []);
      const shared = await subtle.deriveBits({ name: "X25519", public: peer }, device.privateKey, 256);
      kek = await hkdf(new Uint8Array(shared), joined(epk, b64d(device.publicKey)), "tether-wrap-v1");
    } catch {
      throw new Tampered("a malformed wrapped key");
    }
    const key = b64d(await openBox(kek, wrapped, context));
    if (key.length !== 32) throw new Tampered("a wrapped key of the wrong size");
    return key;
  }

  // A device's comparison code: the first 64 bits of SHA-256 of its public key, in four
  // groups of four hex digits. The same value as crypto.key_fingerprint (the key column
  // of `tether devices`); a person compares the code a granting device computes from the
  // key the relay lists with the code the other device shows from its own key.
  async function fingerprint(publicKey) {
    const digest = new Uint8Array(await subtle.digest("SHA-256", b64d(publicKey)));
    const hex = Array.from(digest.slice(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
    return hex.match(/.{4}/g).join(" ");
  }

  scope.tetherE2E = Object.freeze({
    available: Boolean(subtle), Tampered, b64e, b64d, aad, hkdf, mac, isBox, seal, openBox, wrap, unwrap, fingerprint,
  });
})(self);
