// Node definitions from GET /object_info, turned into node objects for the graph model.
// A widget is {name, type, value, options}; sockets are {name, type, link} / {name, type, links}.

import { hideGrowingTails, revealNamed } from "./growing_inputs.js";

const WIDGET_TYPES = new Set(["INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"]);
export const CONTROL_VALUES = ["fixed", "increment", "decrement", "randomize"];
const HELPER_WIDGETS = new Set(["CONTROL", "UPLOAD", "BUTTON"]); // the editor's own, not node inputs

/** Whether a widget holds one of the node's input values (the seed's control, the upload
 * and button widgets only help set one). */
export function isValueWidget(w) { return !HELPER_WIDGETS.has(w.type); }

/** The frontend-only pass-through node. */
export const REROUTE = {
  name: "Reroute", display_name: "Reroute", category: "utils", description: "Passes a value through; tidies wires.",
  input: { required: { "": ["*", {}] } }, input_order: { required: [""] }, output: ["*"], output_name: [""], output_node: false,
  frontend_only: true,
};

/** ComfyUI's frontend-only notes: kept in the UI format, never sent to the server. */
const NOTE = (name) => ({
  name, display_name: name === "Note" ? "Note" : "Markdown Note", category: "utils", description: "A note on the canvas.",
  input: { required: { text: ["STRING", { multiline: true, default: "" }] } }, input_order: { required: ["text"] },
  output: [], output_name: [], output_node: false, frontend_only: true,
});
/** ComfyUI's primitive: one value wired into widget inputs of other nodes. */
export const PRIMITIVE = {
  name: "PrimitiveNode", display_name: "Primitive", category: "utils", description: "A value for widget inputs.",
  input: { required: {} }, input_order: { required: [] }, output: ["*"], output_name: ["connect to widget input"],
  output_node: false, frontend_only: true,
};
const FRONTEND_NODES = { Reroute: REROUTE, PrimitiveNode: PRIMITIVE, Note: NOTE("Note"), MarkdownNote: NOTE("MarkdownNote") };

function primitiveWidgets(values) {
  const v = Array.isArray(values) ? values[0] : undefined;
  if (v === undefined) return [];
  const type = typeof v === "boolean" ? "BOOLEAN" : typeof v === "number" ? (Number.isInteger(v) ? "INT" : "FLOAT") : "STRING";
  const widgets = [{ name: "value", type, value: v, options: type === "FLOAT" ? { step: 0.01, round: 0.001 } : {} }];
  if (CONTROL_VALUES.includes(values[1])) widgets.push({ name: "control_after_generate", type: "CONTROL", value: values[1], options: { values: CONTROL_VALUES, target: "value" } });
  return widgets;
}

function comboOptions(spec) {
  if (Array.isArray(spec[0])) return spec[0];
  if (spec[0] === "COMBO") return spec[1]?.options || [];
  return null;
}

/** A widget unless it must come from a link (forceInput, or the older defaultInput). */
export function isWidgetSpec(spec) {
  if (!Array.isArray(spec) || spec[1]?.forceInput || spec[1]?.defaultInput) return false;
  return Array.isArray(spec[0]) || WIDGET_TYPES.has(spec[0]);
}

export class Schema {
  constructor(objectInfo) {
    this.defs = { ...objectInfo, ...FRONTEND_NODES };
  }

  update(objectInfo) {
    this.defs = { ...objectInfo, ...FRONTEND_NODES };
  }

  has(type) { return Object.prototype.hasOwnProperty.call(this.defs, type); }

  list() { return Object.values(this.defs); }

  /** [[name, spec, optional]] in the node's declared input order. */
  inputsOf(def) {
    const out = [];
    for (const group of ["required", "optional"]) {
      const specs = def.input?.[group] || {};
      const order = def.input_order?.[group] || Object.keys(specs);
      for (const name of order) if (specs[name]) out.push([name, specs[name], group === "optional"]);
    }
    return out;
  }

  makeWidget(name, spec) {
    const opts = spec[1] || {};
    const options = comboOptions(spec);
    if (options) {
      const value = opts.default ?? options[0] ?? "";
      return { name, type: "COMBO", value, options: { ...opts, values: options } };
    }
    const type = spec[0];
    let value = opts.default;
    if (value === undefined) value = type === "BOOLEAN" ? false : type === "STRING" ? "" : (opts.min ?? 0);
    return { name, type, value, options: { ...opts } };
  }

