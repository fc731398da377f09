// The service worker: keeps the app shell for when the network is away, shows push
// notifications with the page closed (an encrypted session's title opened with the
// device's key, js/e2e-core.js), and answers a permission request from the lock screen
// with the device's token (both kept in IndexedDB by js/token-db.js).
//
// The shell is fetched network-first: online, every load is as fresh as without a
// worker (the server says no-cache, so an upgrade never runs stale modules); offline,
// the cached copy starts and says it is offline. The API is never cached or touched.

importScripts("js/token-db.js", "js/e2e-core.js");

const CACHE = "tether-shell-v1";
// Every file of the shell (a test holds this list equal to the files in static/).
const SHELL = [
  "./",
  "app.css",
  "icon.svg",
  "icons/apple-touch-icon.png",
  "icons/badge-96.png",
  "icons/icon-192.png",
  "icons/icon-512.png",
  "icons/maskable-512.png",
  "index.html",
  "js/api.js",
  "js/diff.js",
  "js/dom.js",
  "js/e2e-core.js",
  "js/e2e.js",
  "js/highlight.js",
  "js/main.js",
  "js/markdown.js",
  "js/protocol.js",
  "js/push.js",
  "js/sse.js",
  "js/store.js",
  "js/token-db.js",
  "js/vault.js",
  "js/views/devices.js",
  "js/views/flows.js",
  "js/views/messages.js",
  "js/views/notifications.js",
  "js/views/permission.js",
  "js/views/session.js",
  "js/views/sessions.js",
  "js/views/tools.js",
  "manifest.webmanifest",
];
const BASE = new URL("./", self.location.href);
const API = new URL("api/v1/", BASE).href;

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) if (name !== CACHE) await caches.delete(name);
    await self.clients.claim();
  })());
});

function isShell(url) {
  if (url.origin !== BASE.origin || !url.href.startsWith(BASE.href)) return false;
  const path = url.pathname.slice(BASE.pathname.length);
  return path === "" || SHELL.includes(path);
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  const navigation = request.mode === "navigate" && url.href.startsWith(BASE.href) && !url.href.startsWith(API);
  if (!navigation && !isShell(url)) return; // the API, the gateway, anything else: untouched
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const response = await fetch(request);
      if (response.ok && !navigation) cache.put(request, response.clone());
      else if (response.ok && url.pathname === BASE.pathname) cache.put("./", response.clone());
      return response;
    } catch (err) {
      // Offline: the shell from the cache (a navigation to any address gets the page).
      const cached = navigation ? await cache.match("./") : await cache.match(request, { ignoreSearch: true });
      if (cached) return cached;
      throw err;
    }
  })());
});

// ── notifications ─────────────────────────────────────────────────────────────────

// Tools whose "allow" needs more than a tap (an answer typed in the app).
const NEEDS_THE_APP = new Set(["AskUserQuestion"]);

function shown(data) {
  const title = data.session_title || "A session";
  const base = { tag: data.tag, data, silent: Boolean(data.silent), icon: "icons/icon-192.png", badge: "icons/badge-96.png" };
  if (data.type === "permission") {
    const answerable = data.can_answer && !NEEDS_THE_APP.has(data.tool_name) && (!data.encrypted || data.has_key);
    const actions = answerable
      ? [{ action: "allow", title: "Allow" }, { action: "deny", title: "Deny" }] : [];
    return [`${title} needs you`, { ...base, body: `${data.tool_name || "A tool"} wants your permission`, actions, requireInteraction: true }];
  }
  if (data.type === "turn") return [title, { ...base, body: "Finished its turn" }];
  if (data.type === "ended") return [title, { ...base, body: data.crashed ? "The agent crashed" : "The session ended" }];
  return null;
}

async function closeTagged(tag) {
  for (const n of await self.registration.getNotifications({ tag })) n.close();
}

