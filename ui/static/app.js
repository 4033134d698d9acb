// articlechat web UI: plain JavaScript, no build step. Every piece of article or answer text is
// inserted with textContent, never as HTML, so an article containing markup renders inert.
"use strict";

const STORAGE_KEY = "articlechat.chat.v1";
const SELECTION_KEY = "articlechat.selection.v1";
const MAX_HISTORY_TURNS = 10; // user+assistant pairs sent as history (the API takes 20 entries)

const $ = (id) => document.getElementById(id);
const thread = $("thread");
const questionBox = $("question");

let turns = loadJSON(STORAGE_KEY, []);
let articles = [];
let excluded = new Set(loadJSON(SELECTION_KEY, [])); // unchecked article ids
let busy = false;

function loadJSON(key, fallback) {
  try { return JSON.parse(localStorage.getItem(key)) ?? fallback; } catch { return fallback; }
}
function save() {
  // A turn still streaming is saved as it stands; on reload it shows as interrupted.
  localStorage.setItem(STORAGE_KEY, JSON.stringify(turns));
  localStorage.setItem(SELECTION_KEY, JSON.stringify([...excluded]));
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key in node && key !== "role") node[key] = value;
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child != null) node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

async function apiError(response) {
  try {
    const body = await response.json();
    if (body && body.error) return body.error;
  } catch { /* not JSON */ }
  return `The server answered ${response.status} ${response.statusText}.`;
}

// ---- API key -----------------------------------------------------------------------------------
// A server started with ARTICLECHAT_API_KEY answers 401 to a request without the key: the reader is asked
// for it once, it is kept for this tab (sessionStorage) and sent with every request from then on.

const KEY_STORAGE = "articlechat.apikey";
let keyQuestion = null; // the open key dialog, shared by the requests refused meanwhile

function withKey(options) {
  const key = sessionStorage.getItem(KEY_STORAGE);
  if (!key) return options;
  const headers = new Headers(options.headers);
  headers.set("Authorization", `Bearer ${key}`);
  return { ...options, headers };
}

// fetch() for the API: with the key once there is one; a 401 asks for it, then the request is sent again.
async function api(url, options = {}) {
  const sent = sessionStorage.getItem(KEY_STORAGE);
  const response = await fetch(url, withKey(options));
  if (response.status !== 401) return response;
  if (sessionStorage.getItem(KEY_STORAGE) === sent) { // no other request got a key meanwhile
    const key = await askForKey(sent ? "The server did not accept the key: check it and enter it again."
      : "This server asks for its API key (ARTICLECHAT_API_KEY, set by whoever runs it).");
    if (!key) return response; // cancelled: the caller shows the server's message
    sessionStorage.setItem(KEY_STORAGE, key);
  }
  const retried = await fetch(url, withKey(options));
  if (retried.status === 401) sessionStorage.removeItem(KEY_STORAGE); // a wrong key: asked again next time
  return retried;
}

function askForKey(reason) {
  keyQuestion ??= new Promise((resolve) => {
    const dialog = $("key-dialog");
    $("key-dialog-reason").textContent = reason;
    $("api-key").value = "";
    dialog.returnValue = "";
    dialog.addEventListener("close", () => {
      keyQuestion = null;
      resolve(dialog.returnValue === "ok" ? $("api-key").value.trim() : "");
    }, { once: true });
    dialog.showModal();
  });
  return keyQuestion;
}

$("key-cancel").addEventListener("click", () => $("key-dialog").close("cancel"));

// ---- thread ------------------------------------------------------------------------------------

function citationLabel(c) {
  return c.section ? `${c.article_title} — ${c.section}` : c.article_title;
}