  /** A fresh node of `type` (unknown types give null). */
  createNode(type) {
    const def = this.defs[type];
    if (!def) return null;
    const node = {
      id: null, type, title: def.display_name || type, defaultTitle: def.display_name || type,
      pos: [0, 0], size: [0, 0], flags: {}, mode: 0, properties: {}, inputs: [], outputs: [], widgets: [],
      outputNode: !!def.output_node, frontendOnly: !!def.frontend_only,
    };
    for (const [name, spec, optional] of this.inputsOf(def)) {
      if (isWidgetSpec(spec)) {
        const widget = this.makeWidget(name, spec);
        node.widgets.push(widget);
        if (spec[1]?.control_after_generate) {
          node.widgets.push({ name: "control_after_generate", type: "CONTROL", value: "randomize", options: { values: CONTROL_VALUES, target: name } });
        }
        if (spec[1]?.image_upload) {
          node.widgets.push({ name: "upload", type: "UPLOAD", value: "image", options: { target: name } });
        }
      } else {
        node.inputs.push({ name, type: spec[0], link: null, optional, tooltip: spec[1]?.tooltip });
      }
    }
    (def.output || []).forEach((type, i) => {
      node.outputs.push({ name: def.output_name?.[i] ?? type, type, links: [] });
    });
    if (type === "WebcamCapture") node.widgets.push({ name: "capture", type: "BUTTON", value: "", options: { action: "webcam" } });
    hideGrowingTails(node);
    return node;
  }

  /** Widget values in order (array) or by name (object) onto node.widgets. */
  applyWidgetValues(node, values) {
    if (!values) return;
    if (Array.isArray(values)) {
      let k = 0;
      for (const w of node.widgets) {
        if (k >= values.length) break;
        // Workflows written without a control widget: do not shift the rest.
        if (w.type === "CONTROL" && !CONTROL_VALUES.includes(values[k])) continue;
        w.value = values[k++];
      }
    } else if (typeof values === "object") {
      for (const w of node.widgets) if (w.name in values) w.value = values[w.name];
    }
  }

  /** A node from a saved UI-format entry, with maps from saved slot indices to ours. */
  restoreNode(saved) {
    const node = this.createNode(saved.type);
    if (!node) return this.placeholder(saved);
    node.id = saved.id;
    node.title = saved.title ?? node.title;
    node.pos = saved.pos ? [Number(saved.pos[0]) || 0, Number(saved.pos[1]) || 0] : [0, 0];
    node.size = saved.size ? [Number(saved.size[0]), Number(saved.size[1])] : [0, 0];
    node.flags = { ...(saved.flags || {}) };
    node.mode = saved.mode ?? 0;
    node.properties = { ...(saved.properties || {}) };
    if (saved.color) node.color = saved.color;
    if (saved.bgcolor) node.bgcolor = saved.bgcolor;
    if (saved.type === "PrimitiveNode") node.widgets = primitiveWidgets(saved.widgets_values);
    this.applyWidgetValues(node, saved.widgets_values);
    revealNamed(node, (saved.inputs || []).map((inp) => inp.name));
    const inputIndex = [];
    (saved.inputs || []).forEach((inp, k) => {
      let i = node.inputs.findIndex((x) => x.name === inp.name);
      if (i < 0 && inp.widget && inp.link != null) {
        node.inputs.push({ name: inp.name, type: inp.type, link: null, widget: { name: inp.widget.name ?? inp.name } });
        i = node.inputs.length - 1;
      }
      inputIndex[k] = i < 0 ? (inp.widget ? -1 : k) : i;
    });
    const outputIndex = [];
    (saved.outputs || []).forEach((out, k) => {
      const byName = node.outputs.findIndex((x) => x.name === out.name);
      outputIndex[k] = node.outputs[k] && node.outputs[k].type === out.type ? k : byName >= 0 ? byName : k;
    });
    if ((node.type === "Reroute" || node.type === "PrimitiveNode") && saved.outputs?.[0]?.type) node.outputs[0].type = saved.outputs[0].type;
    return { node, inputMap: (k) => inputIndex[k] ?? k, outputMap: (k) => outputIndex[k] ?? k };
  }

  /** An unknown node type: kept with its sockets, links and raw widget values. */
  placeholder(saved) {
    const node = {
      id: saved.id, type: saved.type, title: saved.title ?? saved.type, defaultTitle: saved.type,
      pos: saved.pos ? [Number(saved.pos[0]) || 0, Number(saved.pos[1]) || 0] : [0, 0],
      size: saved.size ? [Number(saved.size[0]) || 240, Number(saved.size[1]) || 80] : [240, 80], flags: { ...(saved.flags || {}) },
      mode: saved.mode ?? 0, properties: { ...(saved.properties || {}) },
      inputs: (saved.inputs || []).map((i) => ({ name: i.name, type: i.type, link: null, ...(i.widget ? { widget: i.widget } : {}) })),
      outputs: (saved.outputs || []).map((o) => ({ name: o.name, type: o.type, links: [] })),
      widgets: [], placeholder: true, rawWidgetsValues: structuredClone(saved.widgets_values ?? []),
    };
    if (saved.color) node.color = saved.color;
    return { node, inputMap: (k) => k, outputMap: (k) => k };
  }

  /** Categories -> node defs, for menus. */
  byCategory() {
    const tree = new Map();
    for (const def of this.list()) {
      const cat = def.category || "other";
      if (!tree.has(cat)) tree.set(cat, []);
      tree.get(cat).push(def);
    }
    return new Map([...tree.entries()].sort((a, b) => a[0].localeCompare(b[0])));
  }
}
