// Which prompt text is positive and which negative: a text widget's node is followed
// downstream along its wires until they reach an input named "positive" or "negative"
// (a sampler's, or ControlNet's), through any conditioning nodes in between.

import { currentEditor } from "./overlay.js";

const NOTE_TYPES = new Set(["Note", "MarkdownNote"]);

/** Whether `w` is prompt text: a multi-line text widget, not on a note or a placeholder. */
export function isPromptWidget(node, w) {
  return !!node && !!w && !NOTE_TYPES.has(node.type) && !node.placeholder && w.type === "STRING" && !!w.options?.multiline;
}

/** The (first) prompt text widget of a node, or null. */
export function promptWidget(node) {
  return node?.widgets.find((w) => isPromptWidget(node, w)) || null;
}

/** "positive", "negative" or null for a node with a prompt widget. */
export function promptRole(graph, node) {
  const seen = new Set([node.id]);
  let frontier = [node];
  while (frontier.length) {
    const next = [];
    for (const n of frontier) {
      for (const out of n.outputs) for (const id of out.links || []) {
        const link = graph.links.get(id);
        const target = link && graph.getNode(link.target_id);
        if (!target) continue;
        const name = target.inputs[link.target_slot]?.name;
        if (name === "positive" || name === "negative") return name;
        if (!seen.has(target.id)) { seen.add(target.id); next.push(target); }
      }
    }
    frontier = next;
  }
  return null;
}

/**
 * Where text for `role` goes: the open prompt editor when it has that role, else a
 * selected prompt node with it, else the first prompt node with it (by id).
 * Returns {node, widget, editor?} or null.
 */
export function findPrompt(app, role) {
  const open = currentEditor();
  const openNode = open?.meta?.node;
  if (openNode && open.meta.widget === promptWidget(openNode) && promptRole(app.graph, openNode) === role) {
    return { node: openNode, widget: open.meta.widget, editor: open.el };
  }
  const candidates = app.graph.nodes.filter((n) => promptWidget(n) && promptRole(app.graph, n) === role);
  const selected = candidates.find((n) => app.state.selected.has(n));
  const node = selected || candidates.sort((a, b) => a.id - b.id)[0];
  return node ? { node, widget: promptWidget(node) } : null;
}

/** `text` joined onto `existing` with a comma, unless it is already there. */
export function joinPrompt(existing, text) {
  const base = String(existing || "").replace(/[\s,]+$/, "");
  if (!base) return text;
  return `${base}, ${text}`;
}

/** Add `text` to the prompt of `role`: at the caret of an open editor, else at the end. */
export function addToPrompt(app, role, text) {
  const target = findPrompt(app, role);
  if (!target) return null;
  if (target.editor) {
    const el = target.editor;
    const before = el.value.slice(0, el.selectionStart).replace(/[\s,]+$/, "");
    const after = el.value.slice(el.selectionEnd).replace(/^[\s,]+/, "");
    const head = before ? `${before}, ` : "";
    const tail = after ? `, ${after}` : "";
    el.value = head + text + tail;
    const caret = (head + text).length;
    el.setSelectionRange(caret, caret);
    el.focus();
  } else {
    target.widget.value = joinPrompt(target.widget.value, text);
    app.widgetChanged(target.node, target.widget);
  }
  return target;
}
