// Which sentence of a cited passage an answer's sentence rests on. Extractive answers quote passages
// verbatim; an LLM's prose is matched to the passage sentence that shares the most words with it. The
// chip's hover preview shows that sentence, and the article view marks it more strongly than the rest
// of the passage.

const MARKER = /(\[\d+\])/;
const WORD = /[\p{L}\p{N}][\p{L}\p{N}'’-]*/gu;
const MINOR = new Set(["the", "and", "for", "with", "that", "this", "from", "have", "has", "had", "was", "were",
  "are", "its", "their", "they", "will", "would", "been", "into", "over", "after", "also", "said", "about"]);
// A passage sentence must share this many words with the answer's sentence to count as its source.
const MIN_SHARED_WORDS = 2;

// The answer as [text, "[1]", text, "[2]", …] pieces.
export function pieces(answer) {
  return (answer || "").split(MARKER).filter((p) => p !== "");
}

export const markerNumber = (piece) => Number((/^\[(\d+)\]$/.exec(piece) || [])[1]) || null;

// The answer's sentence that the marker at pieces[index] follows: the text since the previous marker.
export function claimBefore(parts, index) {
  for (let i = index - 1; i >= 0; i--) {
    if (markerNumber(parts[i])) continue;
    const text = parts[i].replace(/^[\s.,;:!?)\]”’"]+/, "").trim();
    if (text) return text;
  }
  return "";
}

function words(text) {
  return new Set((text.toLowerCase().match(WORD) || []).filter((w) => w.length > 2 && !MINOR.has(w)));
}

// [start, end) offsets of the passage's sentences, relative to the passage.
export function sentenceSpans(text) {
  const spans = [];
  const end = /[.!?…]+["”’)\]]*(?=\s+["“‘(\[]?[\p{Lu}\p{N}])/gu;
  let start = 0;
  let m;
  while ((m = end.exec(text))) {
    spans.push([start, m.index + m[0].length]);
    start = m.index + m[0].length;
    while (start < text.length && /\s/.test(text[start])) start++;
  }
  if (start < text.length) spans.push([start, text.length]);
  return spans;
}

// The passage sentence a claim rests on, as { start, end, text } in article offsets; null if none.
export function supportOf(claim, citation) {
  const text = citation.text || "";
  if (!claim || !text) return null;
  const at = text.indexOf(claim);
  if (at !== -1) return { start: citation.start + at, end: citation.start + at + claim.length, text: claim };
  const wanted = words(claim);
  let best = null;
  let bestShared = MIN_SHARED_WORDS - 1;
  for (const [s, e] of sentenceSpans(text)) {
    const sentence = text.slice(s, e);
    const shared = [...words(sentence)].filter((w) => wanted.has(w)).length;
    if (shared > bestShared) { best = { start: citation.start + s, end: citation.start + e, text: sentence }; bestShared = shared; }
  }
  return best;
}

// Every span of the passage that the answer's sentences citing it rest on.
export function supportSpans(answer, citation) {
  const parts = pieces(answer);
  const spans = [];
  parts.forEach((part, i) => {
    if (markerNumber(part) !== citation.n) return;
    const found = supportOf(claimBefore(parts, i), citation);
    if (found && !spans.some(([s, e]) => s === found.start && e === found.end)) spans.push([found.start, found.end]);
  });
  return spans;
}