function answerText(turn) {
  const p = el("p", { class: "answer-text" });
  const byN = new Map((turn.citations || []).map((c) => [c.n, c]));
  for (const part of (turn.answer || "").split(/(\[\d+\])/)) {
    const m = part.match(/^\[(\d+)\]$/);
    const c = m && byN.get(Number(m[1]));
    if (c) {
      p.append(el("button", { type: "button", class: "chip", "aria-label": `Source ${c.n}: ${citationLabel(c)}`,
        title: citationLabel(c), onclick: () => openArticle(c, turn.answer) }, String(c.n)));
    } else if (part) {
      p.append(document.createTextNode(part));
    }
  }
  return p;
}

function renderTurn(turn, index) {
  const items = [el("div", { class: "turn-question" }, turn.question)];
  const refused = turn.answered === false;
  const answer = el("div", { class: "turn-answer" + (refused ? " refusal" : ""), "data-turn": String(index) });
  if (refused) answer.append(el("p", { class: "refusal-label" }, "Not in the articles"));
  if (turn.answer) answer.append(answerText(turn));
  else if (turn.pending) answer.append(el("span", { class: "typing", "aria-label": "Answering…" }, el("span"), el("span"), el("span")));
  if (turn.citations && turn.citations.length && !turn.pending) {
    answer.append(el("p", { class: "sources-label" }, refused ? "Closest passages (they do not answer it):" : "Sources:"));
    answer.append(el("ul", { class: "sources" }, turn.citations.map((c) => el("li", {},
      el("button", { type: "button", class: "source", onclick: () => openArticle(c, turn.answered === false ? "" : turn.answer) },
        el("span", { class: "source-head" }, `[${c.n}] ${citationLabel(c)}`),
        el("span", { class: "source-text" }, c.text))))));
  }
  for (const w of turn.warnings || []) answer.append(el("p", { class: "warning" }, w));
  if (turn.broken) answer.append(el("p", { class: "error-line" }, "The answer was cut off: the connection broke. Ask again to retry."));
  if (turn.error) {
    answer.append(el("p", { class: "error-line" }, turn.error));
    answer.append(el("button", { type: "button", onclick: () => retry(index) }, "Retry"));
  }
  items.push(answer);
  return items;
}

function render() {
  thread.replaceChildren(...turns.flatMap(renderTurn));
  $("starters").hidden = turns.length > 0;
  thread.scrollTop = thread.scrollHeight;
}

function history() {
  return turns.filter((t) => t.answer && !t.error && !t.pending).slice(-MAX_HISTORY_TURNS)
    .flatMap((t) => [{ role: "user", content: t.question }, { role: "assistant", content: t.answer }]);
}

function searchedArticles() {
  const ids = articles.map((a) => a.id).filter((id) => !excluded.has(id));
  return ids.length === articles.length ? null : ids;
}

async function ask(question) {
  question = question.trim();
  if (!question || busy) return;
  const articleIds = searchedArticles();
  if (articleIds && articleIds.length === 0) {
    showAskError("No article is checked: check at least one in the Articles panel.");
    return;
  }
  showAskError(null);
  const body = { question, history: history() };
  if (articleIds) body.article_ids = articleIds;
  const turn = { question, answer: "", citations: [], pending: true };
  turns.push(turn);
  busy = true;
  render();
  questionBox.value = "";
  try {
    const response = await api("/ask/stream", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    if (!response.ok) throw new Error(await apiError(response));
    await readStream(response, turn);
  } catch (err) {
    turn.error = err instanceof TypeError ? "Could not reach the server. Check that it is running, then retry." : err.message;
    questionBox.value = question; // keep the question so it can be sent again
  } finally {
    turn.pending = false;
    busy = false;
    save();
    render();
    questionBox.focus();
  }
}

async function readStream(response, turn) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let done = false;
  while (true) {
    let chunk;
    try { chunk = await reader.read(); } catch { break; }
    if (chunk.done) break;
    buffer += decoder.decode(chunk.value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) !== -1) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (!event || data == null) continue;
      const payload = JSON.parse(data);
      if (event === "citations") turn.citations = payload.citations;
      else if (event === "delta") { turn.answer += payload.text; render(); }
      else if (event === "done") { Object.assign(turn, payload); done = true; }
      else if (event === "error") throw new Error(payload.error);
    }
  }
  if (!done) turn.broken = true;
}

