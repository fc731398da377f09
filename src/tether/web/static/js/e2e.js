// End-to-end encryption in the browser: the primitives (js/e2e-core.js, a classic script
// the page and the service worker share), this device's key pair, and pairing. The
// device's private key is made here, is not extractable, and lives in IndexedDB
// (js/token-db.js); it never leaves this browser.

const core = globalThis.tetherE2E;
const db = () => globalThis.tetherTokenDB;

export const { Tampered, b64e, b64d, aad, isBox, seal, openBox, wrap, unwrap, fingerprint } = core;

// ── this device's key pair, kept in IndexedDB ────────────────────────────────────

// {id, publicKey (base64url), privateKey (CryptoKey, not extractable)} or undefined.
export function loadDeviceKey() {
  return db().deviceKey().then((d) => d || undefined).catch(() => undefined);
}

export function saveDeviceKey(device) {
  return db().saveDeviceKey(device);
}

// ── pairing ──────────────────────────────────────────────────────────────────────

// Pair this browser through a `tether pair` link's id and secret (from the URL
// fragment): make the device key, prove to the relay that we know the secret for its
// fresh challenge and our key, and leave the host a proof it alone can check. Returns the
// relay's answer: {token, device}.
export async function pair(pairingId, secretText, base = "/api/v1") {
  if (!core.available) {
    throw new Error("this page is not served over HTTPS, and browsers offer no WebCrypto " +
      "to insecure pages; open tether through TLS (see the README)");
  }
  const subtle = crypto.subtle;
  const secret = b64d(secretText);
  const salt = new TextEncoder().encode("tether-pair-v1");
  const authKey = await core.hkdf(secret, salt, `auth:${pairingId}`);
  const hostKey = await core.hkdf(secret, salt, `host:${pairingId}`);
  const keys = await subtle.generateKey({ name: "X25519" }, false, ["deriveBits"]);
  const publicKey = b64e(await subtle.exportKey("raw", keys.publicKey));
  const path = `${base}/pairings/${encodeURIComponent(pairingId)}`;
  const challenge = await postJson(`${path}/challenge`, {});
  const answer = await postJson(`${path}/complete`, {
    nonce: challenge.nonce,
    public_key: publicKey,
    proof: await core.mac(authKey, ["pair", pairingId, challenge.nonce, publicKey]),
    host_proof: await core.mac(hostKey, ["device", pairingId, publicKey]),
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
