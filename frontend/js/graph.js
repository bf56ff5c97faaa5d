// The graph model: nodes, links, groups, typing and UI-format (0.4 / 1) serialization.
// Knows nothing about drawing; node schemas come in through a Schema (schema.js).

import { dropExtraSpares, keepSpare } from "./growing_inputs.js";

export const MODE_NORMAL = 0;
export const MODE_MUTED = 2;
export const MODE_BYPASS = 4;

/** Can an output of type `out` feed an input of type `inp`? "*" accepts anything; "A,B" lists. */
export function typesCompatible(out, inp) {
  if (!out || !inp) return false;
  if (out === "*" || inp === "*") return true;
  if (out === inp) return true;
  const a = String(out).split(","), b = String(inp).split(",");
  return a.some((t) => b.includes(t));
}

export class Graph {
  constructor(schema) {
    this.schema = schema;
    this.nodes = [];
    this.byId = new Map();
    this.links = new Map();
    this.groups = [];
    this.lastNodeId = 0;
    this.lastLinkId = 0;
    this.extra = {};
    this.config = {};
    this.revision = 0; // bumped on every change; the renderer and autosave watch it
  }

  changed() { this.revision++; }

  getNode(id) { return this.byId.get(Number(id)) ?? this.byId.get(id); }

  /** Add a node object (from schema.createNode); gives it an id when it has none. */
  add(node) {
    if (node.id == null || this.byId.has(node.id)) node.id = ++this.lastNodeId;
    else if (typeof node.id === "number") this.lastNodeId = Math.max(this.lastNodeId, node.id);
    this.nodes.push(node);
    this.byId.set(node.id, node);
    this.changed();
    return node;
  }

  remove(node) {
    node.inputs.forEach((_, i) => this.disconnectInput(node, i));
    node.outputs.forEach((out) => [...(out.links || [])].forEach((id) => this.removeLink(id)));
    this.nodes.splice(this.nodes.indexOf(node), 1);
    this.byId.delete(node.id);
    this.changed();
  }

  /** Move a node to the top of the drawing order. */
  raise(node) {
    const i = this.nodes.indexOf(node);
    if (i >= 0 && i !== this.nodes.length - 1) { this.nodes.splice(i, 1); this.nodes.push(node); }
  }

  /** Propose a connection: returns a reason string when refused, or null when allowed. */
  checkConnect(origin, oslot, target, tslot) {
    const out = origin?.outputs[oslot], inp = target?.inputs[tslot];
    if (!out || !inp) return "no such socket";
    if (origin === target) return "a node cannot feed itself";
    if (!typesCompatible(out.type, inp.type)) return `${out.type} does not fit ${inp.type}`;
    const carried = target.type === "Reroute" && target.outputs[0]?.links?.length ? target.outputs[0].type : "*";
    if (!typesCompatible(out.type, carried)) return `${out.type} does not fit ${carried}`;
    if (this.reaches(target, origin)) return "that would make a cycle";
    return null;
  }

  /** Does data flow from `from` reach `to`? (iterative; no recursion on long chains) */
  reaches(from, to) {
    const seen = new Set([from.id]), stack = [from];
    while (stack.length) {
      const node = stack.pop();
      if (node === to) return true;
      for (const out of node.outputs) for (const id of out.links || []) {
        const next = this.byId.get(this.links.get(id)?.target_id);
        if (next && !seen.has(next.id)) { seen.add(next.id); stack.push(next); }
      }
    }
    return false;
  }

  /** Ids of every node whose data reaches `node` (and its own id); iterative. */
  ancestors(node) {
    const seen = new Set([node.id]), stack = [node];
    while (stack.length) {
      for (const inp of stack.pop().inputs) {
        const origin = this.byId.get(this.links.get(inp.link)?.origin_id);
        if (origin && !seen.has(origin.id)) { seen.add(origin.id); stack.push(origin); }
      }
    }
    return seen;
  }

  /** Make a connection if the type check allows it; returns the link or null. */
  connect(origin, oslot, target, tslot, linkId) {
    if (this.checkConnect(origin, oslot, target, tslot)) return null;
    const replaced = target.inputs[tslot]?.link;
    if (replaced != null) this.removeLink(replaced, true); // the socket stays for the new wire
    const id = linkId != null && !this.links.has(linkId) ? linkId : ++this.lastLinkId;
    this.lastLinkId = Math.max(this.lastLinkId, id);
    const out = origin.outputs[oslot];
    const link = { id, origin_id: origin.id, origin_slot: oslot, target_id: target.id, target_slot: tslot,
      type: out.type === "*" ? target.inputs[tslot].type : out.type };
    this.links.set(id, link);
    (out.links ||= []).push(id);
    target.inputs[tslot].link = id;
    if (target.inputs[tslot].widget) this.onWidgetFed?.(target);
    if (keepSpare(this, target)) this.onSocketsChanged?.(target);
    this.typeReroutes(origin, target);
    this.changed();
    return link;
  }

  /**
   * Reroutes take the type of what they carry (else of what they feed), so their wires
   * check, colour and suggest nodes like the source's; a change runs down a chain of them.
   */
  typeReroutes(...nodes) {
    const seen = new Set();
    const stack = nodes.filter((n) => n?.type === "Reroute");
    while (stack.length) {
      const node = stack.pop();
      if (seen.has(node.id) || !node.outputs[0]) continue;
      seen.add(node.id);
      const feed = node.inputs[0]?.link != null ? this.links.get(node.inputs[0].link) : null;
      let type = feed?.type && feed.type !== "*" ? feed.type : "*";
      const outs = (node.outputs[0].links || []).map((id) => this.links.get(id)).filter(Boolean);
      if (type === "*") type = outs.map((l) => this.byId.get(l.target_id)?.inputs[l.target_slot]?.type).find((x) => x && x !== "*") || "*";
      node.outputs[0].type = type;
      for (const l of outs) {
        if (type !== "*") l.type = type;
        const next = this.byId.get(l.target_id);
        if (next?.type === "Reroute") stack.push(next);
      }
    }
  }

