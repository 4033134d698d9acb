// The article reader. On a wide screen it opens beside the chat (the answer stays in view while its
// sources are read); on a narrow one it is a sheet over the chat, closed by Escape, its Close button or
// a tap on the backdrop. Opened from a citation, it marks the passage, marks the sentence the answer
// rests on more strongly, and steps through the answer's other sources with Previous and Next.
import { $, el, formatDate, isWebURL } from "./dom.js";
import { getJSON } from "./api.js";
import { supportOf, supportSpans } from "./quotes.js";

const dialog = $("reader");
const layout = $("layout");
const wide = matchMedia("(min-width: 761px)");
const cache = new Map(); // article id → GET /articles/{id}, until the list of articles changes
let state = null; // { citations, index, answer, claim, opener } or { article, opener }
let onMissing = () => {};
let showing = 0; // the latest request: a slower earlier one must not overwrite it

export function initReader(missing) { onMissing = missing; }
export function forgetArticles() { cache.clear(); }
export const readerOpen = () => dialog.open;

// A citation of an answer: `citations` are the answer's sources, `index` the one to show.
export function openCitation({ citations, index, answer, claim }, opener) {
  state = { citations, index, answer, claim, opener };
  show();
}

export function openArticle(id, title, opener) {
  state = { article: { id, title }, opener };
  show();
}

export function closeReader() {
  if (!dialog.open) return;
  dialog.close();
  closed(); // now: the "close" event comes later, after what the reader may have done meanwhile
}

// Back to the chat: the focus goes back where the reader came from.
function closed() {
  if (dialog.open || !state) return; // reopened in the other form, or done already
  layout.classList.remove("reading");
  markCurrent(null);
  const opener = state.opener;
  state = null;
  if (opener?.isConnected && opener.offsetParent !== null) opener.focus();
  else $("question").focus();
}

async function load(id) {
  if (!cache.has(id)) cache.set(id, getJSON(`/articles/${encodeURIComponent(id)}`));
  try {
    return await cache.get(id);
  } catch (err) {
    cache.delete(id);
    throw err;
  }
}

async function show() {
  const request = ++showing;
  const shown = state;
  const citation = shown.citations?.[shown.index];
  const id = citation ? citation.article_id : shown.article.id;
  const title = citation ? citation.article_title : shown.article.title;
  $("reader-title").textContent = title;
  $("reader-section").textContent = citation?.section || "";
  const nav = $("reader-nav");
  nav.hidden = !citation || shown.citations.length < 2;
  if (citation) {
    const of = `${shown.index + 1} of ${shown.citations.length}`;
    $("reader-position").textContent = citation.n === shown.index + 1 ? `Source ${of}` : `Source ${of} (cited as [${citation.n}])`;
    $("reader-prev").disabled = shown.index === 0;
    $("reader-next").disabled = shown.index === shown.citations.length - 1;
  }
  markCurrent(citation);
  note(null);
  showMeta(null);
  const text = $("reader-text");
  text.replaceChildren(el("p", { class: "hint" }, "Loading the article…"));
  open();
  let article;
  try {
    article = await load(id);
  } catch (err) {
    if (request !== showing || state !== shown) return; // another source asked for meanwhile, or closed
    if (err.status === 404) {
      onMissing(id);
      text.replaceChildren(el("p", { class: "form-error" }, "This article was removed: it is no longer indexed."));
    } else {
      text.replaceChildren(el("p", { class: "form-error" }, `Could not open “${title}”: ${err.message}`),
        el("button", { type: "button", onclick: () => show() }, "Try again"));
    }
    return;
  }
  if (request !== showing || state !== shown) return;
  $("reader-title").textContent = article.title;
  showMeta(article);
  const marks = citation ? citationMarks(article, citation, shown) : [];
  text.replaceChildren(...articleBlocks(article, marks));
  const target = text.querySelector("mark.quote") || text.querySelector("mark");
  if (target) target.scrollIntoView({ block: "center" });
  else text.scrollTop = 0;
}

