// Node geometry in graph coordinates: slot and widget positions, sizes, hit areas.
// `pos` is the top-left of a node's body; the title bar sits above it (as in ComfyUI).

import { labelWidth } from "./auto_width.js";

export const TITLE_H = 26;
export const SLOT_H = 20;
export const WIDGET_H = 22;
export const MULTILINE_H = 66;
export const WIDGET_GAP = 4;
export const NODE_MIN_W = 200;
export const IMAGE_AREA = 180;
export const COLLAPSED_W = 140;

export function widgetHeight(w) {
  if (w.type === "STRING" && w.options?.multiline) return MULTILINE_H;
  return WIDGET_H;
}

function rows(node) { return Math.max(node.inputs.length, node.outputs.length); }

/** Whether a widget's value comes through a wire: it then takes no row (its socket shows it). */
export function widgetFedByLink(node, w) {
  for (const inp of node.inputs) if (inp.link != null && inp.widget?.name === w.name) return true;
  return false;
}

/** A widget's row height in this node: 0 when a wire feeds it. */
function rowHeight(node, w) { return widgetFedByLink(node, w) ? 0 : widgetHeight(w) + WIDGET_GAP; }

export function widgetsTop(node) { return node.pos[1] + 6 + rows(node) * SLOT_H + 2; }

/** Smallest size that shows every slot and widget (and an image area when needed). */
export function minSize(node) {
  if (node.type === "Reroute") return [70, SLOT_H + 8];
  let h = 6 + rows(node) * SLOT_H + 6;
  for (const w of node.widgets) h += rowHeight(node, w);
  if (node.placeholder) h += 40;
  if (node.images?.length || node.preview || node.thumbnail) h += IMAGE_AREA;
  return [Math.max(NODE_MIN_W, node.labelW || 0), h];
}

/**
 * Size the node to its content: never smaller than it needs, and, while the user has not
 * resized it, following its content both ways (a node shrinks when a widget becomes an
 * input or its preview ends). Labels are measured here, so drawing needs no measuring.
 */
export function fitSize(node) {
  node.labelW = labelWidth(node);
  const [w, h] = minSize(node);
  const follows = (size, fitted) => fitted != null && Math.abs(size - fitted) < 1;
  node.size = [
    follows(node.size[0], node.fitW) ? w : Math.max(node.size[0] || 0, w),
    follows(node.size[1], node.fitH) ? h : Math.max(node.size[1] || 0, h),
  ];
  node.fitW = w;
  node.fitH = h;
}

/** Bounding box including the title: [x, y, w, h]. */
export function nodeBounds(node, out = [0, 0, 0, 0]) {
  if (node.flags?.collapsed) {
    out[0] = node.pos[0]; out[1] = node.pos[1] - TITLE_H; out[2] = COLLAPSED_W; out[3] = TITLE_H;
  } else {
    out[0] = node.pos[0]; out[1] = node.pos[1] - TITLE_H; out[2] = node.size[0]; out[3] = node.size[1] + TITLE_H;
  }
  return out;
}

/** Graph position of an input (isInput) or output slot. */
export function slotPos(node, isInput, i, out = [0, 0]) {
  if (node.flags?.collapsed) {
    out[0] = isInput ? node.pos[0] : node.pos[0] + COLLAPSED_W;
    out[1] = node.pos[1] - TITLE_H / 2;
    return out;
  }
  out[0] = isInput ? node.pos[0] : node.pos[0] + node.size[0];
  out[1] = node.pos[1] + 6 + SLOT_H * i + SLOT_H / 2;
  return out;
}

/** Each widget's [y, h] in graph coordinates, in order. */
export function widgetRects(node) {
  const out = [];
  let y = widgetsTop(node);
  for (const w of node.widgets) {
    const row = rowHeight(node, w);
    out.push([y, row ? row - WIDGET_GAP : 0]);
    y += row;
  }
  return out;
}

/** The area below the widgets where images are drawn: [x, y, w, h] or null. */
export function imageArea(node) {
  let y = widgetsTop(node);
  for (const w of node.widgets) y += rowHeight(node, w);
  const h = node.pos[1] + node.size[1] - y - 4;
  if (h < 20) return null;
  return [node.pos[0] + 6, y, node.size[0] - 12, h];
}

export function inside(x, y, b) { return x >= b[0] && y >= b[1] && x < b[0] + b[2] && y < b[1] + b[3]; }

/** What is under graph point (x, y) on `node`: {part, index?} or null. */
export function hitNode(node, x, y, scale = 1) {
  const b = nodeBounds(node);
  const margin = 8 / Math.min(1, scale);
  if (x < b[0] - margin || x > b[0] + b[2] + margin || y < b[1] || y > b[1] + b[3]) return null;
  const r = Math.max(9, 9 / scale);
  const p = [0, 0];
  for (let i = 0; i < node.outputs.length; i++) {
    slotPos(node, false, i, p);
    if (Math.abs(x - p[0]) < r && Math.abs(y - p[1]) < SLOT_H / 2) return { part: "output", index: i };
    if (node.flags?.collapsed) break;
  }
  for (let i = 0; i < node.inputs.length; i++) {
    slotPos(node, true, i, p);
    if (Math.abs(x - p[0]) < r && Math.abs(y - p[1]) < SLOT_H / 2) return { part: "input", index: i };
    if (node.flags?.collapsed) break;
  }
  if (!inside(x, y, b)) return null;
  if (y < node.pos[1]) {
    if (x < b[0] + 22) return { part: "collapse" };
    return { part: "title" };
  }
  if (x > b[0] + b[2] - 12 && y > b[1] + b[3] - 12) return { part: "resize" };
  const rects = widgetRects(node);
  for (let i = 0; i < rects.length; i++) {
    const [wy, wh] = rects[i];
    if (y >= wy && y < wy + wh && x >= node.pos[0] + 8 && x <= node.pos[0] + node.size[0] - 8) return { part: "widget", index: i };
  }
  return { part: "body" };
}

/** The middle of a wire's curve (the bezier the renderer draws): written into `out`. */
export function linkMidpoint(a, oslot, b, islot, out = [0, 0]) {
  const p = slotPos(a, false, oslot, [0, 0]), q = slotPos(b, true, islot, [0, 0]);
  const d = Math.max(40, Math.abs(q[0] - p[0]) * 0.5);
  out[0] = 0.125 * p[0] + 0.375 * (p[0] + d) + 0.375 * (q[0] - d) + 0.125 * q[0];
  out[1] = 0.5 * p[1] + 0.5 * q[1];
  return out;
}
