// Small DOM editors laid over the canvas: a one-line input or a textarea.

let current = null;

export function closeEditor(commit = true) {
  if (!current) return;
  const c = current;
  current = null;
  if (commit) c.commit();
  c.el.remove();
}

/** Edit `value` in an element over screen rect {x, y, w, h}; `done(text)` on Enter / blur. */
export function promptText(rect, value, multiline, done) {
  closeEditor(true);
  const el = document.createElement(multiline ? "textarea" : "input");
  el.className = "overlay-editor";
  el.value = value;
  Object.assign(el.style, {
    left: `${rect.x}px`, top: `${rect.y}px`, width: `${Math.max(80, rect.w)}px`,
    height: multiline ? `${Math.max(60, rect.h)}px` : `${Math.max(20, rect.h)}px`,
  });
  const editor = { el, commit: () => done(el.value) };
  current = editor;
  el.addEventListener("keydown", (e) => {
    e.stopPropagation();
    if (e.key === "Escape") closeEditor(false);
    else if (e.key === "Enter" && (!multiline || e.ctrlKey)) { e.preventDefault(); closeEditor(true); }
  });
  el.addEventListener("blur", () => { if (current === editor) closeEditor(true); });
  document.body.appendChild(el);
  el.focus();
  el.select();
  return el;
}
