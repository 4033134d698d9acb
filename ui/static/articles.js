// The Articles panel: the indexed articles (uncheck one to leave it out of the search), adding one by its
// web address, from pasted text or a file, deleting one. Its results show next to the control that asked for them.
import { $, el, isWebURL, loadJSON, plural, publication, saveJSON } from "./dom.js";
import { api, apiError, failure } from "./api.js";
import { openArticle } from "./reader.js";

const SELECTION_KEY = "articlechat.selection.v1";
let articles = null; // null until the list has loaded
let listFailed = false;
const excluded = new Set(loadJSON(SELECTION_KEY, [])); // unchecked article ids
const gone = new Set(); // ids a request found missing since the list was read
let changed = () => {};

export function initArticles(onChange) { changed = onChange; }
export const articleList = () => articles || [];
export const listLoaded = () => articles !== null;
export const listError = () => listFailed;

// Whether an article cited by an answer has been deleted since.
export function isRemoved(id) {
  return gone.has(id) || (articles !== null && !articles.some((a) => a.id === id));
}

export function missing(id) {
  gone.add(id);
  changed();
}

// The ids to search, or null for all of them.
export function searchedArticles() {
  const ids = articleList().map((a) => a.id).filter((id) => !excluded.has(id));
  return ids.length === articleList().length ? null : ids;
}

export const checkedArticles = () => articleList().filter((a) => !excluded.has(a.id));

export async function loadArticles() {
  showError(null);
  let response;
  try {
    response = await api("/articles");
    if (!response.ok) throw new Error(`Could not list the articles: ${await apiError(response)}`);
  } catch (err) {
    listFailed = true;
    showError(err instanceof TypeError ? `Could not list the articles. ${failure(err)}` : err.message, true);
    changed();
    return;
  }
  listFailed = false;
  articles = await response.json();
  gone.clear();
  $("article-count").textContent = articles.length ? `(${articles.length})` : "";
  $("article-list").replaceChildren(...articles.map(articleItem));
  if (!articles.length) $("add-details").open = true;
  changed();
}

function articleItem(a) {
  const box = el("input", { type: "checkbox", checked: !excluded.has(a.id), id: `use-${a.id}`,
    onchange: (e) => { e.target.checked ? excluded.delete(a.id) : excluded.add(a.id); saveJSON(SELECTION_KEY, [...excluded]); changed(); } });
  const when = new Date(a.ingested_at).toLocaleString();
  return el("li", { class: "article-item", "data-article": a.id },
    box,
    el("div", {},
      el("label", { for: `use-${a.id}`, class: "visually-hidden" }, `Search ${a.title}`),
      el("button", { type: "button", class: "article-open", onclick: (e) => openArticle(a.id, a.title, e.currentTarget) }, a.title),
      el("span", { class: "article-meta" }, [publication(a), plural(a.sections, "section"), `indexed ${when}`].filter(Boolean).join(" · "))),
    el("button", { type: "button", "aria-label": `Delete ${a.title}`, onclick: () => deleteArticle(a) }, "Delete"));
}

function showError(message, retry = false) {
  const p = $("articles-error");
  p.hidden = !message;
  p.replaceChildren(...(message ? [message] : []),
    ...(retry ? [" ", el("button", { type: "button", class: "quiet-button", onclick: loadArticles }, "Try again")] : []));
}

async function deleteArticle(article) {
  if (!confirm(`Delete “${article.title}” and all its passages?`)) return;
  let response;
  try {
    response = await api(`/articles/${encodeURIComponent(article.id)}`, { method: "DELETE" });
  } catch (err) {
    showError(`Could not delete “${article.title}”. ${failure(err)}`);
    return;
  }
  if (!response.ok && response.status !== 404) { showError(await apiError(response)); return; }
  excluded.delete(article.id);
  saveJSON(SELECTION_KEY, [...excluded]);
  await loadArticles();
  $("articles-status").textContent = `Deleted “${article.title}”.`;
}

$("add-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const title = $("add-title").value.trim();
  const text = $("add-text").value;
  // A lone web address pasted in the text box is a page to fetch, not an article's text.
  const address = $("add-url").value.trim() || (isWebURL(text.trim()) ? text.trim() : "");
  const file = $("add-file").files[0];
  const errorLine = $("add-error");
  const status = $("add-status");
  errorLine.hidden = true;
  // A web address or pasted text goes to the JSON endpoint, a file to the multipart upload one.
  const json = (body) => ({ method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify(title ? { ...body, title } : body) });
  let url, request;
  if (address) {
    url = "/articles";
    request = json({ url: address });
  } else if (file) {
    const form = new FormData();
    form.append("file", file);
    if (title) form.append("title", title);
    url = "/articles/upload";
    request = { method: "POST", body: form };
  } else if (text.trim()) {
    url = "/articles";
    request = json({ text });
  } else {
    status.textContent = "";
    errorLine.textContent = "Give the page's web address, paste the article's text or choose a file first.";
    errorLine.hidden = false;
    return;
  }
  $("add-submit").disabled = true;
  status.textContent = address ? "Fetching the page…" : "Indexing…";
  try {
    const response = await api(url, request);
    if (!response.ok) throw new Error(await apiError(response));
    const added = await response.json();
    $("add-form").reset();
    await loadArticles();
    status.textContent = added.aliased_url
      ? `This story was already indexed as “${added.title}”: the page was not added again.`
      : added.status === "unchanged"
      ? `“${added.title}” was already indexed as it is.`
      : `Indexed “${added.title}”: ${plural(added.sections, "section")}, ${plural(added.chunks, "passage")}.`;
  } catch (err) {
    status.textContent = "";
    errorLine.textContent = failure(err);
    errorLine.hidden = false;
  } finally {
    $("add-submit").disabled = false;
  }
});
