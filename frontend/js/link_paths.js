// The shape of a wire from an output at p to an input at q, as Comfy.LinkRenderMode asks
// (LiteGraph's modes): a spline, a line with short straight ends, right angles, or none.
// Every shape passes through the midpoint of p and q, where the wire's dot sits.

import { LINK_MODES } from "./settings.js";

/** Add the wire to `path` (a Path2D or a 2D context); `mode` is a LINK_MODES value. */
export function addLinkPath(path, p, q, mode) {
  path.moveTo(p[0], p[1]);
  if (mode === LINK_MODES.linear) {
    path.lineTo(p[0] + 15, p[1]);
    path.lineTo(q[0] - 15, q[1]);
    path.lineTo(q[0], q[1]);
  } else if (mode === LINK_MODES.straight) {
    const mx = 0.5 * (p[0] + q[0]);
    path.lineTo(p[0] + 10, p[1]);
    path.lineTo(mx, p[1]);
    path.lineTo(mx, q[1]);
    path.lineTo(q[0] - 10, q[1]);
    path.lineTo(q[0], q[1]);
  } else {
    const d = Math.max(40, Math.abs(q[0] - p[0]) * 0.5);
    path.bezierCurveTo(p[0] + d, p[1], q[0] - d, q[1], q[0], q[1]);
  }
}
