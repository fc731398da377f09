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

// One registration per page load, shared: a subscription is looked up through the
// registration this page asked for, because until register() settles, getRegistration()
// finds nothing on a browser's first visit and the device would look unsubscribed.
let registering = null;

export function registerWorker() {
  if (!workerSupported()) return Promise.resolve(null);
  registering ??= navigator.serviceWorker.register("sw.js").catch((err) => {
    console.warn("tether: the service worker did not register", err);
    registering = null; // asking again (turning push on) tries again
    return null;
  });
  return registering;
}

export async function rememberToken(token) {
  if (tokenDB()) await tokenDB().set(token).catch(() => {});
}

export async function forgetToken() {
  if (tokenDB()) await tokenDB().clear().catch(() => {});
}

async function currentSubscription() {
  if (!pushSupported()) return null;
  const registration = await registerWorker();
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
  let subscription = await currentSubscription().catch(() => null);
  if (!subscription || Notification.permission !== "granted") return null;
  subscription = await forRelayKey(relay, subscription);
  return relay.call("POST", "/push/subscribe", subscription.toJSON());
}

// A subscription made for another VAPID key (the relay's key file was replaced, or this
// browser used another relay) would have every push refused: subscribe again for this one.
async function forRelayKey(relay, subscription) {
  const { public_key: key } = await relay.call("GET", "/push/key");
  const wanted = keyBytes(key);
  const had = subscription.options && subscription.options.applicationServerKey;
  if (!had || sameBytes(new Uint8Array(had), wanted)) return subscription;
  const registration = await navigator.serviceWorker.ready;
  await subscription.unsubscribe();
  return registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: wanted });
}

function sameBytes(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export async function enablePush(relay) {
  if (!pushSupported()) throw new Error("This browser cannot receive push notifications.");
  if (await Notification.requestPermission() !== "granted") {
    throw new Error("Notifications are blocked for this site in the browser's settings.");
  }
  const registration = (await registerWorker()) && await navigator.serviceWorker.ready;
  if (!registration) throw new Error("The service worker could not start.");
  let subscription = await registration.pushManager.getSubscription();
  if (subscription) {
    subscription = await forRelayKey(relay, subscription);
  } else {
    const { public_key: key } = await relay.call("GET", "/push/key");
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
