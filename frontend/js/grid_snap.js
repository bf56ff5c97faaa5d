// Snap to grid (pysssss.SnapToGrid, step Comfy.SnapToGrid.GridSize): nodes being moved
// or resized land on the grid, so they line up without a steady hand.

import { GRID_SIZE, SNAP_TO_GRID, setting } from "./settings.js";

/** The snapping step, or 0 when snapping is off. */
export function snapStep() { return setting(SNAP_TO_GRID) ? setting(GRID_SIZE) : 0; }

/** A coordinate on the grid (rounded to whole units when snapping is off). */
export function snapPos(v) {
  const g = snapStep();
  return g ? Math.round(v / g) * g : Math.round(v);
}

/** A size on the grid, never below `min`. */
export function snapSize(v, min) {
  const g = snapStep();
  if (!g) return Math.max(min, v);
  return Math.max(Math.ceil(min / g) * g, Math.round(v / g) * g);
}
