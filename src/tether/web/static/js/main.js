// Boot: sign-in (token from the one-time link or pasted), the hash router, the
// connection indicator, notifications (push through the service worker) and keyboard
// shortcuts. Offline, the service worker's cached shell starts here and says so.

import { ApiError, Relay } from "./api.js";
import { $, esc, setMe } from "./dom.js";
import { pair } from "./e2e.js";
import { disablePush, forgetToken, pushSupported, registerWorker, rememberToken, syncPush } from "./push.js";
import { Store } from "./store.js";
import { Vault } from "./vault.js";
import { DevicesPanel } from "./views/devices.js";
import { NotificationsPanel } from "./views/notifications.js";
import { FlowsView } from "./views/flows.js";
import { SessionView } from "./views/session.js";
import { SessionsView } from "./views/sessions.js";

const TOKEN_KEY = "tether.token";
const app = document.getElementById("app");

// A token in the address bar (the sign-in link) is stored and removed from the URL at
// once, so it is not left in history, bookmarks or a screenshot.
function takeTokenFromUrl() {
  const url = new URL(location.href);
  const token = url.searchParams.get("token");
  if (token === null) return;
  url.searchParams.delete("token");
  history.replaceState(null, "", url.pathname + url.search + url.hash);
  if (token.trim()) localStorage.setItem(TOKEN_KEY, token.trim());
}

// A `tether pair` link carries a one-time secret in its fragment (never sent to a server).
// It is taken from the address bar at once and spent pairing this browser: the device key
// is made here and the relay answers with this device's own token. False when it failed.
async function pairFromLink() {
  const m = /^#pair=([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(location.hash);
  if (!m) return true;
  history.replaceState(null, "", location.pathname + location.search);
  app.innerHTML = `<div class="view signin"><div class="signin-box" id="pairing">
    <h1 class="brand">tether</h1><p>Pairing this device…</p></div></div>`;
  try {
    const { token } = await pair(m[1], m[2]);
    localStorage.setItem(TOKEN_KEY, token);
    return true;
  } catch (err) {
    showSignIn(`Pairing failed: ${err.message}`);
    return false;
  }
}

function showSignIn(message = "") {
  document.title = "Sign in · tether";
  app.innerHTML = `<div class="view signin">
  <form id="signin" class="signin-box">
    <h1 class="brand">tether</h1>
    <p>Open the sign-in link that <code>tether serve</code> printed, or paste a token.
    Make one for this device with <code>tether token create --scope client --link</code>.</p>
    <label for="token-input">Token</label>
    <input id="token-input" type="password" autocomplete="off" spellcheck="false" required>
    <button type="submit" class="btn primary">Sign in</button>
    <p class="signin-error" role="alert">${esc(message)}</p>
  </form></div>`;
  $("#signin").addEventListener("submit", (e) => {
    e.preventDefault();
    const token = $("#token-input").value.trim();
    if (!token) return;
    localStorage.setItem(TOKEN_KEY, token);
    boot();
  });
  $("#token-input").focus();
}

let store = null;
let view = null;
// This device's push subscription as the relay knows it (null: not subscribed).
const push = { relay: null, device: null };
let panel = null;
let devicesPanel = null;
let retry = null;

const ui = {
  toast(text) {
    const box = $("#toasts");
    const el = document.createElement("div");
    el.className = "toast";
    el.setAttribute("role", "alert");
    el.textContent = text;
    box.append(el);
    setTimeout(() => el.remove(), 6000);
  },
  signOut(message = "Signed out.") {
    localStorage.removeItem(TOKEN_KEY);
    // A signed-out device gets no more notifications, and its worker no token.
    if (push.relay) disablePush(push.relay);
    push.relay = null;
    push.device = null;
    forgetToken();
    $("#notifications").hidden = true;
    $("#devices").hidden = true;
    devicesPanel = null;
    if (store) store.stop();
    store = null;
    if (view) view.unmount();
    view = null;
    setConnection("idle");
    history.replaceState(null, "", location.pathname);
    showSignIn(message);
  },
  refreshNotifyButton() {
    const button = $("#notify");
    if (!button) return;
    button.hidden = false;
    button.textContent = push.device ? "Notifications: on" : "Notifications";
  },
  askNotifications() {
    const box = $("#notifications");
    if (!panel) panel = new NotificationsPanel(box, push, () => ui.refreshNotifyButton());
    panel.render();
    box.hidden = false;
  },
  // Only a paired browser holds a device key: one signed in with a token has nothing to
  // share and no code to show.
  hasDeviceKey() { return Boolean(store?.vault.device); },
  askDevices() {
    if (!store) return;
    if (!devicesPanel) devicesPanel = new DevicesPanel($("#devices"), store);
    devicesPanel.open();
  },
};

function setConnection(state) {
  const el = $("#conn");
  const show = state === "reconnecting" || state === "connecting";
  el.hidden = !show;
  el.textContent = !navigator.onLine ? "Offline — reconnecting when the network is back"
    : state === "connecting" ? "Connecting…" : "Reconnecting…";
  document.documentElement.dataset.connection = state;
}

