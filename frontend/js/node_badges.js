// Marks drawn on a node's title bar: its id (Comfy.NodeBadge.NodeIdBadgeMode "Show all"),
// so a node named in an error or a log line can be found, and a pin when it is pinned.

import { THEME } from "./colors.js";
import { NODE_ID_BADGE, setting } from "./settings.js";
import { TITLE_H } from "./layout.js";

/** How much of the title bar's right end the marks take (the title is fitted before it). */
export function badgeWidth(node, text) {
  let w = 0;
  if (setting(NODE_ID_BADGE) === "Show all") w += text.width(`#${node.id}`) + 12;
  if (node.flags?.pinned) w += 16;
  return w;
}

/** Draw the marks at the right end of the title bar of a node `w` wide at (x, y). */
export function drawBadges(ctx, node, x, y, w, text) {
  let right = x + w - 8;
  const mid = y + TITLE_H / 2;
  if (node.flags?.pinned) { // a drawing pin: head and point
    ctx.fillStyle = THEME.text;
    ctx.beginPath(); ctx.arc(right - 5, mid - 3, 4, 0, Math.PI * 2); ctx.fill();
    ctx.fillRect(right - 6, mid, 2, 7);
    right -= 16;
  }
  if (setting(NODE_ID_BADGE) !== "Show all") return;
  const label = `#${node.id}`;
  const lw = text.width(label) + 8;
  ctx.fillStyle = "rgba(0, 0, 0, 0.3)";
  ctx.beginPath(); ctx.roundRect(right - lw, mid - 8, lw, 16, 8); ctx.fill();
  ctx.fillStyle = THEME.text;
  ctx.textAlign = "right";
  ctx.fillText(label, right - 4, mid);
  ctx.textAlign = "left";
}