  disconnectInput(node, slot) {
    const id = node.inputs[slot]?.link;
    if (id != null) this.removeLink(id);
  }

  removeLink(id, keepSockets = false) {
    const link = this.links.get(id);
    if (!link) return;
    this.links.delete(id);
    const origin = this.byId.get(link.origin_id), target = this.byId.get(link.target_id);
    const out = origin?.outputs[link.origin_slot];
    if (out?.links) out.links = out.links.filter((l) => l !== id);
    const inp = target?.inputs[link.target_slot];
    if (inp && inp.link === id) inp.link = null;
    if (inp?.widget) this.onWidgetFed?.(target);
    if (!keepSockets && dropExtraSpares(this, target)) this.onSocketsChanged?.(target);
    this.typeReroutes(origin, target);
    this.changed();
  }

  /** The node and slot feeding input `slot` of `node`, or null. */
  inputSource(node, slot) {
    const link = this.links.get(node.inputs[slot]?.link);
    if (!link) return null;
    const origin = this.byId.get(link.origin_id);
    return origin ? { node: origin, slot: link.origin_slot, link } : null;
  }

  clear() {
    this.nodes = []; this.byId.clear(); this.links.clear(); this.groups = [];
    this.lastNodeId = 0; this.lastLinkId = 0; this.extra = {};
    this.changed();
  }

  // ---- UI format -------------------------------------------------------------------

  serializeNode(node, order = 0) {
    const data = {
      id: node.id, type: node.type, pos: [node.pos[0], node.pos[1]], size: [node.size[0], node.size[1]],
      flags: { ...node.flags }, order, mode: node.mode,
      inputs: node.inputs.map((i) => {
        const x = { name: i.name, type: i.type, link: i.link ?? null };
        if (i.widget) x.widget = { ...i.widget };
        return x;
      }),
      outputs: node.outputs.map((o, k) => ({ name: o.name, type: o.type, links: [...(o.links || [])], slot_index: k })),
      properties: { ...node.properties },
      widgets_values: node.placeholder ? structuredClone(node.rawWidgetsValues ?? []) : node.widgets.map((w) => w.value),
    };
    if (node.title !== node.defaultTitle) data.title = node.title;
    if (node.color) data.color = node.color;
    if (node.bgcolor) data.bgcolor = node.bgcolor;
    return data;
  }

  serialize() {
    return {
      last_node_id: this.lastNodeId,
      last_link_id: this.lastLinkId,
      nodes: this.nodes.map((n, i) => this.serializeNode(n, i)),
      links: [...this.links.values()].map((l) => [l.id, l.origin_id, l.origin_slot, l.target_id, l.target_slot, l.type]),
      groups: this.groups.map((g) => ({ title: g.title, bounding: [...g.bounding], color: g.color })),
      config: { ...this.config },
      extra: { ...this.extra },
      version: 0.4,
    };
  }

  /** Replace the graph with a UI-format workflow (0.4 or 1). Returns the unknown types. */
  load(data) {
    if (!data || !Array.isArray(data.nodes)) throw new Error("not a UI-format workflow (no nodes list)");
    this.clear();
    const links = (data.links || []).filter(Boolean).map((l) => Array.isArray(l)
      ? { id: l[0], origin_id: l[1], origin_slot: l[2], target_id: l[3], target_slot: l[4], type: l[5] }
      : { ...l });
    const unknown = new Set();
    const slotMaps = new Map(); // node id -> {inputs: savedIndex->newIndex, outputs: ...}
    for (const saved of data.nodes) {
      const { node, inputMap, outputMap } = this.schema.restoreNode(saved);
      if (node.placeholder) unknown.add(saved.type);
      this.nodes.push(node);
      this.byId.set(node.id, node);
      slotMaps.set(node.id, { inputMap, outputMap });
    }
    for (const node of this.nodes) {
      node.inputs.forEach((i) => { i.link = null; });
      node.outputs.forEach((o) => { o.links = []; });
    }
    for (const l of links) {
      const origin = this.byId.get(l.origin_id), target = this.byId.get(l.target_id);
      if (!origin || !target) continue;
      const oslot = slotMaps.get(origin.id).outputMap(l.origin_slot);
      const tslot = slotMaps.get(target.id).inputMap(l.target_slot);
      const out = origin.outputs[oslot], inp = target.inputs[tslot];
      if (!out || !inp) continue;
      const link = { id: l.id, origin_id: origin.id, origin_slot: oslot, target_id: target.id, target_slot: tslot, type: l.type ?? out.type };
      this.links.set(link.id, link);
      out.links.push(link.id);
      inp.link = link.id;
    }
    for (const node of this.nodes) keepSpare(this, node);
    const state = data.state || {};
    const maxNode = Math.max(0, ...this.nodes.map((n) => Number(n.id) || 0));
    const maxLink = Math.max(0, ...[...this.links.keys()].map(Number));
    this.lastNodeId = Math.max(Number(data.last_node_id ?? state.lastNodeId ?? 0), maxNode);
    this.lastLinkId = Math.max(Number(data.last_link_id ?? state.lastLinkId ?? 0), maxLink);
    this.groups = (data.groups || []).map((g) => ({ title: g.title ?? "Group", bounding: [...(g.bounding || [0, 0, 300, 200])], color: g.color || "#3f789e" }));
    this.config = { ...(data.config || {}) };
    this.extra = { ...(data.extra || {}) };
    this.changed();
    return [...unknown];
  }
}
