// The sessions list: every session, newest activity first, live; filter active/ended.

import { basename, esc, relativeTime, withCode } from "../dom.js";
import { ACTIVE } from "../store.js";
import { describe } from "./tools.js";

const STATUS_LABELS = {
  starting: "starting", running: "running", idle: "idle", waiting: "waiting for you",
  ended: "ended", offline: "agent offline",
};

// What a waiting session asks, in a few words: "wants to run `pytest -x`".
export function asks(p) {
  if (!p) return "";
  const i = p.input || {};
  if (p.tool_name === "Bash" && typeof i.command === "string") {
    return `wants to run <code>${esc(i.command.split("\n")[0])}</code>`;
  }
  if (p.tool_name === "AskUserQuestion") return "has a question for you";
  if (p.tool_name === "ExitPlanMode") return "wants you to approve a plan";
  const { summary } = describe(p.tool_name, i);
  const verb = VERBS[p.tool_name] || `use ${esc(p.tool_name)} on`;
  return summary ? `wants to ${verb} <code>${esc(summary)}</code>` : `wants to use ${esc(p.tool_name)}`;
}

const VERBS = { Write: "write", Edit: "edit", MultiEdit: "edit", Read: "read", WebFetch: "fetch", Grep: "search for", Glob: "list" };

export function statusBadge(status) {
  const label = STATUS_LABELS[status] || status || "unknown";
  return `<span class="badge status-${esc(status)}">${esc(label)}</span>`;
}

// The end of a long path is the part that tells sessions apart.
export function shortPath(path, max = 42) {
  const p = String(path ?? "");
  if (p.length <= max) return p;
  const parts = p.split("/").filter(Boolean);
  let out = parts.pop() || "";
  while (parts.length && out.length + parts[parts.length - 1].length + 1 <= max - 2) {
    out = parts.pop() + "/" + out;
  }
  return "…/" + out;
}

const FILTERS = [["active", "Active"], ["ended", "Ended"], ["all", "All"]];

export class SessionsView {
  constructor(store, root, ui) {
    this.store = store;
    this.root = root;
    this.ui = ui;
    this.filter = sessionStorage.getItem("tether.filter") || "active";
    this.selected = 0;
    this.keyboard = false; // the selection shows only once the keyboard is used
    this.unsubscribe = null;
    this.pending = false;
    this.clock = null;
  }

  mount() {
    document.title = "Sessions · tether";
    this.root.innerHTML = `<div class="view list-view">
  <header class="bar">
    <h1 class="brand">tether</h1>
    <span class="spacer"></span>
    <button type="button" id="devices-button" class="btn small"${this.ui.hasDeviceKey() ? "" : " hidden"}>Devices</button>
    <button type="button" id="notify" class="btn small" hidden>Enable notifications</button>
    <button type="button" id="signout" class="btn small" aria-label="Sign out of this browser">Sign out</button>
  </header>
  <nav class="filters" aria-label="Show sessions">
    ${FILTERS.map(([key, label]) => `<button type="button" class="filter" data-filter="${key}">${label} <span class="count" data-count="${key}"></span></button>`).join("")}
  </nav>
  <main id="sessions" class="sessions" aria-label="Sessions"></main>
  <p class="whoami" id="whoami"></p>
</div>`;
    this.root.addEventListener("click", this.onClick);
    this.unsubscribe = this.store.subscribe((kind) => {
      if (kind === "sessions" || kind === "permissions") this.schedule();
    });
    this.clock = setInterval(() => this.schedule(), 30000);
    this.ui.refreshNotifyButton();
    const me = this.store.me;
    if (me) {
      this.root.querySelector("#whoami").textContent =
        me.name === "TETHER_TOKEN" ? `Signed in with the server's admin token (${me.scope})`
          : `Signed in as ${me.name || "token " + me.token_id} (${me.scope})`;
    }
    this.render();
  }

  unmount() {
    if (this.unsubscribe) this.unsubscribe();
    this.unsubscribe = null;
    clearInterval(this.clock);
    this.root.removeEventListener("click", this.onClick);
  }

