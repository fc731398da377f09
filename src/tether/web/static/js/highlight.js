// A small syntax highlighter: one regex-driven pass that splits code into comments,
// strings, numbers and keywords. It is not a parser, only enough colour to read code on
// a phone. Every token is escaped; the output is safe to put in innerHTML.

import { esc } from "./dom.js";

const C_LIKE = "break case catch class const continue default delete do else enum export " +
  "extends finally for function if import in instanceof let new return static super switch " +
  "this throw try typeof var void while yield async await of interface type implements " +
  "public private protected readonly package struct impl fn pub mut use mod match trait " +
  "where loop func go defer chan select range map true false null nil undefined";
const PY = "and as assert async await break class continue def del elif else except " +
  "finally for from global if import in is lambda nonlocal not or pass raise return try " +
  "while with yield True False None self match case";
const SH = "if then else elif fi for while until do done case esac function in return " +
  "export local readonly set unset echo cd exit source alias sudo";
const SQL = "select from where insert into values update set delete create table drop " +
  "alter index join left right inner outer on group by order having limit offset and or " +
  "not null as distinct union all primary key references begin commit rollback";

const FAMILIES = {
  c: { words: C_LIKE, line: "//", block: true, hash: false },
  py: { words: PY, line: "#", block: false, hash: true },
  sh: { words: SH, line: "#", block: false, hash: true },
  sql: { words: SQL, line: "--", block: true, hash: false, nocase: true },
  data: { words: "true false null", line: null, block: false, hash: false },
};

const ALIASES = {
  js: "c", javascript: "c", jsx: "c", ts: "c", typescript: "c", tsx: "c", mjs: "c",
  go: "c", rust: "c", rs: "c", c: "c", cpp: "c", "c++": "c", h: "c", java: "c",
  kotlin: "c", swift: "c", cs: "c", csharp: "c", php: "c", scala: "c", dart: "c",
  python: "py", py: "py", ruby: "py", rb: "py", toml: "py", yaml: "py", yml: "py",
  sh: "sh", bash: "sh", shell: "sh", zsh: "sh", console: "sh", dockerfile: "sh",
  makefile: "sh", sql: "sql", json: "data", jsonc: "c",
};

const cache = new Map();

function tokenizer(family) {
  if (cache.has(family)) return cache.get(family);
  const f = FAMILIES[family];
  const parts = [];
  if (f.block) parts.push("\\/\\*[\\s\\S]*?(?:\\*\\/|$)");
  if (f.line) parts.push(escapeRe(f.line) + "[^\\n]*");
  if (family === "py") parts.push('"""[\\s\\S]*?(?:"""|$)', "'''[\\s\\S]*?(?:'''|$)");
  parts.push('"(?:\\\\.|[^"\\\\\\n])*"?', "'(?:\\\\.|[^'\\\\\\n])*'?");
  if (family === "c") parts.push("`(?:\\\\.|[^`\\\\])*`?");
  parts.push("\\b\\d[\\d_]*(?:\\.\\d+)?(?:e[+-]?\\d+)?\\b|\\b0x[\\da-f]+\\b");
  parts.push("[A-Za-z_$][\\w$]*");
  const re = new RegExp(parts.map((p) => `(${p})`).join("|"), f.nocase ? "gi" : "g");
  const words = new Set(f.words.split(" ").map((w) => (f.nocase ? w.toLowerCase() : w)));
  const value = { re, words, f };
  cache.set(family, value);
  return value;
}

function escapeRe(s) { return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }

export function languageFamily(lang) {
  return ALIASES[String(lang || "").toLowerCase()] || null;
}

// Highlighted HTML for `code` in `lang`; unknown languages are only escaped.
export function highlight(code, lang) {
  const family = languageFamily(lang);
  if (!family || code.length > 200000) return esc(code);
  const { re, words, f } = tokenizer(family);
  let out = "";
  let last = 0;
  re.lastIndex = 0;
  let m;
  while ((m = re.exec(code)) !== null) {
    if (m[0] === "") { re.lastIndex++; continue; }
    out += esc(code.slice(last, m.index));
    const tok = m[0];
    let cls = null;
    const c0 = tok[0];
    if ((f.line && tok.startsWith(f.line)) || tok.startsWith("/*")) cls = "c";
    else if (c0 === '"' || c0 === "'" || c0 === "`") cls = "s";
    else if (/\d/.test(c0)) cls = "n";
    else if (words.has(f.nocase ? tok.toLowerCase() : tok)) cls = "k";
    out += cls ? `<span class="hl-${cls}">${esc(tok)}</span>` : esc(tok);
    last = m.index + tok.length;
  }
  return out + esc(code.slice(last));
}