function retry(index) {
  const [turn] = turns.splice(index, 1);
  save();
  ask(turn.question);
}

function showAskError(message) {
  const p = $("ask-error");
  p.hidden = !message;
  p.textContent = message || "";
}

// ---- article view ------------------------------------------------------------------------------

async function openArticle(citation, answer = "") {
  const dialog = $("article-view");
  const response = await api(`/articles/${encodeURIComponent(citation.article_id)}`);
  if (!response.ok) {
    showAskError(`Could not open “${citation.article_title}”: ${await apiError(response)}`);
    return;
  }
  const article = await response.json();
  $("article-view-title").textContent = article.title;
  $("article-view-section").textContent = citation.section || "";
  const marks = [];
  if (citation.end > citation.start) {
    marks.push({ start: citation.start, end: citation.end, cls: "passage" });
    for (const [start, end] of quotedSpans(answer, citation)) marks.push({ start, end, cls: "quote" });
  }
  const text = $("article-view-text");
  text.replaceChildren(...articleBlocks(article, marks));
  if (!dialog.open) dialog.showModal();
  const target = text.querySelector("mark.quote") || text.querySelector("mark");
  if (target) target.scrollIntoView({ block: "center" });
  else text.scrollTop = 0;
}

// Where the answer quotes passage n verbatim (extractive answers do; LLM prose does not), those
// sentences are marked more strongly than the rest of the passage.
function quotedSpans(answer, citation) {
  const spans = [];
  let sentence = "";
  for (const part of answer.split(/(\[\d+\])/)) {
    const m = part.match(/^\[(\d+)\]$/);
    if (!m) { if (part.trim()) sentence = part.trim(); continue; }
    const at = sentence && Number(m[1]) === citation.n ? citation.text.indexOf(sentence) : -1;
    if (at !== -1) spans.push([citation.start + at, citation.start + at + sentence.length]);
  }
  return spans;
}

