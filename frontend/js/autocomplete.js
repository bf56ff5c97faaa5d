// Tag autocomplete in prompt text editors: the words before the caret are looked up in
// the tag index as the user types (after an IME finishes composing), in tag lists and in
// sentences alike; arrows move, Enter or Tab insert, Escape closes the list, a click
// inserts too.

import { typeColor } from "./colors.js";
import { onEditorOpen } from "./overlay.js";
import { isPromptWidget } from "./prompts.js";
import { TagIndex, formatCount, formatTag } from "./tag_index.js";
import { t } from "./i18n.js";
import { studio } from "./studio_client.js";

const DELIMITERS = ",\n()[]{}|";
const MAX_WORDS = 4; // the longest multi-word tag looked for inside a sentence
let indexPromise = null;
let popup = null; // the one visible list: {el, items, active, editor}

/** The tag index, fetched once (GET /studio/tags). */
export function tagIndex(api) {
  indexPromise ||= studio(api).tags().then((r) => new TagIndex(r.ok ? r.data : null)).catch(() => new TagIndex(null));
  return indexPromise;
}

/** The fragment being typed: from after the last unescaped delimiter up to the caret. */
export function fragmentAt(text, caret) {
  let start = caret;
  while (start > 0 && !(DELIMITERS.includes(text[start - 1]) && text[start - 2] !== "\\")) start--;
  while (start < caret && /\s/.test(text[start])) start++;
  const fragment = text.slice(start, caret);
  // Weights "(tag:1.2)", embeddings "embedding:x" and lora tags are not tags to complete.
  if (!fragment || fragment.includes(":") || fragment.includes("<")) return null;
  return { start, fragment };
}

/**
 * What may be the tag being typed, longest first: the whole fragment, then the words
 * before the caret from MAX_WORDS down to the last one, so "long hai" in a sentence still
 * finds long_hair and "on a blue background 红" finds the tag for 红.
 */
export function candidatesAt(text, caret) {
  const whole = fragmentAt(text, caret);
  if (!whole) return [];
  const out = [whole];
  const starts = [];
  for (const m of whole.fragment.matchAll(/\s+/g)) starts.push(whole.start + m.index + m[0].length);
  for (const start of starts.slice(-MAX_WORDS)) {
    if (start < caret) out.push({ start, fragment: text.slice(start, caret) });
  }
  return out;
}

/** Pixel position of the caret inside a textarea (a mirror element with the same layout). */
function caretPoint(el) {
  const style = getComputedStyle(el);
  const mirror = document.createElement("div");
  for (const p of ["font", "padding", "border", "width", "letterSpacing", "lineHeight", "boxSizing", "textTransform", "wordSpacing"]) mirror.style[p] = style[p];
  Object.assign(mirror.style, { position: "fixed", visibility: "hidden", whiteSpace: "pre-wrap", overflowWrap: "break-word", top: "0", left: "0" });
  mirror.textContent = el.value.slice(0, el.selectionStart);
  const mark = document.createElement("span");
  mark.textContent = "\u200b";
  mirror.appendChild(mark);
  document.body.appendChild(mirror);
  const r = el.getBoundingClientRect();
  const x = r.left + mark.offsetLeft - el.scrollLeft, y = r.top + mark.offsetTop - el.scrollTop + mark.offsetHeight;
  mirror.remove();
  return [Math.min(x, r.right), Math.min(y + 2, r.bottom + 2)];
}

function close() {
  popup?.el.remove();
  popup = null;
}

function render() {
  const { el, items, active } = popup;
  el.replaceChildren(...items.map((item, i) => {
    const row = document.createElement("div");
    row.className = "tag-item" + (i === active ? " active" : "");
    row.dataset.tag = item.name;
    const name = document.createElement("span");
    name.className = "tag-name";
    // An alias that matched is named beside the tag (a matched translation is shown as the translation).
    const alias = item.via && item.via !== item.translation ? ` \u2190 ${item.via.replace(/_/g, " ")}` : "";
    name.textContent = item.name.replace(/_/g, " ") + alias;
    const translation = document.createElement("span");
    translation.className = "tag-translation";
    translation.textContent = item.translation;
    const category = document.createElement("span");
    category.className = "tag-category";
    category.textContent = t(item.category);
    category.style.color = typeColor(`tag:${item.category}`);
    const count = document.createElement("span");
    count.className = "tag-count";
    count.textContent = formatCount(item.count);
    row.append(name, translation, category, count);
    row.addEventListener("mousedown", (e) => { e.preventDefault(); e.stopPropagation(); popup.active = i; accept(); });
    return row;
  }));
  el.children[active]?.scrollIntoView({ block: "nearest" });
}

