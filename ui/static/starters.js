// Suggested questions, from the checked articles themselves: their section headings, and the names
// they mention most (so an article without headings gets suggestions too). One small request per
// article (GET /articles/{id}/outline), for at most MAX_ARTICLES of them, the most recently added first.
import { $, el } from "./dom.js";
import { getJSON } from "./api.js";

const MAX_QUESTIONS = 4;
const MAX_ARTICLES = 4;
let loading = 0;
const outlines = new Map(); // `${id}@${ingested_at}` → GET /articles/{id}/outline

function outlineOf(article) {
  const key = `${article.id}@${article.ingested_at}`;
  if (!outlines.has(key)) {
    const request = getJSON(`/articles/${encodeURIComponent(article.id)}/outline`);
    outlines.set(key, request);
    request.catch(() => outlines.delete(key)); // asked again next time
  }
  return outlines.get(key);
}

function headingQuestions(outline, about, count) {
  // The deepest headings are the sections (a part heading only groups them); spread through the article.
  const depth = Math.max(0, ...outline.headings.map((h) => h.level));
  const sections = outline.headings.filter((h) => h.level === depth);
  const step = Math.max(1, Math.floor(sections.length / count));
  const picked = [];
  for (let i = 0; i < sections.length && picked.length < count; i += step) picked.push(sections[i].title);
  return picked.map((title) => `What does ${about} say about “${title}”?`);
}

function nameQuestions(outline, about, count) {
  return outline.names.slice(0, count).map((name) => `What does ${about} say about ${name}?`);
}

// Questions for one article: headings first, a name too when there is room; names alone without headings.
function questionsFor(outline, about, count) {
  if (!outline.headings.length) {
    const named = nameQuestions(outline, about, count);
    return named.length ? named : [`What is ${about} about?`];
  }
  const byName = count > 1 && outline.names.length ? 1 : 0;
  return [...headingQuestions(outline, about, count - byName), ...nameQuestions(outline, about, byName)];
}

export async function loadStarters({ articles, listed, error, hidden }) {
  const box = $("starters");
  box.hidden = hidden;
  const request = ++loading;
  if (hidden) return;
  const intro = (text) => el("p", { class: "starters-intro" }, text);
  if (!listed) {
    box.replaceChildren(intro(error ? "The articles could not be listed, so there are no suggestions: see the Articles panel."
      : "Loading the articles…"));
    return;
  }
  if (!articles.length) {
    box.replaceChildren(intro("No article is checked or indexed yet: add or check one in the Articles panel."));
    return;
  }
  const recent = [...articles].sort((a, b) => b.ingested_at.localeCompare(a.ingested_at)).slice(0, MAX_ARTICLES);
  const results = await Promise.allSettled(recent.map(outlineOf));
  if (request !== loading) return; // a newer call has drawn them
  const found = results.filter((r) => r.status === "fulfilled").map((r) => r.value);
  const failed = results.find((r) => r.status === "rejected");
  const perArticle = Math.max(1, Math.ceil(MAX_QUESTIONS / Math.max(1, found.length)));
  const lists = found.map((o) => questionsFor(o, found.length === 1 && articles.length === 1 ? "the article" : `“${o.title}”`, perArticle));
  const questions = [];
  for (let i = 0; questions.length < MAX_QUESTIONS && lists.some((l) => i < l.length); i++) { // take turns
    for (const list of lists) if (i < list.length && questions.length < MAX_QUESTIONS) questions.push(list[i]);
  }
  const children = [intro(questions.length
    ? "Ask about the indexed articles: answers quote them and cite the passages they come from. For example:"
    : "Ask about the indexed articles: answers quote them and cite the passages they come from.")];
  for (const q of questions) children.push(el("button", { type: "button", class: "starter", "data-question": q }, q));
  if (failed) children.push(el("p", { class: "form-error" }, `Some suggestions could not be loaded: ${failed.reason.message}`));
  box.replaceChildren(...children);
}