// The stored text is blocks joined by blank lines; the sections say which blocks are headings.
function articleBlocks(article, marks) {
  const level = new Map(); // block offset -> heading depth
  for (const s of article.sections) {
    const depth = s.path.length;
    if (!depth) continue;
    level.set(s.heading_start, depth);
    if (depth > 1) { // the part heading directly above a section heading
      const part = s.path[depth - 2];
      const at = s.heading_start - 2 - part.length;
      if (article.text.slice(at, s.heading_start - 2) === part) level.set(at, depth - 1);
    }
  }
  const blocks = [];
  let offset = 0;
  for (const block of article.text.split("\n\n")) {
    const depth = level.get(offset);
    const node = el(depth ? `h${Math.min(depth + 2, 6)}` : "p");
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

$("article-view-close").addEventListener("click", () => $("article-view").close());

// ---- articles panel ----------------------------------------------------------------------------

async function loadArticles() {
  const response = await api("/articles");
  if (!response.ok) { showArticlesError(await apiError(response)); return; }
  articles = await response.json();
  const list = $("article-list");
  list.replaceChildren(...articles.map((a) => {
    const box = el("input", { type: "checkbox", checked: !excluded.has(a.id), id: `use-${a.id}`,
      onchange: (e) => { e.target.checked ? excluded.delete(a.id) : excluded.add(a.id); save(); } });
    const when = new Date(a.ingested_at).toLocaleString();
    return el("li", { class: "article-item", "data-article": a.id },
      box,
      el("div", {},
        el("label", { for: `use-${a.id}`, class: "visually-hidden" }, `Search ${a.title}`),
        el("button", { type: "button", class: "article-open", onclick: () => openArticle({ article_id: a.id, article_title: a.title, start: 0, end: 0 }) }, a.title),
        el("span", { class: "article-meta" }, `${a.sections} sections · indexed ${when}`)),
      el("button", { type: "button", "aria-label": `Delete ${a.title}`, onclick: () => deleteArticle(a) }, "Delete"));
  }));
  if (!turns.length) loadStarters();
}

function showArticlesError(message) {
  const p = $("articles-error");
  p.hidden = !message;
  p.textContent = message || "";
}

async function deleteArticle(article) {
  if (!confirm(`Delete “${article.title}” and all its passages?`)) return;
  const response = await api(`/articles/${encodeURIComponent(article.id)}`, { method: "DELETE" });
  if (!response.ok && response.status !== 404) { showArticlesError(await apiError(response)); return; }
  showArticlesError(null);
  excluded.delete(article.id);
  save();
  await loadArticles();
}

$("add-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const title = $("add-title").value.trim();
  const text = $("add-text").value;
  const file = $("add-file").files[0];
  const errorLine = $("add-error");
  const status = $("add-status");
  errorLine.hidden = true;
  // A file goes to the multipart upload endpoint, pasted text to the JSON one.
  let url, request;
  if (file) {
    const form = new FormData();
    form.append("file", file);
    if (title) form.append("title", title);
    url = "/articles/upload";
    request = { method: "POST", body: form };
  } else if (text.trim()) {
    url = "/articles";
    request = { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(title ? { text, title } : { text }) };
  } else {
    errorLine.textContent = "Paste the article's text or choose a file first.";
    errorLine.hidden = false;
    return;
  }
  $("add-submit").disabled = true;
  status.textContent = "Indexing…";
  try {
    const response = await api(url, request);
    if (!response.ok) throw new Error(await apiError(response));
    const added = await response.json();
    status.textContent = added.status === "unchanged"
      ? `“${added.title}” was already indexed as it is.`
      : `Indexed “${added.title}”: ${added.sections} sections, ${added.chunks} passages.`;
    $("add-form").reset();
    await loadArticles();
  } catch (err) {
    status.textContent = "";
    errorLine.textContent = err instanceof TypeError ? "Could not reach the server." : err.message;
    errorLine.hidden = false;
  } finally {
    $("add-submit").disabled = false;
  }
});

// ---- starters ----------------------------------------------------------------------------------

async function loadStarters() {
  // Suggested questions come from the indexed articles' section headings, never a fixed list:
  // four sections spread through a lone article, or two from each of the first articles.
  const box = $("starters");
  const perArticle = articles.length === 1 ? 4 : 2;
  const questions = [];
  for (const a of articles.slice(0, 3)) {
    const response = await api(`/articles/${encodeURIComponent(a.id)}`);
    if (!response.ok) continue;
    const headed = (await response.json()).sections.filter((s) => s.path.length);
    const step = Math.max(1, Math.floor(headed.length / perArticle));
    const about = articles.length === 1 ? "the article" : `“${a.title}”`;
    for (let i = 0; i < headed.length && i < step * perArticle; i += step) {
      questions.push(`What does ${about} say about “${headed[i].path[headed[i].path.length - 1]}”?`);
    }
  }
  const intro = articles.length
    ? "Ask about the indexed articles: answers quote them and cite the passages they come from. For example:"
    : "No article is indexed yet: add one in the Articles panel.";
  box.replaceChildren(el("p", { class: "starters-intro" }, intro),
    ...questions.slice(0, 4).map((q) => el("button", { type: "button", class: "starter", onclick: () => ask(q) }, q)));
}

// ---- wiring ------------------------------------------------------------------------------------

$("ask-form").addEventListener("submit", (event) => { event.preventDefault(); ask(questionBox.value); });
questionBox.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); ask(questionBox.value); }
});
$("new-chat").addEventListener("click", () => { turns = []; save(); render(); loadStarters(); questionBox.focus(); });
$("toggle-articles").addEventListener("click", (event) => {
  const open = $("articles-panel").classList.toggle("open");
  event.currentTarget.setAttribute("aria-expanded", String(open));
  event.currentTarget.textContent = open ? "Back to chat" : "Articles";
});

for (const t of turns) if (t.pending) { t.pending = false; t.broken = true; } // interrupted by a reload
render();
loadArticles();
questionBox.focus();
