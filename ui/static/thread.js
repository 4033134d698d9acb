// The conversation as the reader sees it. Each turn is built once; while an answer streams, only that
// turn changes, and only by gaining text and chips, so a reader scrolled up or focused on an older
// source keeps their place, and the live region announces what is new rather than the whole chat.
import { $, el, publication, rove } from "./dom.js";
import {
  citationLabel, hidePreview, HIDE_DELAY_MS, placePreview, previewOpen, previewOwner, showPreview, SHOW_DELAY_MS,
} from "./preview.js";
import { claimBefore, markerNumber, pieces } from "./quotes.js";

// Below this confidence an answer says, quietly, that it may not answer the question. In the held-out
// reliability table of the confidence calibration (bench/results/confidence.json), 28 % of the responses
// under 0.3 were right, and half or more of those above 0.4.
export const LOW_CONFIDENCE = 0.3;
const NEAR_BOTTOM_PX = 48; // closer than this to the end, the reader is "at the bottom" and follows

const thread = $("thread");
const jump = $("jump-latest");
const views = new Map(); // turn id → { root, answer, text, rendered }
const refs = new WeakMap(); // chip or source button → { turn, citation, claim }
let actions = {}; // open(ref, button), retry(turn), regenerate(), edit(), copy(turn, button)
let isRemoved = () => false; // article id → deleted since the answer?
let follow = true;

export function initThread(handlers, removedCheck) {
  actions = handlers;
  isRemoved = removedCheck;
}

export const refOf = (button) => refs.get(button);
export const turnView = (turn) => views.get(turn.id);

// ---- building a turn

const sectionName = (c) => (c.section ? c.section.split(" > ").pop() : "Opening");

function turnNode(turn) {
  const text = el("p", { class: "answer-text" });
  const answer = el("div", { class: "turn-answer" }, text);
  const root = el("div", { class: "turn", "data-turn": turn.id },
    el("div", { class: "turn-question" },
      el("p", { class: "question-text" }, turn.question),
      el("button", { type: "button", class: "quiet-button last-only", "data-action": "edit",
        "aria-label": "Edit your last question and send it again" }, "Edit")),
    answer);
  const view = { root, answer, text, rendered: "" };
  views.set(turn.id, view);
  if (turn.pending) {
    answer.setAttribute("aria-busy", "true");
    answer.append(el("span", { class: "typing", role: "img", "aria-label": "Answering…" }, el("span"), el("span"), el("span")));
  }
  appendText(turn, view);
  if (!turn.pending) finish(turn, view);
  return root;
}

