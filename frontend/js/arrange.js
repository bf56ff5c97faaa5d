// Align and distribute the selected nodes (by their outlines, title bars included);
// pinned nodes are left where they are.

import { nodeBounds } from "./layout.js";

export const ALIGN_EDGES = ["left", "right", "top", "bottom", "centre-x", "centre-y"];

function movable(nodes) { return nodes.filter((n) => !n.flags?.pinned); }

/** Line the nodes up on one edge (or centre line) of the selection's bounding box. */
export function alignNodes(nodes, edge) {
  const boxes = nodes.map((n) => nodeBounds(n, [0, 0, 0, 0]));
  const x0 = Math.min(...boxes.map((b) => b[0])), y0 = Math.min(...boxes.map((b) => b[1]));
  const x1 = Math.max(...boxes.map((b) => b[0] + b[2])), y1 = Math.max(...boxes.map((b) => b[1] + b[3]));
  for (const n of movable(nodes)) {
    const b = nodeBounds(n, [0, 0, 0, 0]);
    if (edge === "left") n.pos[0] = Math.round(x0);
    else if (edge === "right") n.pos[0] = Math.round(x1 - b[2]);
    else if (edge === "centre-x") n.pos[0] = Math.round((x0 + x1) / 2 - b[2] / 2);
    else if (edge === "top") n.pos[1] += Math.round(y0 - b[1]);
    else if (edge === "bottom") n.pos[1] += Math.round(y1 - (b[1] + b[3]));
    else if (edge === "centre-y") n.pos[1] += Math.round((y0 + y1) / 2 - (b[1] + b[3] / 2));
  }
}

/** Equal gaps between the nodes along an axis ("x" or "y"); the outermost two stay put. */
export function distributeNodes(nodes, axis) {
  const i = axis === "x" ? 0 : 1, size = i + 2;
  const sorted = nodes.map((n) => [n, nodeBounds(n, [0, 0, 0, 0])]).sort((a, b) => a[1][i] - b[1][i]);
  if (sorted.length < 3) return;
  const first = sorted[0][1], last = sorted[sorted.length - 1][1];
  const total = sorted.reduce((sum, [, b]) => sum + b[size], 0);
  const gap = (last[i] + last[size] - first[i] - total) / (sorted.length - 1);
  let at = first[i] + first[size] + gap;
  for (const [n, b] of sorted.slice(1, -1)) {
    if (!n.flags?.pinned) n.pos[i] += Math.round(at - b[i]);
    at += b[size] + gap;
  }
}
