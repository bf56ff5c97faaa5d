// Copy and paste of selected nodes (with the links between them), across tabs too:
// the JSON goes to localStorage and, where allowed, to the system clipboard.

const KEY = "studio.clipboard";
const KIND = "sd-studio/nodes";
let lastKeyPaste = 0;

export function copySelection(app) {
  const nodes = [...app.state.selected];
  if (!nodes.length) return null;
  const ids = new Set(nodes.map((n) => n.id));
  const links = [...app.graph.links.values()].filter((l) => ids.has(l.origin_id) && ids.has(l.target_id))
    .map((l) => [l.id, l.origin_id, l.origin_slot, l.target_id, l.target_slot, l.type]);
  const text = JSON.stringify({ kind: KIND, nodes: nodes.map((n) => app.graph.serializeNode(n)), links });
  try { localStorage.setItem(KEY, text); } catch { /* ignore */ }
  navigator.clipboard?.writeText?.(text).catch(() => {});
  return text;
}

function parse(text) {
  try { const d = JSON.parse(text); return d && d.kind === KIND ? d : null; } catch { return null; }
}

/** Paste at graph point (gx, gy); returns the new nodes. */
export function pasteData(app, data, gx, gy) {
  if (!data?.nodes?.length) return [];
  const minX = Math.min(...data.nodes.map((n) => n.pos[0])), minY = Math.min(...data.nodes.map((n) => n.pos[1]));
  const idMap = new Map(), slotMaps = new Map(), created = [];
  for (const saved of data.nodes) {
    const { node, inputMap, outputMap } = app.schema.restoreNode({ ...saved, id: null });
    node.inputs.forEach((i) => { i.link = null; });
    node.outputs.forEach((o) => { o.links = []; });
    node.id = null;
    node.pos = [Math.round(saved.pos[0] - minX + gx), Math.round(saved.pos[1] - minY + gy)];
    app.graph.add(node);
    idMap.set(saved.id, node);
    slotMaps.set(saved.id, { inputMap, outputMap });
    created.push(node);
  }
  for (const [, o, os, t, ts] of data.links || []) {
    const a = idMap.get(o), b = idMap.get(t);
    if (a && b) app.graph.connect(a, slotMaps.get(o).outputMap(os), b, slotMaps.get(t).inputMap(ts));
  }
  app.state.selected.clear();
  created.forEach((n) => app.state.selected.add(n));
  return created;
}

export function pasteFromStorage(app, gx, gy) {
  lastKeyPaste = performance.now();
  let text = null;
  try { text = localStorage.getItem(KEY); } catch { /* ignore */ }
  return pasteData(app, parse(text), gx, gy);
}

/** The browser's paste event (e.g. from another program): used only when no key paste just ran. */
export function installPasteEvent(app) {
  document.addEventListener("paste", (e) => {
    const tag = e.target?.tagName;
    if (tag === "INPUT" || tag === "TEXTAREA") return;
    if (performance.now() - lastKeyPaste < 500) return;
    const text = e.clipboardData?.getData("text/plain");
    const data = text && parse(text);
    if (!data) return;
    e.preventDefault();
    const [gx, gy] = app.toGraph(...app.interaction.mouse);
    pasteData(app, data, gx, gy);
    app.commit();
  });
}