// The passage, and the sentences the answer rests on, in this version of the article. An article
// replaced since the answer may have moved the passage (found again by its text) or lost it.
function citationMarks(article, citation, shown) {
  let shift = 0;
  if (article.text.slice(citation.start, citation.end) !== citation.text) {
    const at = article.text.indexOf(citation.text);
    if (at === -1) {
      note("This article has changed since the answer: the cited passage is no longer in it.");
      return [];
    }
    shift = at - citation.start;
  }
  const marks = [{ start: citation.start + shift, end: citation.end + shift, cls: "passage" }];
  const spans = shown.claim ? [supportOf(shown.claim, citation)].filter(Boolean).map((s) => [s.start, s.end])
    : supportSpans(shown.answer || "", citation);
  for (const [start, end] of spans) marks.push({ start: start + shift, end: end + shift, cls: "quote" });
  return marks;
}

// The chips and the source card of the source shown, in the answer it belongs to.
function markCurrent(citation) {
  for (const node of document.querySelectorAll("#thread .current")) node.classList.remove("current");
  const turn = citation && state?.opener?.closest(".turn");
  if (turn) for (const node of turn.querySelectorAll(`[data-n="${citation.n}"]`)) node.classList.add("current");
}

// Where and when it was published, by whom, and a link to the page it came from (in a new tab), for
// what is known of them: nothing for pasted text.
function showMeta(article) {
  const p = $("reader-meta");
  const facts = article ? [article.source, article.author && `by ${article.author}`, formatDate(article.published)].filter(Boolean) : [];
  const link = article && isWebURL(article.url) ? el("a", { href: article.url, target: "_blank", rel: "noopener noreferrer" },
    "Open the original", el("span", { class: "visually-hidden" }, " (opens in a new tab)")) : null;
  p.replaceChildren(...(facts.length ? [facts.join(" · ")] : []), ...(link ? [facts.length ? " · " : "", link] : []));
  p.hidden = !facts.length && !link;
}

function note(message) {
  const p = $("reader-note");
  p.hidden = !message;
  p.textContent = message || "";
}

// The stored text is blocks joined by blank lines; the API says which blocks are headings, and how deep.
function articleBlocks(article, marks) {
  const levels = new Map((article.headings || []).map((h) => [h.start, h.level]));
  const blocks = [];
  let offset = 0;
  for (const block of article.text.split("\n\n")) {
    const level = levels.get(offset);
    const node = el(level ? `h${Math.min(level + 2, 6)}` : "p"); // h2 is the article's title
    appendMarked(node, article.text, offset, offset + block.length, marks);
    blocks.push(node);
    offset += block.length + 2;
  }
  return blocks;
}

function appendMarked(node, text, start, end, marks) {
  const cuts = new Set([start, end]);
  for (const m of marks) for (const x of [m.start, m.end]) if (x > start && x < end) cuts.add(x);
  const points = [...cuts].sort((a, b) => a - b);
  for (let i = 0; i + 1 < points.length; i++) {
    const [a, b] = [points[i], points[i + 1]];
    const covering = marks.filter((m) => m.start <= a && b <= m.end);
    const cls = covering.some((m) => m.cls === "quote") ? "quote" : covering.length ? "passage" : null;
    const piece = text.slice(a, b);
    node.append(cls ? el("mark", { class: cls }, piece) : document.createTextNode(piece));
  }
}

function open() {
  if (dialog.open) return;
  layout.classList.toggle("reading", wide.matches);
  if (wide.matches) dialog.show(); else dialog.showModal();
  $("reader-title").focus();
}

function step(by) {
  state.index += by;
  state.claim = "";
  show();
}

$("reader-prev").addEventListener("click", () => step(-1));
$("reader-next").addEventListener("click", () => step(1));
$("reader-close").addEventListener("click", closeReader);
// A window resized across the breakpoint with the reader open: it reopens in the other form.
wide.addEventListener("change", () => {
  if (!dialog.open) return;
  dialog.close();
  open();
});
dialog.addEventListener("close", closed); // Escape on the sheet, which the browser closes itself
// A click on the backdrop of the sheet (outside its content) closes it.
dialog.addEventListener("click", (event) => { if (event.target === dialog) closeReader(); });