// A browser notification when a session starts waiting, unless the person is looking
// at that very session.
function notify({ session, permission }) {
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  if (push.device) return; // the service worker shows the pushed one
  const sessionId = session?.id || permission?.session_id;
  if (!document.hidden && location.hash === `#/session/${encodeURIComponent(sessionId)}`) return;
  const title = session?.title || "A session";
  const body = permission
    ? `${permission.tool_name}: ${permission.title || "wants your permission"}`
    : "is waiting for you";
  try {
    const n = new Notification(`${title} needs you`, { body, tag: `tether-${sessionId}` });
    n.onclick = () => {
      window.focus();
      location.hash = `#/session/${encodeURIComponent(sessionId)}`;
      n.close();
    };
  } catch { /* some mobile browsers only notify from a service worker */ }
}

function route() {
  if (!store) return;
  if (view) view.unmount();
  const m = /^#\/session\/(.+)$/.exec(location.hash);
  const calls = /^#\/session\/([^/]+)\/calls(?:\/([^/]+))?$/.exec(location.hash);
  // Each view gets a fresh root, so listeners of the old one go with it.
  const root = document.createElement("div");
  root.className = "root";
  app.replaceChildren(root);
  if (calls) {
    const flowId = calls[2] ? decodeURIComponent(calls[2]) : null;
    view = new FlowsView(store, root, decodeURIComponent(calls[1]), flowId, ui);
  } else if (m) {
    view = new SessionView(store, root, decodeURIComponent(m[1]), ui);
  } else {
    view = new SessionsView(store, root, ui);
  }
  view.mount();
}

async function boot() {
  clearTimeout(retry);
  retry = null;
  if (!(await pairFromLink())) return;
  takeTokenFromUrl();
  const token = localStorage.getItem(TOKEN_KEY);
  if (!token) return showSignIn();
  const relay = new Relay(token);
  let me;
  try {
    me = await relay.me();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      localStorage.removeItem(TOKEN_KEY);
      return showSignIn("That token was not accepted. It may have been revoked.");
    }
    app.innerHTML = navigator.onLine
      ? `<p class="empty" role="alert">The relay cannot be reached (${esc(err.message)}). Retrying…</p>`
      : `<p class="empty offline" role="alert">You are offline. tether reconnects when the network is back.</p>`;
    retry = setTimeout(boot, 3000);
    return;
  }
  rememberToken(token);
  push.relay = relay;
  if (pushSupported()) {
    syncPush(relay).then((device) => { push.device = device; ui.refreshNotifyButton(); }).catch(() => {});
  }
  store = new Store(relay);
  store.me = me;
  store.vault = await Vault.load();
  setMe(me?.name);
  window.__tetherStore = store; // for tests and for poking around in devtools
  document.documentElement.dataset.scope = me.scope;
  store.subscribe((kind, detail) => {
    if (kind === "connection") {
      setConnection(detail.state);
      if (detail.state === "unauthorized") {
        ui.signOut("This token is no longer accepted. Sign in again.");
      }
    } else if (kind === "attention") notify(detail);
    else if (kind === "error") ui.toast(detail.message);
  });
  store.start();
  route();
}

window.addEventListener("hashchange", route);

// A phone waking up or the network coming back: the old connection may be dead without
// knowing it, so reconnect from the cursor (nothing missed, nothing doubled).
document.addEventListener("visibilitychange", () => {
  if (!document.hidden && store && store.stream.stale) store.stream.reconnectNow();
});
window.addEventListener("online", () => {
  if (store) store.stream.reconnectNow();
  else if (retry) boot(); // the offline shell: try now, not at the next retry
});
window.addEventListener("offline", () => {
  if (store && store.stream.state !== "live") setConnection(store.stream.state);
});
window.addEventListener("pageshow", (e) => { if (e.persisted && store) store.stream.reconnectNow(); });

document.addEventListener("keydown", (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey || !view) return;
  const field = e.target.closest?.("input, textarea, select, [contenteditable]");
  if (field) {
    if (e.key === "Escape") field.blur();
    if (e.key === "Enter" && field.classList.contains("deny-reason")) {
      e.preventDefault();
      field.closest(".perm")?.querySelector('[data-action="deny"]')?.click();
    }
    return;
  }
  // Enter on a focused link or button does what it always does.
  if ((e.key === "Enter" || e.key === " ") && e.target.closest?.("a, button, summary")) return;
  if (e.key === "?") { $("#help").hidden = !$("#help").hidden; e.preventDefault(); return; }
  if (e.key === "Escape") {
    if (!$("#help").hidden) $("#help").hidden = true;
    else if (view.back) location.hash = view.back;
    else if (location.hash.startsWith("#/session/")) location.hash = "#/";
    return;
  }
  if (e.key === "w" && nextWaiting()) { e.preventDefault(); return; }
  if (view.shortcut && view.shortcut(e.key)) e.preventDefault();
});

// `w`: the next session that waits for an answer (the oldest request first), from anywhere.
function nextWaiting() {
  if (!store) return false;
  const here = decodeURIComponent(location.hash.replace(/^#\/session\//, ""));
  const waiting = store.sortedSessions()
    .filter((s) => s.status !== "ended" && store.pendingFor(s.id).length);
  const next = waiting.find((s) => s.id !== here);
  if (!next) { ui.toast("No other session is waiting for you."); return true; }
  location.hash = `#/session/${encodeURIComponent(next.id)}`;
  return true;
}

$("#help-close").addEventListener("click", () => { $("#help").hidden = true; });

registerWorker();
boot();
