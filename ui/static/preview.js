// The preview of a citation chip: hovering or focusing [n] shows the sentence of the passage that the
// answer's sentence rests on (or says the article was removed), without opening the article. It stays
// while the pointer is over it, and Escape hides it.
import { $, el, publication } from "./dom.js";
import { supportOf } from "./quotes.js";

const box = $("preview");
const SHOW_DELAY_MS = 120;
const HIDE_DELAY_MS = 200;
const MARGIN_PX = 8;
const PASSAGE_CHARS = 220;
let owner = null;
let showTimer = 0;
let hideTimer = 0;

export const citationLabel = (c) => (c.section ? `${c.article_title} — ${c.section}` : c.article_title);

export function previewText(ref) {
  const found = supportOf(ref.claim, ref.citation);
  if (found) return found.text;
  const text = ref.citation.text || "";
  return text.length > PASSAGE_CHARS ? `${text.slice(0, PASSAGE_CHARS).replace(/\s+\S*$/, "")}…` : text;
}

export function showPreview(button, ref, removed, delay = 0) {
  clearTimeout(hideTimer);
  clearTimeout(showTimer);
  const show = () => {
    if (!button.isConnected) return;
    const { citation } = ref;
    box.replaceChildren(
      el("p", { class: "preview-head" }, `[${citation.n}] ${citationLabel(citation)}`),
      ...(publication(citation) ? [el("p", { class: "preview-pub" }, publication(citation))] : []),
      removed ? el("p", { class: "preview-removed" }, "This article was removed.")
        : el("p", { class: "preview-quote" }, previewText(ref)));
    if (owner && owner !== button) owner.removeAttribute("aria-describedby");
    owner = button;
    button.setAttribute("aria-describedby", "preview");
    box.hidden = false;
    place(button);
  };
  if (delay) showTimer = setTimeout(show, delay); else show();
}

export function hidePreview(delay = 0) {
  clearTimeout(showTimer);
  clearTimeout(hideTimer);
  const hide = () => {
    box.hidden = true;
    owner?.removeAttribute("aria-describedby");
    owner = null;
  };
  if (delay) hideTimer = setTimeout(hide, delay); else hide();
}

export const previewOpen = () => !box.hidden;
export const previewOwner = () => owner;
export const placePreview = () => owner && place(owner);
export { SHOW_DELAY_MS, HIDE_DELAY_MS };

// Above the chip when there is room, else below; never past the viewport's edges.
function place(button) {
  const chip = button.getBoundingClientRect();
  box.style.left = "0px";
  box.style.top = "0px";
  const { width, height } = box.getBoundingClientRect();
  const left = Math.min(Math.max(MARGIN_PX, chip.left + chip.width / 2 - width / 2), innerWidth - width - MARGIN_PX);
  const above = chip.top - height - MARGIN_PX;
  const top = above >= MARGIN_PX ? above : Math.min(chip.bottom + MARGIN_PX, innerHeight - height - MARGIN_PX);
  box.style.left = `${Math.max(MARGIN_PX, left)}px`;
  box.style.top = `${Math.max(MARGIN_PX, top)}px`;
}

box.addEventListener("mouseenter", () => clearTimeout(hideTimer));
box.addEventListener("mouseleave", () => hidePreview(HIDE_DELAY_MS));
