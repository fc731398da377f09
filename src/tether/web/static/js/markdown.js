// A small, safe Markdown renderer for assistant text: the subset agents write (fenced
// code, headings, lists, quotes, tables, rules, emphasis, code spans, links).
//
// Safety comes from construction, not from sanitizing afterwards: raw HTML is never
// passed through, every piece of source text is escaped on its way out, and links keep
// only http(s) and mailto targets.

import { esc } from "./dom.js";
import { highlight } from "./highlight.js";

// Block patterns avoid neighbouring quantifiers over the same characters, which backtrack
// quadratically on long lines; the rest of a fence or heading line is parsed by hand.
const FENCE = /^ {0,3}(`{3,}|~{3,})(.*)$/;
const HEADING = /^ {0,3}(#{1,6})[ \t]+(.*)$/;
const RULE = /^ {0,3}([-*_])(?:\s*\1){2,}\s*$/;
const QUOTE = /^ {0,3}> ?(.*)$/;
const ITEM = /^( {0,12})([-*+]|\d{1,9}[.)])(?:\s+(.*)|$)/;


function fence(line) {
  const m = FENCE.exec(line);
  if (!m || m[2].includes("`")) return null;
  return { fence: m[1], lang: m[2].trim().split(/\s/)[0] };
}

function heading(line) {
  const m = HEADING.exec(line);
  if (!m) return null;
  let text = (m[2] ?? "").trimEnd();
  let end = text.length;
  while (end > 0 && text[end - 1] === "#") end--;
  if (end === 0 || /\s/.test(text[end - 1])) text = text.slice(0, end).trimEnd();
  return { level: m[1].length, text: text.trim() };
}

function isTableSep(line) {
  let t = line.trim();
  if (!t || !/^[|:\-\s]+$/.test(t)) return false;
  if (t.startsWith("|")) t = t.slice(1);
  if (t.endsWith("|")) t = t.slice(0, -1);
  return t.split("|").every((cell) => /^:?-+:?$/.test(cell.trim()));
}

export function renderMarkdown(source) {
  const lines = String(source ?? "").replace(/\r\n?/g, "\n").split("\n");
  return blocks(lines, 0);
}

function blocks(lines, depth) {
  let html = "";
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) { i++; continue; }
    let m;
    if ((m = fence(line))) {
      const body = [];
      i++;
      while (i < lines.length && !closesFence(lines[i], m.fence)) body.push(lines[i++]);
      i++;
      html += codeBlock(body.join("\n"), m.lang);
      continue;
    }
    if ((m = heading(line))) {
      const level = Math.min(m.level + 2, 6);
      html += `<h${level}>${inline(m.text)}</h${level}>`;
      i++;
      continue;
    }
    if (RULE.test(line)) { html += "<hr>"; i++; continue; }
    if (QUOTE.test(line)) {
      const body = [];
      while (i < lines.length && (m = QUOTE.exec(lines[i]))) { body.push(m[1]); i++; }
      html += `<blockquote>${depth < 8 ? blocks(body, depth + 1) : esc(body.join("\n"))}</blockquote>`;
      continue;
    }
    if (ITEM.test(line) && depth < 8) {
      const [list, next] = listBlock(lines, i, depth);
      html += list;
      i = next;
      continue;
    }
    if (line.includes("|") && i + 1 < lines.length && isTableSep(lines[i + 1])) {
      const rows = [line];
      i += 2;
      while (i < lines.length && lines[i].includes("|") && lines[i].trim()) rows.push(lines[i++]);
      html += table(rows);
      continue;
    }
    const para = [];
    while (i < lines.length && lines[i].trim() && !startsBlock(lines, i)) para.push(lines[i++]);
    if (!para.length) para.push(lines[i++]);
    html += `<p>${inline(para.join("\n"))}</p>`;
  }
  return html;
}

function startsBlock(lines, i) {
  const line = lines[i];
  return fence(line) || heading(line) || RULE.test(line) || QUOTE.test(line) ||
    ITEM.test(line) ||
    (line.includes("|") && i + 1 < lines.length && isTableSep(lines[i + 1]));
}

