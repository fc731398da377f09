// A small, safe Markdown renderer for assistant text: the subset agents write (fenced
// code, headings, lists, quotes, tables, rules, emphasis, code spans, links).
//
// Safety comes from construction, not from sanitizing afterwards: raw HTML is never
// passed through, every piece of source text is escaped on its way out, and links keep
// only http(s) and mailto targets.

import { esc } from "./dom.js";
import { highlight } from "./highlight.js";

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$/;
const HEADING = /^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const RULE = /^ {0,3}([-*_])(?:\s*\1){2,}\s*$/;
const QUOTE = /^ {0,3}> ?(.*)$/;
const ITEM = /^( {0,12})([-*+]|\d{1,9}[.)])(?:\s+(.*)|$)/;
const TABLE_SEP = /^\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?\s*$/;

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
    if ((m = FENCE.exec(line))) {
      const fence = m[1];
      const lang = m[2];
      const body = [];
      i++;
      while (i < lines.length && !closesFence(lines[i], fence)) body.push(lines[i++]);
      i++;
      html += codeBlock(body.join("\n"), lang);
      continue;
    }
    if ((m = HEADING.exec(line))) {
      const level = Math.min(m[1].length + 2, 6);
      html += `<h${level}>${inline(m[2])}</h${level}>`;
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
    if (line.includes("|") && i + 1 < lines.length && TABLE_SEP.test(lines[i + 1])) {
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
  return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line) ||
    ITEM.test(line) ||
    (line.includes("|") && i + 1 < lines.length && TABLE_SEP.test(lines[i + 1]));
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
    const simple = body.length === 1 || body.slice(1).every((l) => !ITEM.test(l) && !FENCE.test(l) && l.trim());
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
// matches is escaped, and the insides of emphasis and link text recurse.
const INLINE = new RegExp([
  "(`+)([^`]|[^`][\\s\\S]*?[^`])\\1(?!`)", // 1,2 code span
  "\\[([^\\]\\n]+)\\]\\(\\s*<?([^()\\s<>]+(?:\\([^()\\s]*\\))?[^()\\s<>]*)>?(?:\\s+\"[^\"\\n]*\")?\\s*\\)", // 3,4 link
  "(https?:\\/\\/[^\\s<>()\"']+[^\\s<>().,;:!?\"'\\]*_])", // 5 bare URL
  "\\*\\*(?=\\S)([\\s\\S]*?\\S)\\*\\*", // 6 strong
  "(?<![\\w])__(?=\\S)([\\s\\S]*?\\S)__(?![\\w])", // 7 strong
  "~~(?=\\S)([^~\\n]*?\\S)~~", // 8 strike
  "\\*(?=[^\\s*])([^*\\n]*?[^\\s*])\\*", // 9 em
  "(?<![\\w])_(?=[^\\s_])([^_\\n]*?[^\\s_])_(?![\\w])", // 10 em
  "\\\\([\\\\`*_{}\\[\\]()#+\\-.!|~<>])", // 11 backslash escape
].join("|"), "g");

export function safeUrl(url) {
  const u = String(url).trim();
  return /^(https?:\/\/|mailto:)/i.test(u) ? u : null;
}

export function inline(text, depth = 0) {
  if (depth > 6) return plain(text);
  let out = "";
  let last = 0;
  const re = new RegExp(INLINE.source, "g");
  let m;
  while ((m = re.exec(text)) !== null) {
    out += plain(text.slice(last, m.index));
    last = m.index + m[0].length;
    if (m[2] !== undefined) {
      const code = m[2].length > 2 && m[2][0] === " " && m[2].at(-1) === " " ? m[2].slice(1, -1) : m[2];
      out += `<code>${esc(code)}</code>`;
    } else if (m[3] !== undefined) {
      const href = safeUrl(m[4]);
      out += href
        ? `<a href="${esc(href)}" target="_blank" rel="noopener noreferrer nofollow">${inline(m[3], depth + 1)}</a>`
        : inline(m[3], depth + 1);
    } else if (m[5] !== undefined) {
      out += `<a href="${esc(m[5])}" target="_blank" rel="noopener noreferrer nofollow">${esc(m[5])}</a>`;
    } else if (m[6] !== undefined || m[7] !== undefined) {
      out += `<strong>${inline(m[6] ?? m[7], depth + 1)}</strong>`;
    } else if (m[8] !== undefined) {
      out += `<del>${inline(m[8], depth + 1)}</del>`;
    } else if (m[9] !== undefined || m[10] !== undefined) {
      out += `<em>${inline(m[9] ?? m[10], depth + 1)}</em>`;
    } else if (m[11] !== undefined) {
      out += esc(m[11]);
    }
  }
  return out + plain(text.slice(last));
}

function plain(text) {
  return esc(text).replace(/\n/g, "<br>");
}
