// Boot: sign-in (token from the one-time link or pasted), the hash router, the
// connection indicator, notifications and keyboard shortcuts.

import { ApiError, Relay } from "./api.js";
import { $, esc, setMe } from "./dom.js";
import { Store } from "./store.js";
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
    button.hidden = !("Notification" in window) || Notification.permission !== "default";
  },
  async askNotifications() {
    if (!("Notification" in window)) return;
    await Notification.requestPermission();
    ui.refreshNotifyButton();
  },
};

function setConnection(state) {
  const el = $("#conn");
  const show = state === "reconnecting" || state === "connecting";
  el.hidden = !show;
  el.textContent = state === "connecting" ? "Connecting…" : "Reconnecting…";
  document.documentElement.dataset.connection = state;
}

// A browser notification when a session starts waiting, unless the person is looking
// at that very session.
function notify({ session, permission }) {
  if (!("Notification" in window) || Notification.permission !== "granted") return;
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
  // Each view gets a fresh root, so listeners of the old one go with it.
  const root = document.createElement("div");
  root.className = "root";
  app.replaceChildren(root);
  if (m) {
    view = new SessionView(store, root, decodeURIComponent(m[1]), ui);
  } else {
    view = new SessionsView(store, root, ui);
  }
  view.mount();
}

async function boot() {
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
    app.innerHTML = `<p class="empty" role="alert">The relay cannot be reached (${esc(err.message)}). Retrying…</p>`;
    setTimeout(boot, 3000);
    return;
  }
  store = new Store(relay);
  store.me = me;
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
window.addEventListener("online", () => { if (store) store.stream.reconnectNow(); });
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

boot();
