// UI graph -> API prompt (what POST /prompt carries), and API prompt -> a laid-out graph.

import { MODE_BYPASS, MODE_MUTED, typesCompatible } from "./graph.js";
import { fitSize, TITLE_H } from "./layout.js";
import { isValueWidget } from "./schema.js";

const MAX_HOPS = 100000;

/** Follow a link back through reroutes and bypassed nodes to a real source: [id, slot] or null. */
function resolveSource(graph, node, slot) {
  let src = graph.inputSource(node, slot);
  for (let hops = 0; src && hops < MAX_HOPS; hops++) {
    const origin = src.node;
    if (origin.type === "Reroute") { src = graph.inputSource(origin, 0); continue; }
    if (origin.mode === MODE_MUTED) return null;
    if (origin.mode === MODE_BYPASS) {
      const want = origin.outputs[src.slot]?.type;
      const same = origin.inputs[src.slot];
      let k = same && same.link != null && typesCompatible(same.type, want) ? src.slot : -1;
      if (k < 0) k = origin.inputs.findIndex((i) => i.link != null && typesCompatible(i.type, want));
      if (k < 0) return null;
      src = graph.inputSource(origin, k);
      continue;
    }
    return [String(origin.id), src.slot];
  }
  return null;
}

/** A PrimitiveNode feeding input `slot` (through reroutes), or null. */
function primitiveSource(graph, node, slot) {
  let src = graph.inputSource(node, slot);
  for (let hops = 0; src && src.node.type === "Reroute" && hops < MAX_HOPS; hops++) src = graph.inputSource(src.node, 0);
  return src && src.node.type === "PrimitiveNode" && src.node.widgets.length ? src.node : null;
}

/** The API-format prompt for a graph: muted nodes dropped, bypasses and reroutes wired through. */
export function graphToApi(graph) {
  const prompt = {};
  for (const node of graph.nodes) {
    if (node.type === "Reroute" || node.frontendOnly) continue;
    if (node.mode === MODE_MUTED || node.mode === MODE_BYPASS) continue;
    const inputs = {};
    const linked = new Map();
    node.inputs.forEach((inp, i) => {
      const direct = primitiveSource(graph, node, i);
      if (direct) { linked.set(inp.widget?.name ?? inp.name, direct.widgets[0].value); return; }
      const source = resolveSource(graph, node, i);
      if (inp.widget) { if (source) linked.set(inp.widget.name ?? inp.name, source); return; }
      if (source) inputs[inp.name] = source;
    });
    if (node.placeholder) {
      const values = node.rawWidgetsValues;
      if (values && !Array.isArray(values) && typeof values === "object") Object.assign(inputs, values);
    }
    for (const w of node.widgets) {
      if (!isValueWidget(w)) continue;
      if (linked.has(w.name)) { inputs[w.name] = linked.get(w.name); continue; }
      inputs[w.name] = Array.isArray(w.value) ? { __value__: w.value } : w.value;
    }
    for (const [name, source] of linked) if (!(name in inputs)) inputs[name] = source;
    prompt[String(node.id)] = { class_type: node.type, inputs, _meta: { title: node.title } };
  }
  return prompt;
}

/** Columns by longest path from the sources (iterative), for laying out an API prompt. */
function columns(prompt) {
  const ids = Object.keys(prompt);
  const deps = new Map(ids.map((id) => [id, []]));
  for (const id of ids) {
    for (const v of Object.values(prompt[id].inputs || {})) {
      if (Array.isArray(v) && v.length === 2 && deps.has(String(v[0]))) deps.get(id).push(String(v[0]));
    }
  }
  const depth = new Map();
  for (const start of ids) {
    const stack = [[start, 0]];
    while (stack.length) {
      const [id, k] = stack[stack.length - 1];
      if (depth.has(id)) { stack.pop(); continue; }
      const list = deps.get(id);
      if (k < list.length) {
        stack[stack.length - 1][1] = k + 1;
        const d = list[k];
        if (!depth.has(d) && !stack.some((s) => s[0] === d)) stack.push([d, 0]);
      } else {
        depth.set(id, list.reduce((m, d) => Math.max(m, (depth.get(d) ?? -1) + 1), 0));
        stack.pop();
      }
    }
  }
  return depth;
}

