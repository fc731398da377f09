// This device's push notifications: the service worker, the browser's push subscription,
// and the settings the relay keeps with it (docs/protocol.md, "Push notifications").
//
// The token is copied into IndexedDB (js/token-db.js) for the service worker, which
// answers permission requests from the notification's Allow and Deny.

const tokenDB = () => globalThis.tetherTokenDB;

export function workerSupported() {
  return "serviceWorker" in navigator && window.isSecureContext;
}

export function pushSupported() {
  return workerSupported() && "PushManager" in window && "Notification" in window;
}

export async function registerWorker() {
  if (!workerSupported()) return null;
  try {
    return await navigator.serviceWorker.register("sw.js");
  } catch (err) {
    console.warn("tether: the service worker did not register", err);
    return null;
  }
}

export async function rememberToken(token) {
  if (tokenDB()) await tokenDB().set(token).catch(() => {});
}

export async function forgetToken() {
  if (tokenDB()) await tokenDB().clear().catch(() => {});
}

async function currentSubscription() {
  if (!pushSupported()) return null;
  const registration = await navigator.serviceWorker.getRegistration();
  return registration ? registration.pushManager.getSubscription() : null;
}

function keyBytes(base64url) {
  const text = atob(base64url.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

// This device as the relay knows it ({id, events, quiet, ...}), or null when it is not
// subscribed. Sending the subscription again is harmless (the relay keys it by endpoint)
// and ties it to the token signed in now.
export async function syncPush(relay) {
  const subscription = await currentSubscription().catch(() => null);
  if (!subscription || Notification.permission !== "granted") return null;
  return relay.call("POST", "/push/subscribe", subscription.toJSON());
}

export async function enablePush(relay) {
  if (!pushSupported()) throw new Error("This browser cannot receive push notifications.");
  if (await Notification.requestPermission() !== "granted") {
    throw new Error("Notifications are blocked for this site in the browser's settings.");
  }
  const registration = (await registerWorker()) && await navigator.serviceWorker.ready;
  if (!registration) throw new Error("The service worker could not start.");
  const { public_key: key } = await relay.call("GET", "/push/key");
  let subscription = await registration.pushManager.getSubscription();
  if (!subscription) {
    subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) });
  }
  return relay.call("POST", "/push/subscribe", subscription.toJSON());
}

export async function disablePush(relay) {
  const subscription = await currentSubscription().catch(() => null);
  if (!subscription) return;
  const { endpoint } = subscription;
  await subscription.unsubscribe().catch(() => {});
  await relay.call("POST", "/push/unsubscribe", { endpoint }).catch(() => {});
}

export function saveSettings(relay, device, settings) {
  return relay.call("PATCH", `/push/subscriptions/${encodeURIComponent(device.id)}`, settings);
}