/** Replace the fragment with the chosen tag and a separator; count the pick. */
function accept() {
  const { editor, items, active, index, start } = popup;
  const item = items[active];
  close();
  if (!item || editor.selectionStart < start) return;
  const after = editor.value.slice(editor.selectionStart);
  const separator = /^\s*[,)\]]/.test(after) ? "" : ", ";
  const inserted = formatTag(item.name) + separator;
  editor.setRangeText(inserted, start, editor.selectionStart, "end");
  index.usage.add(item.name);
}

async function update(api, editor) {
  if (editor.selectionStart !== editor.selectionEnd || !fragmentAt(editor.value, editor.selectionStart)) { close(); return; }
  const index = await tagIndex(api);
  if (document.activeElement !== editor) return;
  // The text may have moved on while loading; the longest candidate with matches wins.
  let items = [], start = 0;
  for (const c of candidatesAt(editor.value, editor.selectionStart)) {
    items = index.search(c.fragment);
    if (items.length) { start = c.start; break; }
  }
  if (!items.length) { close(); return; }
  if (!popup || popup.editor !== editor) {
    close();
    const el = document.createElement("div");
    el.className = "tag-complete";
    el.addEventListener("mousedown", (e) => { e.preventDefault(); e.stopPropagation(); });
    document.body.appendChild(el);
    popup = { el, editor, items, active: 0, index, start };
  }
  Object.assign(popup, { items, active: 0, index, start });
  render();
  const [x, y] = caretPoint(editor);
  const r = popup.el.getBoundingClientRect();
  popup.el.style.left = `${Math.max(0, Math.min(x, innerWidth - r.width - 4))}px`;
  popup.el.style.top = `${y + r.height > innerHeight ? Math.max(0, y - r.height - 20) : y}px`;
}

function attach(api, editor) {
  let composing = false;
  const onInput = (e) => { if (!composing && !e.isComposing) update(api, editor); };
  const onKey = (e) => {
    if (e.isComposing || e.keyCode === 229 || !popup || popup.editor !== editor) return;
    if (e.ctrlKey || e.metaKey || e.altKey) return; // Ctrl+Enter still commits the editor
    const n = popup.items.length;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      popup.active = (popup.active + (e.key === "ArrowDown" ? 1 : -1) + n) % n;
      render();
    } else if (e.key === "Enter" || e.key === "Tab") {
      accept();
    } else if (e.key === "Escape") {
      close();
    } else {
      return;
    }
    e.preventDefault();
    e.stopImmediatePropagation(); // the editor's own Enter/Escape must not run
  };
  const onMove = (e) => { if (["ArrowLeft", "ArrowRight", "Home", "End"].includes(e.key)) update(api, editor); };
  editor.addEventListener("compositionstart", () => { composing = true; close(); });
  editor.addEventListener("compositionend", () => { composing = false; update(api, editor); });
  editor.addEventListener("input", onInput);
  editor.addEventListener("keydown", onKey);
  editor.addEventListener("keyup", onMove);
  editor.addEventListener("click", () => { if (popup) update(api, editor); });
  editor.addEventListener("blur", () => { if (popup?.editor === editor) close(); });
  return () => { if (popup?.editor === editor) close(); };
}

/** Autocomplete in every multi-line prompt text editor (not on notes). */
export function installAutocomplete(api) {
  onEditorOpen((el, meta) => {
    if (el.tagName !== "TEXTAREA" || !isPromptWidget(meta.node, meta.widget)) return null;
    tagIndex(api); // start loading while the user reads the prompt
    return attach(api, el);
  });
}

/** For tests: the visible suggestions. */
export function visibleSuggestions() { return popup ? popup.items.map((i) => i.name) : []; }