/** Build a graph from an API prompt (e.g. a `prompt`-only PNG or a shipped template). */
export function apiToGraph(graph, schema, prompt) {
  graph.clear();
  const depth = columns(prompt);
  const created = new Map();
  const unknown = [];
  const ids = Object.keys(prompt).sort((a, b) => (depth.get(a) - depth.get(b)) || (Number(a) - Number(b)) || a.localeCompare(b));
  for (const id of ids) {
    const entry = prompt[id];
    let node = schema.createNode(entry.class_type);
    if (!node) {
      unknown.push(entry.class_type);
      const consts = {};
      const inputs = [];
      for (const [name, v] of Object.entries(entry.inputs || {})) {
        if (Array.isArray(v) && v.length === 2 && String(v[0]) in prompt) inputs.push({ name, type: "*", link: null });
        else consts[name] = v;
      }
      node = schema.placeholder({ id: Number(id) || null, type: entry.class_type, inputs, outputs: [], widgets_values: consts }).node;
    }
    node.id = Number.isFinite(Number(id)) ? Number(id) : null;
    if (entry._meta?.title) node.title = entry._meta.title;
    for (const w of node.widgets) {
      if (w.name in (entry.inputs || {})) {
        const v = entry.inputs[w.name];
        if (!(Array.isArray(v) && v.length === 2 && String(v[0]) in prompt)) w.value = v && v.__value__ ? v.__value__ : v;
      }
      if (w.type === "CONTROL") w.value = "fixed";
    }
    graph.add(node);
    fitSize(node);
    created.set(id, node);
  }
  // Placeholder outputs: as many as the largest slot anyone reads from them.
  for (const entry of Object.values(prompt)) for (const v of Object.values(entry.inputs || {})) {
    if (Array.isArray(v) && v.length === 2) {
      const origin = created.get(String(v[0]));
      if (origin?.placeholder) while (origin.outputs.length <= v[1]) origin.outputs.push({ name: "*", type: "*", links: [] });
    }
  }
  for (const [id, entry] of Object.entries(prompt)) {
    const target = created.get(id);
    for (const [name, v] of Object.entries(entry.inputs || {})) {
      if (!(Array.isArray(v) && v.length === 2)) continue;
      const origin = created.get(String(v[0]));
      if (!origin) continue;
      let slot = target.inputs.findIndex((i) => i.name === name);
      if (slot < 0 && target.widgets.some((w) => w.name === name)) {
        target.inputs.push({ name, type: origin.outputs[v[1]]?.type ?? "*", link: null, widget: { name } });
        slot = target.inputs.length - 1;
      }
      if (slot >= 0) graph.connect(origin, v[1], target, slot);
    }
  }
  layout(graph, ids.map((id) => created.get(id)), depth, ids);
  return unknown;
}

function layout(graph, nodes, depth, ids) {
  const colY = new Map();
  const colW = new Map();
  nodes.forEach((n, k) => { const c = depth.get(ids[k]); colW.set(c, Math.max(colW.get(c) || 0, n.size[0])); });
  const colX = new Map();
  let x = 40;
  for (const c of [...colW.keys()].sort((a, b) => a - b)) { colX.set(c, x); x += colW.get(c) + 60; }
  nodes.forEach((n, k) => {
    const c = depth.get(ids[k]);
    const y = colY.get(c) ?? 60;
    n.pos = [colX.get(c), y + TITLE_H];
    colY.set(c, y + TITLE_H + n.size[1] + 40);
  });
  graph.changed();
}
