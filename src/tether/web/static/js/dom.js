// Small helpers shared by the views. Every view builds HTML strings, so everything that
// came from outside (transcripts, titles, paths, tool output) goes through esc().

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

// Plain text whose `backquoted` parts are commands: escaped, with those parts as <code>.
export function withCode(text) {
  return esc(text).replace(/`([^`]+)`/g, "<code>$1</code>");
}

export function $(selector, root = document) { return root.querySelector(selector); }

export function truncate(text, max) {
  const s = String(text ?? "");
  return s.length > max ? s.slice(0, max - 1) + "…" : s;
}

export function firstLine(text, max = 160) {
  const s = String(text ?? "").trim();
  const nl = s.indexOf("\n");
  return truncate(nl < 0 ? s : s.slice(0, nl) + " …", max);
}

// "1 line", "2 lines".
export function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

export function countLines(text) {
  const s = String(text ?? "").replace(/\n$/, "");
  return s ? s.split("\n").length : 0;
}

export function basename(path) {
  const s = String(path ?? "").replace(/\/+$/, "");
  return s.slice(s.lastIndexOf("/") + 1) || s;
}

export function relativeTime(iso, now = Date.now()) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "";
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 45) return "just now";
  if (s < 90) return "1 min ago";
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 24) return `${h} h ago`;
  const d = Math.round(h / 24);
  if (d < 30) return `${d} d ago`;
  return new Date(t).toLocaleDateString();
}

// The time of day, with the date when it is not today ("Nov 24, 09:41").
export function clockTime(iso, now = new Date()) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "";
  const at = new Date(t);
  const clock = { hour: "2-digit", minute: "2-digit" };
  if (at.toDateString() === now.toDateString()) return at.toLocaleTimeString([], clock);
  const date = at.getFullYear() === now.getFullYear() ? { month: "short", day: "numeric" }
    : { year: "numeric", month: "short", day: "numeric" };
  return at.toLocaleString([], { ...date, ...clock });
}

// People, not variable names: the signed-in token is "you"; the server's own admin token
// (named after the TETHER_TOKEN variable it came from) is "the admin".
let myName = null;
export function setMe(name) { myName = name || null; }
export function personName(name) {
  if (!name) return "you";
  if (name === myName) return "you";
  if (name === "TETHER_TOKEN") return "the admin";
  return name;
}

export function formatTokens(n) {
  const v = Number(n) || 0;
  if (v >= 1e6) return (v / 1e6).toFixed(1) + "M";
  if (v >= 1e4) return Math.round(v / 1e3) + "k";
  if (v >= 1e3) return (v / 1e3).toFixed(1) + "k";
  return String(v);
}

export function formatCost(usd) {
  const v = Number(usd) || 0;
  return "$" + (v < 1 ? v.toFixed(4) : v.toFixed(2));
}

export function pretty(value) {
  if (typeof value === "string") return value;
  try { return JSON.stringify(value, null, 2); } catch { return String(value); }
}

// Tool output arrives as a string or as content blocks ([{type: "text", text}, ...]).
export function outputText(output) {
  if (output == null) return "";
  if (typeof output === "string") return output;
  if (Array.isArray(output)) {
    return output.map((b) => (b && typeof b === "object"
      ? (b.type === "text" ? b.text : b.type === "image" ? "[image]" : pretty(b))
      : String(b))).join("\n");
  }
  if (typeof output === "object" && typeof output.text === "string") return output.text;
  return pretty(output);
}