// Adds what arrived since the last call: text as text nodes, each [n] naming a citation as a chip. A
// marker still being written ("[1" at the end) waits for the next piece.
function appendText(turn, view) {
  const answer = turn.answer || "";
  if (!answer.startsWith(view.rendered)) { // never while streaming: the stream only appends
    view.text.replaceChildren();
    view.rendered = "";
  }
  const partial = turn.pending ? /\[\d*$/.exec(answer) : null;
  const end = partial ? partial.index : answer.length;
  if (end <= view.rendered.length) return;
  if (answer) view.answer.querySelector(".typing")?.remove();
  const byN = new Map((turn.citations || []).map((c) => [c.n, c]));
  const parts = pieces(answer.slice(0, end));
  let offset = 0;
  parts.forEach((part, i) => {
    const from = offset;
    offset += part.length;
    if (offset <= view.rendered.length) return;
    const citation = byN.get(markerNumber(part));
    if (citation) {
      const first = !view.text.querySelector(".chip");
      const chip = el("button", { type: "button", class: "chip", tabIndex: first ? 0 : -1, "data-article": citation.article_id,
        "data-n": String(citation.n) }, String(citation.n));
      refs.set(chip, { turn, citation, claim: claimBefore(parts, i) });
      markChip(chip);
      view.text.append(chip);
    } else {
      view.text.append(document.createTextNode(part.slice(Math.max(0, view.rendered.length - from))));
    }
  });
  view.rendered = answer.slice(0, end);
}

// Only what differs is touched: text replaced in the live region would be read out again.
function markChip(chip) {
  const { citation } = refs.get(chip);
  const removed = isRemoved(citation.article_id);
  const label = `Source ${citation.n}: ${removed ? "this article was removed" : citationLabel(citation)}`;
  chip.classList.toggle("removed", removed);
  if (chip.getAttribute("aria-label") !== label) chip.setAttribute("aria-label", label);
}

function markCard(card) {
  const { citation } = refs.get(card);
  const removed = isRemoved(citation.article_id);
  const where = card.querySelector(".source-where");
  const text = removed ? "This article was removed" : sectionName(citation);
  card.classList.toggle("removed", removed);
  if (where.textContent !== text) where.textContent = text;
}

function sourceCards(turn, citations) {
  return el("div", { class: "sources", role: "toolbar", "aria-label": "Sources of this answer" },
    citations.map((c, i) => {
      const card = el("button", { type: "button", class: "source-card", tabIndex: i ? -1 : 0, "data-article": c.article_id,
        "data-n": String(c.n), title: [citationLabel(c), publication(c)].filter(Boolean).join("\n") },
        el("span", { class: "source-n" }, String(c.n)),
        el("span", { class: "source-body" },
          el("span", { class: "source-title" }, c.article_title),
          el("span", { class: "source-where" }, sectionName(c)),
          publication(c) ? el("span", { class: "source-pub" }, publication(c)) : null));
      refs.set(card, { turn, citation: c, claim: "" });
      markCard(card);
      return card;
    }));
}

// A refusal lists its closest passages one short line each: they are not support.
function closestLines(turn) {
  return [
    el("p", { class: "sources-label" }, "Closest passages (they do not answer it):"),
    el("div", { class: "closest", role: "toolbar", "aria-orientation": "vertical", "aria-label": "Closest passages" },
      turn.citations.map((c, i) => {
        const line = el("button", { type: "button", class: "closest-line", tabIndex: i ? -1 : 0, "data-article": c.article_id,
          "data-n": String(c.n) },
          el("span", { class: "source-n" }, String(c.n)),
          el("span", { class: "closest-text", title: `${citationLabel(c)}: ${c.text}` },
            el("span", { class: "closest-where" }, `${sectionName(c)}: `), c.text));
        refs.set(line, { turn, citation: c, claim: "" });
        line.classList.toggle("removed", isRemoved(c.article_id));
        return line;
      })),
  ];
}

function finish(turn, view) {
  const { answer, text } = view;
  answer.removeAttribute("aria-busy");
  answer.querySelector(".typing")?.remove();
  appendText(turn, view);
  text.hidden = !turn.answer;
  const refused = turn.answered === false;
  answer.classList.toggle("refusal", refused);
  if (refused && !answer.querySelector(".refusal-label")) answer.prepend(el("p", { class: "refusal-label" }, "Not in the articles"));
  const cited = new Set(pieces(turn.answer).map(markerNumber).filter(Boolean));
  const citations = turn.citations || [];
  const extras = [];
  if (refused && citations.length) extras.push(...closestLines(turn));
  else if (cited.size) extras.push(sourceCards(turn, citations.filter((c) => cited.has(c.n))));
  if (turn.answered && typeof turn.confidence === "number" && turn.confidence < LOW_CONFIDENCE) {
    answer.classList.add("unsure");
    extras.unshift(el("p", { class: "unsure-note" }, "This may not answer your question: check the sources."));
  }
  for (const w of turn.warnings || []) extras.push(el("p", { class: "warning" }, w));
  const problem = turn.error || (turn.stopped && "You stopped this answer.")
    || (turn.broken && "The answer was cut off: the page was reloaded or the connection broke.");
  if (problem) extras.push(el("p", { class: turn.stopped ? "stopped-line" : "error-line" }, problem));
  const buttons = [];
  if (turn.answer && !refused) buttons.push(el("button", { type: "button", class: "quiet-button", "data-action": "copy", "aria-label": "Copy the answer" }, "Copy"));
  if (problem) buttons.push(el("button", { type: "button", class: "small-button", "data-action": "retry" }, "Retry"));
  else buttons.push(el("button", { type: "button", class: "quiet-button last-only", "data-action": "regenerate",
    "aria-label": "Regenerate the answer" }, "Regenerate"));
  extras.push(el("div", { class: "answer-actions" }, buttons));
  answer.querySelector(".answer-extras")?.remove();
  answer.append(el("div", { class: "answer-extras" }, extras));
}

// ---- what the chat calls

export function renderAll(turns) {
  hidePreview();
  views.clear();
  thread.replaceChildren(...turns.map(turnNode));
  follow = true;
  toEnd();
}

export function addTurn(turn) {
  thread.append(turnNode(turn));
  follow = true;
  toEnd();
}

export function removeTurn(turn) {
  views.get(turn.id)?.root.remove();
  views.delete(turn.id);
}

export function streamed(turn) {
  const view = views.get(turn.id);
  if (view) keepPlace(() => appendText(turn, view));
}

export function finished(turn) {
  const view = views.get(turn.id);
  if (view) keepPlace(() => finish(turn, view));
}

export function lastTurnQuestion() {
  return thread.lastElementChild?.querySelector(".turn-question") ?? null;
}

// After an article is deleted (or comes back), its chips and source cards say so.
export function markRemoved() {
  for (const node of thread.querySelectorAll("[data-article]")) {
    if (node.classList.contains("chip")) markChip(node);
    else if (node.classList.contains("source-card")) markCard(node);
    else node.classList.toggle("removed", isRemoved(refs.get(node).citation.article_id));
  }
}

// ---- following the latest answer: only while the reader is at the bottom

function nearBottom() {
  return thread.scrollHeight - thread.scrollTop - thread.clientHeight <= NEAR_BOTTOM_PX;
}

function toEnd() {
  thread.scrollTop = thread.scrollHeight;
  jump.hidden = true;
}

function keepPlace(update) {
  const stick = follow;
  update();
  if (stick) toEnd();
  else if (!nearBottom()) jump.hidden = false;
}

thread.addEventListener("scroll", () => {
  follow = nearBottom();
  if (follow) jump.hidden = true;
}, { passive: true });

jump.addEventListener("click", () => {
  follow = true;
  toEnd();
  $("question").focus({ preventScroll: true });
});

// ---- one set of listeners for every turn

const SOURCE = ".chip, .source-card, .closest-line";

thread.addEventListener("click", (event) => {
  const button = event.target.closest("button");
  if (!button) return;
  const turnId = button.closest(".turn")?.dataset.turn;
  if (button.matches(SOURCE)) {
    const ref = refs.get(button);
    if (isRemoved(ref.citation.article_id)) showPreview(button, ref, true);
    else actions.open(ref, button);
  } else if (button.dataset.action) {
    actions[button.dataset.action]?.(turnId, button);
  }
});

thread.addEventListener("keydown", (event) => {
  const target = event.target;
  if (target.matches(".chip")) {
    if (rove(event, [...target.parentElement.querySelectorAll(".chip")])) previewFocused();
  } else if (target.matches(".source-card, .closest-line")) rove(event, [...target.parentElement.children]);
});

// A chip with the keyboard focus shows its preview (and the arrow keys move it from chip to chip).
function previewFocused() {
  const chip = document.activeElement;
  if (!chip?.matches(".chip") || previewOwner() === chip && previewOpen()) return;
  const ref = refs.get(chip);
  showPreview(chip, ref, isRemoved(ref.citation.article_id));
}
thread.addEventListener("focusin", previewFocused);
thread.addEventListener("focusout", (event) => {
  if (event.target.matches(".chip") && previewOwner() === event.target) hidePreview();
});
// The pointer previews the chip under it, unless the keyboard is on a chip: that one's preview stays.
thread.addEventListener("mouseover", (event) => {
  const chip = event.target.closest?.(".chip");
  if (chip && previewOwner() !== chip && !document.activeElement?.matches(".chip")) {
    const ref = refs.get(chip);
    showPreview(chip, ref, isRemoved(ref.citation.article_id), SHOW_DELAY_MS);
  }
});
thread.addEventListener("mouseout", (event) => {
  const chip = event.target.closest?.(".chip");
  if (chip && previewOwner() === chip && !chip.contains(event.relatedTarget) && document.activeElement !== chip) {
    hidePreview(HIDE_DELAY_MS);
  }
});
// The preview follows its chip as the thread scrolls, and goes when the chip leaves the thread's view.
thread.addEventListener("scroll", () => {
  const chip = previewOwner();
  if (!previewOpen() || !chip) return;
  const [c, t] = [chip.getBoundingClientRect(), thread.getBoundingClientRect()];
  if (c.bottom < t.top || c.top > t.bottom) hidePreview(); else placePreview();
}, { passive: true });
