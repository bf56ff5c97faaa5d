// A read-only hook for tests and benchmarks (window.studio): state and screen coordinates.
// Nothing here edits the graph; tests drive the editor with real mouse and key events.

import { graphToApi } from "./convert.js";
import { visibleSuggestions } from "./autocomplete.js";
import { inputName, languageSetting, nodeTitle, outputName } from "./i18n.js";
import { effectiveTheme, themeChoice } from "./theme.js";
import { THEME } from "./colors.js";
import { linkMidpoint, nodeBounds, slotPos, widgetRects, TITLE_H } from "./layout.js";
import { imageCellCentre, imageLabel } from "./node_images.js";
import { lightboxState } from "./lightbox.js";
import { maskEditorProbe } from "./mask_editor.js";

export function testHook(app) {
  const page = (gx, gy) => {
    const [x, y] = app.toScreen(gx, gy);
    const r = app.canvas.getBoundingClientRect();
    return [x + r.left, y + r.top];
  };
  return {
    get ready() { return !!app.ready; },
    get graph() { return app.graph; },
    get view() { return { ...app.view }; },
    get selected() { return [...app.state.selected].map((n) => n.id); },
    get running() { return app.state.running; },
    get progress() { return app.state.progress && { ...app.state.progress }; },
    get previewNode() { return app.state.previewNode; },
    get unknownTypes() { return app.unknownTypes || []; },
    get lastLoad() { return app.lastLoad; },
    get extensions() { return app.extensions && JSON.parse(JSON.stringify(app.extensions)); },
    get frames() { return app.renderer.frames; },
    get drawn() { return app.renderer.drawn; },
    get drawMs() { return app.renderer.drawMs; },
    /** Benchmark aid: ms per synchronous redraw of the current view, rasterized (nothing changes). */
    frameCostMs: (n = 20) => {
      const ctx = app.canvas.getContext("2d");
      const t0 = performance.now();
      for (let i = 0; i < n; i++) { app.renderer.draw(); ctx.getImageData(0, 0, 1, 1); }
      return (performance.now() - t0) / n;
    },
    get language() { return languageSetting(); },
    get theme() { return { choice: themeChoice(), effective: effectiveTheme(), canvasBackground: THEME.background }; },
    get suggestions() { return visibleSuggestions(); },
    /** The open mask editor: its settings, mask values (0-255) by image pixel, pixels' page points. */
    get maskEditor() { return maskEditorProbe(); },
    /** The workflow tabs as the bar shows them. */
    get tabs() {
      return app.tabs.tabs.map((x) => ({ title: app.tabs.title(x), path: x.path, modified: x.modified, active: x === app.tabs.current }));
    },
    get lastPromptId() { return app.lastPromptId ?? null; },
    get undoDepth() { return app.undoHistory ? app.undoHistory.index : -1; },
    /** A node's labels as the canvas draws them (in the interface language). */
    labels: (id) => {
      const n = app.graph.getNode(id);
      return {
        title: nodeTitle(n),
        inputs: n.inputs.map((i) => inputName(n.type, i.name)),
        outputs: n.outputs.map((o) => outputName(n.type, o.name)),
        widgets: n.widgets.map((w) => inputName(n.type, w.name)),
      };
    },
    serialize: () => app.graph.serialize(),
    toApi: () => graphToApi(app.graph),
    nodesOfType: (type) => app.graph.nodes.filter((n) => n.type === type).map((n) => n.id),
    slot: (id, isInput, i) => { const n = app.graph.getNode(id); return page(...slotPos(n, isInput, i, [0, 0])); },
    title: (id) => { const n = app.graph.getNode(id); return page(n.pos[0] + Math.min(120, n.size[0] / 2), n.pos[1] - TITLE_H / 2); },
    body: (id) => { const n = app.graph.getNode(id); const b = nodeBounds(n); return page(b[0] + b[2] / 2, b[1] + b[3] - 6); },
    corner: (id) => { const n = app.graph.getNode(id); return page(n.pos[0] + n.size[0] - 4, n.pos[1] + n.size[1] - 4); },
    widget: (id, name, where = "center") => {
      const n = app.graph.getNode(id);
      const i = n.widgets.findIndex((w) => w.name === name);
      const [y, h] = widgetRects(n)[i];
      const x0 = n.pos[0] + 10, w = n.size[0] - 20;
      const x = where === "left" ? x0 + 6 : where === "right" ? x0 + w - 6 : x0 + w / 2;
      return page(x, y + h / 2);
    },
    toPage: page,
    linkMid: (id) => {
      const l = app.graph.links.get(id);
      return page(...linkMidpoint(app.graph.getNode(l.origin_id), l.origin_slot, app.graph.getNode(l.target_id), l.target_slot));
    },
    /** Page point of the middle of image `i` drawn on a node (null until it has loaded). */
    imageCell: (id, i = 0) => { const c = imageCellCentre(app.graph.getNode(id), i); return c && page(...c); },
    /** The pixel-size line drawn under a node's images ("64 × 64", "4 images, 64 × 64"). */
    imageLabel: (id) => imageLabel(app.graph.getNode(id)),
    get lightbox() { return lightboxState(); },
  };
}
