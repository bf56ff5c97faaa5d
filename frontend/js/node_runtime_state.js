// What a node shows that a workflow file does not carry: the images of its last run (and
// their references, outputs_ui), a Load Image thumbnail, the live-preview flag. The graph
// is rebuilt from JSON on undo/redo and when a tab comes back; this state is kept aside by
// node id meanwhile and put back on the nodes of the same id.

import { setOutputImages } from "./node_images.js";

const FIELDS = ["images", "outputs_ui", "thumbnail", "preview"];

/** Node id -> {field: value} for every node that has any of the fields set. */
export function captureRuntime(graph) {
  const saved = new Map();
  for (const n of graph.nodes) {
    const kept = {};
    for (const key of FIELDS) if (n[key]) kept[key] = n[key];
    if (Object.keys(kept).length) saved.set(n.id, kept);
  }
  return saved;
}

/** Put kept state back on app.graph's nodes; references alone have their images loaded. */
export function restoreRuntime(app, saved) {
  for (const n of app.graph.nodes) {
    const kept = saved.get(n.id);
    if (!kept) continue;
    if (kept.images || !kept.outputs_ui) Object.assign(n, kept);
    else setOutputImages(app, n, kept.outputs_ui);
  }
}

/** A run finished for a node of a tab not on the canvas: its images load when the tab is shown. */
export function keepOutputs(saved, id, refs) {
  saved.set(id, { outputs_ui: refs });
}
