// Line diffs for Edit/MultiEdit cards: a longest-common-subsequence diff for the sizes
// an edit has, falling back to "all removed, all added" when the inputs are huge.

import { esc } from "./dom.js";

const MAX_CELLS = 250000; // 500 x 500 lines

// [{op: " "|"-"|"+", text, a, b}]: a and b number the line in the old and the new text
// (from 1; the line's own side only).
export function diffLines(oldText, newText) {
  return numbered(lineOps(splitLines(oldText), splitLines(newText)));
}

function lineOps(a, b) {
  if (a.length * b.length > MAX_CELLS) {
    return [...a.map((t) => ({ op: "-", text: t })), ...b.map((t) => ({ op: "+", text: t }))];
  }
  // lcs[i][j] = length of the LCS of a[i:] and b[j:], in one flat array.
  const w = b.length + 1;
  const lcs = new Uint32Array((a.length + 1) * w);
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i * w + j] = a[i] === b[j] ? lcs[(i + 1) * w + j + 1] + 1
        : Math.max(lcs[(i + 1) * w + j], lcs[i * w + j + 1]);
    }
  }
  const out = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) { out.push({ op: " ", text: a[i] }); i++; j++; }
    else if (lcs[(i + 1) * w + j] >= lcs[i * w + j + 1]) out.push({ op: "-", text: a[i++] });
    else out.push({ op: "+", text: b[j++] });
  }
  while (i < a.length) out.push({ op: "-", text: a[i++] });
  while (j < b.length) out.push({ op: "+", text: b[j++] });
  return out;
}

function numbered(ops) {
  let a = 0;
  let b = 0;
  for (const l of ops) {
    if (l.op !== "+") l.a = ++a;
    if (l.op !== "-") l.b = ++b;
  }
  return ops;
}

// The diff of an Edit's or a MultiEdit's edits, each edit headed when there are several.
// Items that are not edits (null, a string) are shown as what they are, not dropped.
export function editsDiff(edits) {
  const list = Array.isArray(edits) ? edits : [];
  return list.flatMap((e, k) => {
    const head = list.length > 1 ? [{ op: "@", text: `Edit ${k + 1} of ${list.length}` }] : [];
    if (!e || typeof e !== "object") return [...head, { op: "?", text: String(JSON.stringify(e)) }];
    return [...head, ...diffLines(e.old_string, e.new_string)];
  });
}

function splitLines(text) {
  const s = String(text ?? "");
  return s === "" ? [] : s.replace(/\r\n?/g, "\n").split("\n");
}

export function diffStats(lines) {
  let added = 0;
  let removed = 0;
  for (const l of lines) {
    if (l.op === "+") added++;
    else if (l.op === "-") removed++;
  }
  return { added, removed };
}

const ROW = { "+": "add", "-": "del", " ": "ctx" };

// One grid: old and new line numbers, the sign, and the text, which wraps.
export function renderDiff(lines) {
  const rows = lines.map((l) => {
    const cls = ROW[l.op];
    if (!cls) return `<span class="d-head">${esc(l.text)}</span>`;
    return `<span class="d-no d-${cls}">${l.a ?? ""}</span><span class="d-no d-${cls}">${l.b ?? ""}</span>` +
      `<span class="d-sign d-${cls}">${l.op === " " ? "" : esc(l.op === "-" ? "−" : "+")}</span>` +
      `<span class="d-text d-${cls}">${esc(l.text)}</span>`;
  }).join("");
  return `<div class="diff" role="group" aria-label="Changes: old line, new line, change, text">${rows}</div>`;
}
