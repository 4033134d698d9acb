// Small DOM helpers shared by the web UI's modules. Every piece of article or answer text goes in as
// text (a text node or textContent), never as HTML, so markup in an article renders inert.

export const $ = (id) => document.getElementById(id);

// el("button", { class: "chip", onclick: f, "aria-label": "…" }, "text", node, [more]…)
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key in node && key !== "role" && !key.includes("-")) node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child != null && child !== false) node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

// "1 section", "2 sections".
export function plural(count, one, many = `${one}s`) {
  return `${count.toLocaleString()} ${count === 1 ? one : many}`;
}

export function loadJSON(key, fallback) {
  try { return JSON.parse(localStorage.getItem(key)) ?? fallback; } catch { return fallback; }
}

export function saveJSON(key, value) {
  try { localStorage.setItem(key, JSON.stringify(value)); } catch { /* storage full or disabled: not fatal */ }
}

export function newId() {
  return Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
}

export const reducedMotion = () => matchMedia("(prefers-reduced-motion: reduce)").matches;

// Arrow keys move focus inside a group of buttons that is one Tab stop (roving tabindex): the group's
// current button has tabindex 0, the others -1.
export function rove(event, items) {
  const keys = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };
  const at = items.indexOf(event.target);
  if (at === -1) return false;
  let next;
  if (event.key in keys) next = (at + keys[event.key] + items.length) % items.length;
  else if (event.key === "Home") next = 0;
  else if (event.key === "End") next = items.length - 1;
  else return false;
  event.preventDefault();
  for (const item of items) item.tabIndex = -1;
  items[next].tabIndex = 0;
  items[next].focus();
  return true;
}

// An ISO date from the API ("2025-03-04", or a date-time "2025-03-04T06:30:00Z") in the reader's locale:
// "4 Mar 2025" (en-GB), "Mar 4, 2025" (en-US). A day alone is that day wherever the reader is; a date-time
// is the day in the reader's time zone. "" when there is none or it cannot be read.
export function formatDate(iso) {
  if (typeof iso !== "string" || !iso) return "";
  const dayOnly = /^\d{4}-\d{2}-\d{2}$/.test(iso);
  const date = new Date(dayOnly ? `${iso}T00:00:00Z` : iso);
  if (Number.isNaN(date.getTime())) return "";
  return date.toLocaleDateString(undefined, { day: "numeric", month: "short", year: "numeric", ...(dayOnly ? { timeZone: "UTC" } : {}) });
}

// "The Harbour Gazette · 4 Mar 2025", either alone, or "" when neither is known.
export const publication = (item) => [item?.source, formatDate(item?.published)].filter(Boolean).join(" · ");

// Only a web address is ever made a link (never a javascript: or data: URL).
export const isWebURL = (url) => typeof url === "string" && /^https?:\/\/\S+$/i.test(url);
