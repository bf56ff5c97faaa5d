// Small DOM editors laid over the canvas: a one-line input or a textarea. Other modules
// can decorate an editor as it opens (tag autocomplete on prompt text) and find the open
// one (the prompt library inserts into it).

let current = null;
const openHooks = [];
let shortcut = () => false;

/** fn(keydownEvent) is asked first about every key in an editor; true: it ran a command
 * (the keybindings: Ctrl+Enter queues from inside a prompt). */
export function onEditorShortcut(fn) { shortcut = fn; }

/** fn(el, meta) runs for every editor as it opens, before its own key handling; it may
 * return a cleanup function, called when the editor closes. */
export function onEditorOpen(fn) { openHooks.push(fn); }

/** The open editor: {el, meta: {node?, widget?}} or null. */
export function currentEditor() { return current && { el: current.el, meta: current.meta }; }

export function closeEditor(commit = true) {
  if (!current) return;
  const c = current;
  current = null;
  for (const fn of c.cleanups) fn();
  if (commit) c.commit();
  c.el.remove();
}

/** Edit `value` in an element over screen rect {x, y, w, h}; `done(text)` on Enter / blur.
 * `meta` names what is edited ({node, widget}) for the decorators. */
export function promptText(rect, value, multiline, done, meta = {}) {
  closeEditor(true);
  const el = document.createElement(multiline ? "textarea" : "input");
  el.className = "overlay-editor";
  el.value = value;
  el.spellcheck = false;
  Object.assign(el.style, {
    left: `${rect.x}px`, top: `${rect.y}px`, width: `${Math.max(80, rect.w)}px`,
    height: multiline ? `${Math.max(60, rect.h)}px` : `${Math.max(20, rect.h)}px`,
  });
  const editor = { el, meta, commit: () => done(el.value), cleanups: [] };
  current = editor;
  for (const hook of openHooks) {
    const cleanup = hook(el, meta);
    if (typeof cleanup === "function") editor.cleanups.push(cleanup);
  }
  el.addEventListener("keydown", (e) => {
    e.stopPropagation();
    if (!e.isComposing && shortcut(e)) { e.preventDefault(); return; }
    if (e.key === "Escape") closeEditor(false);
    else if (e.key === "Enter" && (!multiline || e.ctrlKey)) { e.preventDefault(); closeEditor(true); }
  });
  el.addEventListener("blur", () => { if (current === editor) closeEditor(true); });
  document.body.appendChild(el);
  el.focus();
  el.select();
  return el;
}
