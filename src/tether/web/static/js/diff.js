// Line diffs for Edit/MultiEdit cards: a longest-common-subsequence diff for the sizes
// an edit has, falling back to "all removed, all added" when the inputs are huge.

import { esc } from "./dom.js";

const MAX_CELLS = 250000; // 500 x 500 lines

export function diffLines(oldText, newText) {
  const a = splitLines(oldText);
  const b = splitLines(newText);
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

export function renderDiff(lines) {
  const rows = lines.map((l) => {
    const cls = l.op === "+" ? "add" : l.op === "-" ? "del" : "ctx";
    return `<span class="d-${cls}">${esc(l.op)} ${esc(l.text)}</span>`;
  }).join("");
  return `<pre class="diff"><code>${rows}</code></pre>`;
}
