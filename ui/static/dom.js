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
