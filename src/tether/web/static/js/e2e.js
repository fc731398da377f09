// End-to-end encryption in the browser, with WebCrypto only: X25519, HKDF-SHA256,
// AES-256-GCM and HMAC-SHA256, put together exactly as src/tether/e2e/crypto.py does
// (docs/encryption.md is the spec both follow). The device's private key is made here,
// is not extractable, and lives in IndexedDB; it never leaves this browser.

const AAD_TAG = "tether-e2e-v1";
const subtle = globalThis.crypto?.subtle; // undefined on an insecure (http://) page
const utf8 = new TextEncoder();

export class Tampered extends Error {}

export function b64e(bytes) {
  let s = "";
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function b64d(text) {
  const s = atob(String(text).replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

// The authenticated data of a context: the same bytes as Python's
// json.dumps([tag, *context], ensure_ascii=False, separators=(",", ":")).
export function aad(context) {
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

// ── boxes ────────────────────────────────────────────────────────────────────────

export function isBox(v) {
  return !!v && typeof v === "object" && v.e2e === 1 && typeof v.n === "string" && typeof v.c === "string";
}

async function aesKey(raw) {
  return subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
}

export async function seal(key, value, context) {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const data = utf8.encode(JSON.stringify(value));
  const sealed = await subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: aad(context) }, await aesKey(key), data);
  return { e2e: 1, n: b64e(iv), c: b64e(sealed) };
}

export async function openBox(key, box, context) {
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

// A session key wrapped to this device's public key (ECDH-ES, as crypto.wrap does).
export async function unwrap(wrapped, device, context) {
  let kek;
  try {
    const epk = b64d(wrapped.epk);
    const peer = await subtle.importKey("raw", epk, { name: "X25519" }, false, []);
    const shared = await subtle.deriveBits({ name: "X25519", public: peer }, device.privateKey, 256);
    const mine = b64d(device.publicKey);
    const salt = new Uint8Array(epk.length + mine.length);
    salt.set(epk);
    salt.set(mine, epk.length);
    kek = await hkdf(new Uint8Array(shared), salt, "tether-wrap-v1");
  } catch {
    throw new Tampered("a malformed wrapped key");
  }
  const key = b64d(await openBox(kek, wrapped, context));
  if (key.length !== 32) throw new Tampered("a wrapped key of the wrong size");
  return key;
}

// ── this device's key pair, kept in IndexedDB ────────────────────────────────────

// The database is js/token-db.js's (a classic script the page loads first).
const idbDo = (mode, fn) => globalThis.tetherDB.run("keys", mode, fn);

// {id, publicKey (base64url), privateKey (CryptoKey, not extractable)} or undefined.
export function loadDeviceKey() {
  return idbDo("readonly", (s) => s.get("device")).catch(() => undefined);
}

export function saveDeviceKey(device) {
  return idbDo("readwrite", (s) => s.put(device, "device"));
}

// ── pairing ──────────────────────────────────────────────────────────────────────

// Pair this browser through a `tether pair` link's id and secret (from the URL
// fragment): make the device key, prove to the relay that we know the secret for its
// fresh challenge and our key, and leave the host a proof it alone can check. Returns the
// relay's answer: {token, device}.
export async function pair(pairingId, secretText, base = "/api/v1") {
  if (!subtle) {
    throw new Error("this page is not served over HTTPS, and browsers offer no WebCrypto " +
      "to insecure pages; open tether through TLS (see the README)");
  }
  const secret = b64d(secretText);
  const salt = utf8.encode("tether-pair-v1");
  const authKey = await hkdf(secret, salt, `auth:${pairingId}`);
  const hostKey = await hkdf(secret, salt, `host:${pairingId}`);
  const keys = await subtle.generateKey({ name: "X25519" }, false, ["deriveBits"]);
  const publicKey = b64e(await subtle.exportKey("raw", keys.publicKey));
  const path = `${base}/pairings/${encodeURIComponent(pairingId)}`;
  const challenge = await postJson(`${path}/challenge`, {});
  const answer = await postJson(`${path}/complete`, {
    nonce: challenge.nonce,
    public_key: publicKey,
    proof: await mac(authKey, ["pair", pairingId, challenge.nonce, publicKey]),
    host_proof: await mac(hostKey, ["device", pairingId, publicKey]),
  });
  await saveDeviceKey({ id: pairingId, publicKey, privateKey: keys.privateKey });
  return answer;
}

async function postJson(url, body) {
  const response = await fetch(url, {
    method: "POST", cache: "no-store",
    headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const message = data?.error?.message || `${response.status} ${response.statusText}`;
    const err = new Error(message);
    err.status = response.status;
    throw err;
  }
  return data;
}
