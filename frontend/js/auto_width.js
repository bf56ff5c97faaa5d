// How wide a node must be to show its title, socket labels, widget labels and values
// whole (in the interface language), up to a limit past which text is shortened. It is
// measured when a node is fitted (added, loaded, a value or the language changed), never
// while drawing a frame.

import { inputName, nodeTitle, outputName } from "./i18n.js";
import { formatValue } from "./widgets.js";

const FONT = "12px system-ui, sans-serif"; // the renderer's
const MAX_AUTO_W = 420;
const ARROWS = new Set(["INT", "FLOAT", "COMBO", "CONTROL"]);
let ctx = null;

function textWidth(text) {
  ctx ||= document.createElement("canvas").getContext("2d");
  ctx.font = FONT;
  return ctx.measureText(String(text ?? "")).width;
}

/** The width that shows the node's labels whole, capped at MAX_AUTO_W (0 for frontend-only shapes). */
export function labelWidth(node) {
  if (node.type === "Reroute" || typeof document === "undefined") return 0;
  let need = textWidth(nodeTitle(node)) + 40;
  const rows = Math.max(node.inputs.length, node.outputs.length);
  for (let i = 0; i < rows; i++) {
    const inp = node.inputs[i], out = node.outputs[i];
    const left = inp ? textWidth(inp.name ? inputName(node.type, inp.name) : inp.type) + 14 : 0;
    const right = out ? textWidth(out.name ? outputName(node.type, out.name) : out.type) + 14 : 0;
    need = Math.max(need, 2 * Math.max(left, right) + 8);
  }
  for (const w of node.widgets) {
    if (w.type === "UPLOAD" || w.type === "BUTTON" || (w.type === "STRING" && w.options?.multiline)) continue;
    const pad = ARROWS.has(w.type) ? 18 : 8;
    // As widgets.js lays a row out: label and value side by side, 8 px apart.
    const label = textWidth(inputName(node.type, w.name));
    const value = w.type === "BOOLEAN" ? 60 : textWidth(formatValue(w));
    need = Math.max(need, label + value + 2 * pad + 8 + 20);
  }
  return Math.min(MAX_AUTO_W, Math.ceil(need));
}
