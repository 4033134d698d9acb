// The conversation: asking (streamed), stopping, a question queued while an answer streams, retrying,
// regenerating, editing the last question, copying an answer. It is kept in localStorage as it
// streams, so a reload mid-answer keeps the question, marked as cut off, with Retry.
import { $, el, loadJSON, newId, saveJSON } from "./dom.js";
import { api, apiError, failure } from "./api.js";
import { searchedArticles } from "./articles.js";
import { citationLabel } from "./preview.js";
import * as thread from "./thread.js";

const STORAGE_KEY = "articlechat.chat.v1";
const MAX_HISTORY_TURNS = 10; // user+assistant pairs sent as history (the API takes 20 entries)
const COPIED_MS = 2000;

const box = $("question");
let turns = loadJSON(STORAGE_KEY, []);
let controller = null; // the answer streaming now
let queued = null; // a question sent while an answer streams: asked when it ends
let editing = false; // Send replaces the last turn
let onTurnsChange = () => {};

for (const t of turns) {
  t.id ??= newId(); // saved before turns had ids
  if (t.pending) { t.pending = false; t.broken = true; } // interrupted by a reload
}

export function initChat(onChange) {
  onTurnsChange = onChange;
  thread.renderAll(turns);
}

export const hasTurns = () => turns.length > 0;
export const busy = () => controller !== null;

function save() {
  saveJSON(STORAGE_KEY, turns);
}

function history() {
  return turns.filter((t) => t.answer && !t.error && !t.pending).slice(-MAX_HISTORY_TURNS)
    .flatMap((t) => [{ role: "user", content: t.question }, { role: "assistant", content: t.answer }]);
}

export function showAskError(message) {
  const p = $("ask-error");
  p.hidden = !message;
  p.textContent = message || "";
}

function announce(message) {
  $("ask-status").textContent = message;
}

// The line above the question box: a queued question, or the last question being edited.
function composeNote() {
  const note = $("compose-note");
  if (queued) {
    note.replaceChildren(el("span", {}, `Queued: “${queued}”. It is sent when this answer ends.`), " ",
      el("button", { type: "button", class: "quiet-button", onclick: () => { box.value ||= queued; queued = null; composeNote(); box.focus(); } }, "Cancel"));
  } else if (editing) {
    note.replaceChildren(el("span", {}, "Editing your last question: Send replaces it and its answer."), " ",
      el("button", { type: "button", class: "quiet-button", onclick: cancelEdit }, "Cancel"));
  }
  note.hidden = !queued && !editing;
  document.querySelector(".turn:last-child .turn-question")?.classList.toggle("editing", editing);
}

function setBusy(value) {
  document.body.classList.toggle("busy", value);
  $("ask-form").setAttribute("aria-busy", String(value));
  $("send").disabled = value;
  $("stop").hidden = !value;
  if (!value && document.activeElement === document.body) box.focus();
}

export async function ask(text) {
  const question = text.trim();
  if (!question) return;
  if (busy()) {
    if (queued) {
      showAskError("A question is already queued: wait for it, or cancel it to ask this one.");
      return;
    }
    queued = question;
    box.value = "";
    showAskError(null);
    composeNote();
    announce("Your question is queued: it is sent when this answer ends.");
    return;
  }
  const articleIds = searchedArticles();
  if (articleIds && articleIds.length === 0) {
    showAskError("No article is checked: check at least one in the Articles panel.");
    return;
  }
  showAskError(null);
  if (editing) {
    editing = false;
    const last = turns.pop();
    if (last) thread.removeTurn(last);
  }
  const body = { question, history: history() };
  if (articleIds) body.article_ids = articleIds;
  const turn = { id: newId(), question, answer: "", citations: [], pending: true };
  turns.push(turn);
  save();
  thread.addTurn(turn);
  onTurnsChange();
  box.value = "";
  composeNote();
  controller = new AbortController();
  setBusy(true);
  // Focus on a control that is now disabled, hidden or gone goes to the question box; anywhere else
  // (an older source, the article beside the chat) it stays.
  const active = document.activeElement;
  if (!active || active === document.body || active === $("send") || active.closest("#starters")) box.focus();
  try {
    const response = await api("/ask/stream", { method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify(body), signal: controller.signal });
    if (!response.ok) throw new Error(await apiError(response));
    await readStream(response, turn, controller.signal);
  } catch (err) {
    if (err.name === "AbortError") turn.stopped = true;
    else {
      turn.error = failure(err);
      if (!turn.answer && !box.value && !queued) box.value = question; // kept, to send again
    }
  } finally {
    turn.pending = false;
    controller = null;
    save();
    setBusy(false); // first: it shows the last turn's Edit and Regenerate, which the thread then scrolls to
    thread.finished(turn);
    if (queued) {
      const next = queued;
      queued = null;
      ask(next);
    }
  }
}