function closesFence(line, fence) {
  const t = line.trim();
  return t.length >= fence.length && t[0] === fence[0] && /^(`+|~+)$/.test(t);
}

// `wrap` folds long lines instead of scrolling them: for text that must be read whole
// (a command someone is asked to approve).
export function codeBlock(code, lang, { wrap = false } = {}) {
  const label = lang ? `<span class="code-lang">${esc(lang)}</span>` : "";
  return `<div class="code${wrap ? " wrap" : ""}">${label}<pre><code>${highlight(code, lang)}</code></pre></div>`;
}

// A list starting at lines[start]; items hold their following lines that are indented
// past the marker (or blank), which are rendered as blocks, so nesting works.
function listBlock(lines, start, depth) {
  const first = ITEM.exec(lines[start]);
  const indent = first[1].length;
  const ordered = /\d/.test(first[2]);
  const items = [];
  let i = start;
  while (i < lines.length) {
    const m = ITEM.exec(lines[i]);
    if (!m || m[1].length !== indent || /\d/.test(m[2]) !== ordered) break;
    const contentIndent = indent + m[2].length + 1;
    const body = [m[3] || ""];
    i++;
    while (i < lines.length) {
      const l = lines[i];
      if (!l.trim()) {
        const nextLine = lines[i + 1];
        if (nextLine !== undefined && leading(nextLine) >= contentIndent) { body.push(""); i++; continue; }
        break;
      }
      const lead = leading(l);
      if (lead >= contentIndent || (lead > indent && ITEM.test(l))) {
        body.push(l.slice(Math.min(lead, contentIndent)));
        i++;
        continue;
      }
      if (ITEM.test(l) || startsBlock(lines, i)) break;
      body.push(l.trim()); // a lazy continuation line
      i++;
    }
    items.push(body);
  }
  const tag = ordered ? "ol" : "ul";
  const startAt = ordered ? parseInt(first[2], 10) : 1;
  const attr = ordered && startAt !== 1 ? ` start="${startAt}"` : "";
  const inner = items.map((body) => {
    const simple = body.length === 1 || body.slice(1).every((l) => !ITEM.test(l) && !fence(l) && l.trim());
    return `<li>${simple && body.length === 1 ? inline(body[0]) : blocks(body, depth + 1)}</li>`;
  }).join("");
  return [`<${tag}${attr}>${inner}</${tag}>`, i];
}

function leading(line) { return line.length - line.trimStart().length; }

function cells(row) {
  let t = row.trim();
  if (t.startsWith("|")) t = t.slice(1);
  if (t.endsWith("|") && !t.endsWith("\\|")) t = t.slice(0, -1);
  return t.split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, "|"));
}

function table(rows) {
  const [head, ...body] = rows.map(cells);
  const th = head.map((c) => `<th>${inline(c)}</th>`).join("");
  const tr = body.map((r) => `<tr>${r.map((c) => `<td>${inline(c)}</td>`).join("")}</tr>`).join("");
  return `<div class="table-wrap"><table><thead><tr>${th}</tr></thead><tbody>${tr}</tbody></table></div>`;
}

// Inline constructs, in one left-to-right pass over the raw text; what lies between
// matches is escaped, and the insides of emphasis and link text recurse. The pass is linear:
// every closing delimiter is found through a precomputed list or a scan that never crosses
// the next delimiter of its kind (a regex with lazy spans was quadratic: "**a " × 60,000
// froze the page for seconds).
const LINK_TAIL = /\(\s*<?([^()\s<>]+(?:\([^()\s]*\)[^()\s<>]*)?)>?(?:\s+"[^"\n]*")?\s*\)/y;
const BARE_URL = /https?:\/\/[^\s<>()"']+[^\s<>().,;:!?"'\]*_]/y;
const ESCAPABLE = "\\`*_{}[]()#+-.!|~<>";
const isSpace = (c) => c !== undefined && /\s/.test(c);
const isWord = (c) => c !== undefined && /\w/.test(c);

export function safeUrl(url) {
  const u = String(url).trim();
  return /^(https?:\/\/|mailto:)/i.test(u) ? u : null;
}

// Positions, in order, where a double delimiter can close: "**" or "__" after a non-space.
function closers(text, pair, mustEnd) {
  const at = [];
  for (let j = text.indexOf(pair, 1); j >= 0; j = text.indexOf(pair, j + 1)) {
    if (!isSpace(text[j - 1]) && (!mustEnd || !isWord(text[j + 2]))) at.push(j);
  }
  return { at, next: 0 };
}

// The first position in list.at that is >= from (callers ask with growing `from`).
function firstFrom(list, from) {
  while (list.next < list.at.length && list.at[list.next] < from) list.next++;
  return list.next < list.at.length ? list.at[list.next] : -1;
}

// Code spans: maximal backtick runs by length, so a closer of the same length is found
// without rescanning.
function backtickRuns(text) {
  const runs = new Map();
  for (let j = text.indexOf("`"); j >= 0; j = text.indexOf("`", j)) {
    let k = j;
    while (text[k] === "`") k++;
    if (!runs.has(k - j)) runs.set(k - j, { at: [], next: 0 });
    runs.get(k - j).at.push(j);
    j = k;
  }
  return runs;
}

// The end (exclusive) of a single-delimiter span opened at i: the first `mark` or newline
// after it, which is where the next attempt with this mark starts, so scans never overlap.
function spanEnd(text, i, mark) {
  let k = i + 1;
  while (k < text.length && text[k] !== mark && text[k] !== "\n") k++;
  return k;
}

export function inline(text, depth = 0) {
  const s = String(text ?? "");
  if (depth > 6) return plain(s);
  const state = { s, depth, runs: null, strong: null, under: null };
  let out = "";
  let last = 0;
  let i = 0;
  while (i < s.length) {
    const m = "`[h*_~\\".includes(s[i]) ? inlineAt(state, i) : null;
    if (!m) { i++; continue; }
    out += plain(s.slice(last, i)) + m.html;
    i = last = m.end;
  }
  return out + plain(s.slice(last));
}

// The construct starting at s[i] as {html, end}, or null; tried in the order a reader
// expects (code first, so nothing inside code is emphasis).
function inlineAt(st, i) {
  const { s, depth } = st;
  const c = s[i];
  const inner = (a, b) => inline(s.slice(a, b), depth + 1);
  if (c === "`") {
    let k = i;
    while (s[k] === "`") k++;
    st.runs ??= backtickRuns(s);
    const same = st.runs.get(k - i); // none when i is inside a longer run
    const j = same ? firstFrom(same, k + 1) : -1;
    if (j < 0) return null;
    let code = s.slice(k, j);
    if (code.length > 2 && code[0] === " " && code.at(-1) === " ") code = code.slice(1, -1);
    return { html: `<code>${esc(code)}</code>`, end: j + (k - i) };
  }
  if (c === "[") {
    // The first "]" or newline after i is the same for every "[" before it: found once.
    if (!(st.close > i)) st.close = spanEnd(s, i, "]");
    const k = st.close;
    if (s[k] !== "]" || k === i + 1) return null;
    LINK_TAIL.lastIndex = k + 1;
    const m = LINK_TAIL.exec(s);
    if (!m) return null;
    const end = LINK_TAIL.lastIndex; // before recursing, which reuses the regex
    const href = safeUrl(m[1]);
    const label = inner(i + 1, k);
    const html = href
      ? `<a href="${esc(href)}" target="_blank" rel="noopener noreferrer nofollow">${label}</a>`
      : label;
    return { html, end };
  }
  if (c === "h") {
    if (!s.startsWith("http", i)) return null;
    BARE_URL.lastIndex = i;
    const m = BARE_URL.exec(s);
    if (!m) return null;
    return {
      html: `<a href="${esc(m[0])}" target="_blank" rel="noopener noreferrer nofollow">${esc(m[0])}</a>`,
      end: BARE_URL.lastIndex,
    };
  }
  if (c === "*" || c === "_") {
    const boundaryOk = c === "*" || !isWord(s[i - 1]);
    if (s[i + 1] === c) {
      if (!boundaryOk || s[i + 2] === undefined || isSpace(s[i + 2])) return null;
      if (c === "*") st.strong ??= closers(s, "**", false);
      else st.under ??= closers(s, "__", true);
      const j = firstFrom(c === "*" ? st.strong : st.under, i + 3);
      return j < 0 ? null : { html: `<strong>${inner(i + 2, j)}</strong>`, end: j + 2 };
    }
    if (!boundaryOk || s[i + 1] === undefined || isSpace(s[i + 1])) return null;
    const k = spanEnd(s, i, c);
    if (s[k] !== c || k < i + 2 || isSpace(s[k - 1]) || (c === "_" && isWord(s[k + 1]))) return null;
    return { html: `<em>${inner(i + 1, k)}</em>`, end: k + 1 };
  }
  if (c === "~") {
    if (s[i + 1] !== "~" || s[i + 2] === undefined || isSpace(s[i + 2])) return null;
    const k = spanEnd(s, i + 1, "~");
    if (s[k] !== "~" || s[k + 1] !== "~") return null;
    if (k > i + 2 && !isSpace(s[k - 1])) return { html: `<del>${inner(i + 2, k)}</del>`, end: k + 2 };
    // The span may end in a "~" itself ("~~a ~~~" strikes "a ~").
    if (s[k + 2] === "~") return { html: `<del>${inner(i + 2, k + 1)}</del>`, end: k + 3 };
    return null;
  }
  if (c === "\\" && s[i + 1] !== undefined && ESCAPABLE.includes(s[i + 1])) {
    return { html: esc(s[i + 1]), end: i + 2 };
  }
  return null;
}

function plain(text) {
  return esc(text).replace(/\n/g, "<br>");
}
