// articlechat web UI: plain JavaScript modules, no build step, nothing from a CDN. This module wires
// the parts together: the chat (chat.js, thread.js), the article reader (reader.js), the Articles
// panel (articles.js) and the suggested questions (starters.js).
import { $ } from "./dom.js";
import * as chat from "./chat.js";
import { initThread, markRemoved } from "./thread.js";
import { closeReader, forgetArticles, initReader, openCitation, readerOpen } from "./reader.js";
import { checkedArticles, initArticles, isRemoved, listError, listLoaded, loadArticles, missing } from "./articles.js";
import { loadStarters } from "./starters.js";
import { hidePreview, previewOpen } from "./preview.js";
import { markerNumber, pieces } from "./quotes.js";

const box = $("question");
const panel = $("articles-panel");
const toggle = $("toggle-articles");

function refreshStarters() {
  loadStarters({ articles: checkedArticles(), listed: listLoaded(), error: listError(), hidden: chat.hasTurns() });
}

// The sources the reader steps through: those the answer cites, or a refusal's closest passages.
function openSource(ref, button) {
  const { turn, citation, claim } = ref;
  const cited = new Set(pieces(turn.answer).map(markerNumber).filter(Boolean));
  const citations = turn.answered === false ? turn.citations : turn.citations.filter((c) => cited.has(c.n));
  const index = Math.max(0, citations.findIndex((c) => c.n === citation.n));
  hidePreview();
  openCitation({ citations: citations.length ? citations : [citation], index, answer: turn.answered === false ? "" : turn.answer, claim }, button);
}

initThread({
  open: openSource,
  retry: (id) => chat.retry(id),
  regenerate: () => chat.regenerate(),
  edit: () => chat.startEdit(),
  copy: (id, button) => chat.copy(id, button),
}, isRemoved);
initReader(missing);
initArticles(() => { forgetArticles(); markRemoved(); refreshStarters(); });
chat.initChat(refreshStarters);

$("ask-form").addEventListener("submit", (event) => { event.preventDefault(); chat.ask(box.value); });
box.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); chat.ask(box.value); }
});
$("stop").addEventListener("click", chat.stop);
$("new-chat").addEventListener("click", chat.newChat);
$("starters").addEventListener("click", (event) => {
  const question = event.target.closest("[data-question]")?.dataset.question;
  if (question) chat.ask(question);
});
$("skip-link").addEventListener("click", (event) => { event.preventDefault(); box.focus(); });

function setPanel(open) {
  panel.classList.toggle("open", open);
  toggle.setAttribute("aria-expanded", String(open));
  toggle.textContent = open ? "Chat" : "Articles"; // short: the header holds it on a 320 px phone
  if (open) $("articles-heading").focus();
}
toggle.addEventListener("click", () => setPanel(!panel.classList.contains("open")));

// Escape closes what is on top: a chip's preview, the article reader, the Articles panel (on a phone),
// then an edit of the last question.
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape" || event.defaultPrevented || document.querySelector("#key-dialog[open]")) return;
  if (previewOpen()) hidePreview();
  else if (readerOpen()) closeReader();
  else if (panel.classList.contains("open")) { setPanel(false); toggle.focus(); }
  else if (!chat.cancelEdit()) return;
  event.preventDefault();
});

refreshStarters();
loadArticles();
box.focus();