async function readStream(response, turn, signal) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let done = false;
  while (true) {
    let chunk;
    try {
      chunk = await reader.read();
    } catch (err) {
      if (signal.aborted) throw err;
      break; // the connection broke
    }
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
      else if (event === "delta") { turn.answer += payload.text; save(); thread.streamed(turn); }
      else if (event === "done") { Object.assign(turn, payload); done = true; }
      else if (event === "error") throw new Error(payload.error);
    }
  }
  if (!done) turn.broken = true;
}

export function stop() {
  controller?.abort();
  box.focus();
}

function removeTurn(turn) {
  turns.splice(turns.indexOf(turn), 1);
  thread.removeTurn(turn);
  save();
}

const turnById = (id) => turns.find((t) => t.id === id);

// A failed, stopped or cut-off answer is asked again, at the end of the conversation.
export function retry(id) {
  const turn = turnById(id);
  if (!turn || busy()) return;
  removeTurn(turn);
  ask(turn.question);
}

export function regenerate() {
  const last = turns.at(-1);
  if (last && !busy()) retry(last.id);
}

export function startEdit() {
  const last = turns.at(-1);
  if (!last || busy()) return;
  editing = true;
  box.value = last.question;
  composeNote();
  box.focus();
  box.setSelectionRange(box.value.length, box.value.length);
}

export function cancelEdit() {
  if (!editing) return false;
  editing = false;
  box.value = "";
  composeNote();
  box.focus();
  return true;
}

// The answer with its [n] markers, then the sources they name: pasted elsewhere, it still says where
// each claim comes from.
export async function copy(id, button) {
  const turn = turnById(id);
  if (!turn) return;
  const cited = new Set((turn.answer.match(/\[(\d+)\]/g) || []).map((m) => Number(m.slice(1, -1))));
  const sources = (turn.citations || []).filter((c) => cited.has(c.n)).map((c) => `[${c.n}] ${citationLabel(c)}`);
  const text = sources.length ? `${turn.answer}\n\nSources:\n${sources.join("\n")}` : turn.answer;
  let copied = false;
  try {
    await navigator.clipboard.writeText(text);
    copied = true;
  } catch {
    copied = copyBySelection(text); // no clipboard API outside a secure context (http:// on a LAN address)
  }
  button.textContent = copied ? "Copied" : "Copy failed";
  announce(copied ? "The answer is copied." : "The answer could not be copied: select it and copy it instead.");
  setTimeout(() => { if (button.isConnected) button.textContent = "Copy"; }, COPIED_MS);
}

function copyBySelection(text) {
  const area = el("textarea", { class: "visually-hidden", "aria-hidden": "true", tabIndex: -1 }, text);
  area.value = text;
  document.body.append(area);
  area.select();
  let ok = false;
  try { ok = document.execCommand("copy"); } catch { ok = false; }
  area.remove();
  return ok;
}

export function newChat() {
  controller?.abort();
  queued = null;
  editing = false;
  turns = [];
  save();
  thread.renderAll(turns);
  composeNote();
  showAskError(null);
  onTurnsChange();
  box.focus();
}