// An end-to-end encrypted session's key, unwrapped with this device's key (kept in
// IndexedDB by js/token-db.js): the push carries the session key wrapped to this device
// and the sealed metadata box, the same ones the page opens (js/vault.js). Null when it
// does not open here (not paired, another device's key, altered).
async function sessionKey(data) {
  const e2e = self.tetherE2E;
  if (!data.e2e || !e2e.available || typeof data.session_id !== "string") return null;
  try {
    const device = await self.tetherTokenDB.deviceKey();
    if (!device) return null;
    const recipient = `device:${device.id}`;
    return await e2e.unwrap(data.e2e.key, device, ["wrap", data.session_id, recipient]);
  } catch {
    return null;
  }
}

async function openedTitle(data, key) {
  try {
    const meta = await self.tetherE2E.openBox(key, data.e2e.meta, ["meta", data.session_id]);
    return typeof meta?.title === "string" && meta.title ? meta.title.slice(0, 120) : null;
  } catch {
    return null;
  }
}

async function onPush(data) {
  if (!data || typeof data.tag !== "string") return;
  if (data.type === "resolved") return closeTagged(data.tag); // answered somewhere: gone everywhere
  if (data.encrypted) {
    // The title opened here, or the tool name only; Allow only with the key to seal it.
    const key = await sessionKey(data);
    const title = key && await openedTitle(data, key);
    data = { ...data, session_title: title || "", has_key: Boolean(key) };
  }
  const notification = shown(data);
  if (notification) await self.registration.showNotification(...notification);
}

self.addEventListener("push", (event) => {
  let data = null;
  try { data = event.data ? event.data.json() : null; } catch { data = null; }
  event.waitUntil(onPush(data));
});

async function openApp(sessionId) {
  const target = new URL(sessionId ? `./#/session/${encodeURIComponent(sessionId)}` : "./", BASE).href;
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  for (const client of windows) {
    if (client.url.startsWith(BASE.href) && "focus" in client) {
      await client.focus();
      if ("navigate" in client) await client.navigate(target).catch(() => {});
      return;
    }
  }
  await self.clients.openWindow(target);
}

// Allow or Deny from the notification: the relay answers 200, or 409 when another
// device answered first (the notification closes either way; the `resolved` push
// closes it on every other device). No token (signed out) or a refused one opens the app.
async function answer(data, behavior) {
  const token = await self.tetherTokenDB.get().catch(() => null);
  if (!token) return openApp(data.session_id);
  let body = behavior === "allow" ? { behavior: "allow" } : { behavior: "deny", message: "Denied from a notification." };
  if (data.encrypted) {
    // The decision goes sealed to this one request, as the page's (js/vault.js
    // sealAnswer): the runner takes no allow it cannot open.
    const key = await sessionKey(data);
    if (!key) return openApp(data.session_id);
    const plain = { behavior, updated_input: null, remember: false, message: body.message ?? null };
    const box = await self.tetherE2E.seal(key, plain, ["answer", data.session_id, data.request_id]);
    body = { behavior, updated_input: box, message: null };
  }
  let response = null;
  try {
    response = await fetch(new URL(`permissions/${encodeURIComponent(data.request_id)}/respond`, API), {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: JSON.stringify(body),
      cache: "no-store",
    });
  } catch {
    response = null;
  }
  if (response && (response.ok || response.status === 409)) return closeTagged(data.tag);
  await self.registration.showNotification(`${data.session_title || "A session"} needs you`, {
    tag: data.tag, data, body: "The answer did not reach the relay. Open tether to answer.",
    icon: "icons/icon-192.png", badge: "icons/badge-96.png",
  });
}

self.addEventListener("notificationclick", (event) => {
  const data = event.notification.data || {};
  event.notification.close();
  if (data.type === "permission" && (event.action === "allow" || event.action === "deny")) {
    event.waitUntil(answer(data, event.action));
  } else {
    event.waitUntil(openApp(data.session_id));
  }
});

// The push service replaced the subscription: subscribe again and tell the relay.
self.addEventListener("pushsubscriptionchange", (event) => {
  event.waitUntil((async () => {
    const token = await self.tetherTokenDB.get().catch(() => null);
    const options = event.oldSubscription && event.oldSubscription.options;
    if (!token || !options) return;
    const subscription = event.newSubscription || await self.registration.pushManager.subscribe(options);
    await fetch(new URL("push/subscribe", API), {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: JSON.stringify(subscription.toJSON()),
    });
  })());
});