  // Bursts of events re-render once per frame.
  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; if (this.unsubscribe) this.render(); });
  }

  visible() {
    const all = this.store.sortedSessions();
    if (this.filter === "active") return all.filter((s) => ACTIVE.has(s.status));
    if (this.filter === "ended") return all.filter((s) => s.status === "ended");
    return all;
  }

  render() {
    const all = this.store.sortedSessions();
    const counts = {
      active: all.filter((s) => ACTIVE.has(s.status)).length,
      ended: all.filter((s) => s.status === "ended").length,
      all: all.length,
    };
    for (const tab of this.root.querySelectorAll(".filter")) {
      const on = tab.dataset.filter === this.filter;
      tab.setAttribute("aria-pressed", String(on));
      tab.classList.toggle("on", on);
      tab.querySelector(".count").textContent = String(counts[tab.dataset.filter]);
    }
    const list = this.visible();
    const box = this.root.querySelector("#sessions");
    if (!this.store.snapshotDone && !list.length) {
      box.innerHTML = `<p class="loading">Loading sessions…</p>`;
      return;
    }
    if (!list.length) {
      box.innerHTML = `<p class="empty">${this.filter === "ended" ? "No ended sessions." :
        "No sessions yet. Start one with <code>tether run</code> and it appears here."}</p>`;
      return;
    }
    this.selected = Math.min(this.selected, list.length - 1);
    const now = Date.now();
    box.innerHTML = `<ul class="session-list">${list.map((s, i) => this.row(s, i, now)).join("")}</ul>`;
  }

  row(s, i, now) {
    const status = this.store.effectiveStatus(s);
    const waiting = this.store.pendingFor(s.id);
    const pending = waiting.length;
    const title = s.title || basename(s.cwd) || s.id;
    const badge = pending
      ? `<span class="badge pending-count" aria-label="${pending} open permission request${pending === 1 ? "" : "s"}">${pending}</span>` : "";
    const selected = this.keyboard && i === this.selected;
    return `<li><a class="session-row${selected ? " selected" : ""}" href="#/session/${encodeURIComponent(s.id)}" data-id="${esc(s.id)}">` +
      `<span class="row-top"><span class="row-title">${esc(title)}</span>${badge}` +
      `${s.locked ? `<span class="badge locked" title="Encrypted; no key here">locked</span>` : ""}${statusBadge(status)}</span>` +
      (pending && status !== "ended" ? `<span class="row-asks">${asks(waiting[0])}</span>` : "") +
      (s.locked ? `<span class="row-locked">${withCode(s.lockedHint)}</span>` : "") +
      `<span class="row-sub"><span class="badge agent" title="${esc(agentLabel(s))}">${esc(s.agent || "agent")}</span>` +
      `<span class="cwd" title="${esc(s.cwd || "")}">${esc(shortPath(s.cwd))}</span>` +
      `<time datetime="${esc(s.last_activity_at)}">${esc(relativeTime(s.last_activity_at, now))}</time></span></a></li>`;
  }

  onClick = (e) => {
    const tab = e.target.closest(".filter");
    if (tab) {
      this.filter = tab.dataset.filter;
      sessionStorage.setItem("tether.filter", this.filter);
      this.selected = 0;
      this.render();
      return;
    }
    if (e.target.closest("#signout")) this.ui.signOut();
    else if (e.target.closest("#notify")) this.ui.askNotifications();
    else if (e.target.closest("#devices-button")) this.ui.askDevices();
  };

  shortcut(key) {
    const list = this.visible();
    if (!list.length) return false;
    this.keyboard = true;
    if (key === "j" || key === "ArrowDown") this.selected = Math.min(this.selected + 1, list.length - 1);
    else if (key === "k" || key === "ArrowUp") this.selected = Math.max(this.selected - 1, 0);
    else if (key === "Enter" || key === "o") {
      location.hash = `#/session/${encodeURIComponent(list[this.selected].id)}`;
      return true;
    } else return false;
    this.render();
    this.root.querySelector(".session-row.selected")?.scrollIntoView({ block: "nearest" });
    return true;
  }
}

// Which agent runs the session, with its version when the runner learned it.
export function agentLabel(s) {
  const state = s.agent_state || {};
  const version = state.agent_info?.version || state.claude_code_version;
  return s.agent ? `${s.agent}${version ? ` ${version}` : ""}` : "";
}
