// The editor application: wires the graph model, renderer, interaction, panels, API and files.

import { Api } from "./api.js";
import { Graph, MODE_NORMAL } from "./graph.js";
import { Schema } from "./schema.js";
import { Renderer } from "./renderer.js";
import { Interaction } from "./interaction.js";
import { Panels } from "./panels.js";
import { WorkflowTabs } from "./tabs.js";
import { RunStatus } from "./run_status.js";
import { apiToGraph } from "./convert.js";
import { fitSize, nodeBounds } from "./layout.js";
import { copySelection, installPasteEvent, pasteFromStorage } from "./clipboard.js";
import { chooseFile, installDrop } from "./files.js";
import { followRuns, queueGraph } from "./runner.js";
import { testHook } from "./testhook.js";
import { installTooltips } from "./tooltip.js";
import { initI18n, onLanguageChange, t } from "./i18n.js";
import { initTheme, setTheme } from "./theme.js";
import { LANGUAGE, THEME, loadSettings, setting } from "./settings.js";
import { WorkflowList } from "./workflow_list.js";
import { installAutocomplete } from "./autocomplete.js";
import { PromptLibrary } from "./library.js";
import { ModelPresets } from "./presets.js";
import { loadExtensions } from "./extensions.js";
import { studio } from "./studio_client.js";
import { snapshot } from "./graph_snapshot.js";
import { captureInto } from "./webcam.js";
import { captureRuntime, restoreRuntime } from "./node_runtime_state.js";

const DEFAULT_WORKFLOW = "txt2img.json";

class App {
  constructor() {
    this.api = new Api();
    this.canvas = document.getElementById("graph-canvas");
    this.minimap = document.getElementById("minimap");
    this.view = { x: 0, y: 0, scale: 1 };
    this.state = { selected: new Set(), running: null, progress: null, dragLink: null, box: null, preview: null, previewNode: null };
    this.lastLoad = null;
    this.saveTimer = 0;
  }

  async start() {
    // The theme this browser last showed goes on before the first frame; the server's
    // settings (which win) arrive while the node definitions load.
    initTheme(setting(THEME), () => this.redraw());
    const settingsError = loadSettings(this.api);
    const language = settingsError.then(() => { setTheme(setting(THEME)); return setting(LANGUAGE, "en"); });
    const [info, , settingsProblem] = await Promise.all([this.api.objectInfo(), initI18n(this.api, language), settingsError]);
    this.schema = new Schema(info);
    this.graph = new Graph(this.schema);
    this.graph.onWidgetFed = (node) => fitSize(node); // a widget fed by a wire takes no row
    this.graph.onSocketsChanged = (node) => fitSize(node); // a growing input list showed or hid a socket
    this.renderer = new Renderer(this, this.canvas, this.minimap);
    this.interaction = new Interaction(this);
    installTooltips(this, this.interaction);
    this.panels = new Panels(this);
    this.library = new PromptLibrary(this);
    this.presets = new ModelPresets(this);
    this.workflows = new WorkflowList(this);
    this.tabs = new WorkflowTabs(this);
    this.runStatus = new RunStatus(this);
    if (settingsProblem) this.toast(t("Settings not read from the server (this browser's own are used): {error}", { error: settingsProblem }), "warn");
    installAutocomplete(this.api);
    onLanguageChange(() => {
      this.panels.setStatus(this.panels.remaining ?? 0);
      this.library.render();
      if (!this.presets.panel.hidden) this.presets.refresh();
      this.workflows.render();
      for (const n of this.graph.nodes) fitSize(n); // labels change width with the language
      this.redraw();
    });
    // The canvas follows the window and the toolbar (which wraps onto a second row when narrow).
    new ResizeObserver(() => this.renderer.resize()).observe(this.canvas);
    this.renderer.resize();
    installDrop(this, document.body);
    installPasteEvent(this);
    followRuns(this);
    // This browser tab's workflow tabs come back after a reload; a first visit opens the default.
    if (!(await this.tabs.restore())) {
      this.tabs.open();
      await this.loadDefault();
      this.tabs.markSaved();
    }
    this.api.connect();
    this.extensions = await loadExtensions(this);
    this.ready = true;
    document.body.dataset.ready = "1";
    this.redraw();
  }

  // ---- view --------------------------------------------------------------------------
  toGraph(sx, sy) { return [(sx - this.view.x) / this.view.scale, (sy - this.view.y) / this.view.scale]; }
  toScreen(gx, gy) { return [gx * this.view.scale + this.view.x, gy * this.view.scale + this.view.y]; }
  redraw() { this.renderer?.requestDraw(); }

  zoomAt(sx, sy, k) {
    const v = this.view;
    const scale = Math.min(4, Math.max(0.05, v.scale * k));
    const [gx, gy] = this.toGraph(sx, sy);
    v.scale = scale; v.x = sx - gx * scale; v.y = sy - gy * scale;
    this.viewChanged();
    this.redraw();
  }

  centerOn(gx, gy) {
    this.view.x = this.renderer.width / 2 - gx * this.view.scale;
    this.view.y = this.renderer.height / 2 - gy * this.view.scale;
    this.viewChanged(); this.redraw();
  }

  /** Show `nodes` (all of them unless given) as large as fits, up to 1:1. */
  fitView(nodes = this.graph.nodes) {
    if (!nodes.length) { this.view = Object.assign(this.view, { x: 0, y: 0, scale: 1 }); this.redraw(); return; }
    const b = [0, 0, 0, 0];
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const n of nodes) { nodeBounds(n, b); x0 = Math.min(x0, b[0]); y0 = Math.min(y0, b[1]); x1 = Math.max(x1, b[0] + b[2]); y1 = Math.max(y1, b[1] + b[3]); }
    const w = this.renderer.width, h = this.renderer.height;
    const s = Math.min(1, Math.max(0.05, Math.min((w - 40) / (x1 - x0), (h - 40) / (y1 - y0))));
    this.view.scale = s; this.view.x = (w - (x1 - x0) * s) / 2 - x0 * s; this.view.y = (h - (y1 - y0) * s) / 2 - y0 * s;
    this.viewChanged(); this.redraw();
  }

  viewChanged() {
    this.graph.extra.ds = { offset: [this.view.x, this.view.y], scale: this.view.scale };
    this.scheduleAutosave();
  }

  // ---- edits -------------------------------------------------------------------------
  /** The current tab's undo history. */
  get undoHistory() { return this.tabs?.current?.undo ?? null; }

  /** After an edit: one serialization feeds the undo history, the unsaved marker and autosave. */
  commit() {
    const now = snapshot(this.graph);
    this.undoHistory?.commit(now.text);
    this.tabs?.refreshModified(now.hash);
    this.scheduleAutosave();
    this.redraw();
  }

  scheduleAutosave() {
    clearTimeout(this.saveTimer);
    this.saveTimer = setTimeout(() => this.tabs?.persist(), 300);
  }

  addNode(type, gx, gy) {
    const node = this.schema.createNode(type);
    if (!node) { this.toast(t("Unknown node type {type}", { type }), "error"); return null; }
    node.pos = [Math.round(gx), Math.round(gy)];
    fitSize(node);
    this.graph.add(node);
    this.state.selected.clear();
    this.state.selected.add(node);
    this.redraw();
    return node;
  }

  removeNodes(nodes) {
    for (const n of nodes) { this.graph.remove(n); this.state.selected.delete(n); }
    this.commit();
  }

  toggleMode(nodes, mode) {
    if (!nodes.length) return;
    const all = nodes.every((n) => n.mode === mode);
    for (const n of nodes) n.mode = all ? MODE_NORMAL : mode;
    this.graph.changed();
    this.commit();
  }

  groupSelection() {
    const nodes = [...this.state.selected];
    if (!nodes.length) return;
    const b = [0, 0, 0, 0];
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const n of nodes) { nodeBounds(n, b); x0 = Math.min(x0, b[0]); y0 = Math.min(y0, b[1]); x1 = Math.max(x1, b[0] + b[2]); y1 = Math.max(y1, b[1] + b[3]); }
    this.graph.groups.push({ title: "Group", bounding: [x0 - 10, y0 - 40, x1 - x0 + 20, y1 - y0 + 50], color: "#3f789e" });
    this.graph.changed();
    this.commit();
  }

  copy() { copySelection(this); }

  paste(screenPos) {
    const [gx, gy] = this.toGraph(...(screenPos || this.interaction.mouse));
    const nodes = pasteFromStorage(this, gx, gy);
    if (nodes.length) this.commit();
  }

  undo() { if (this.undoHistory?.undo()) { this.tabs.refreshModified(); this.redraw(); } }
  redo() { if (this.undoHistory?.redo()) { this.tabs.refreshModified(); this.redraw(); } }

  /** Undo/redo: the graph of a snapshot, with the nodes' outputs, the selection and the view kept. */
  restore(text) {
    const kept = captureRuntime(this.graph);
    const selected = new Set([...this.state.selected].map((n) => n.id));
    const { ds } = this.graph.extra;
    this.graph.load(JSON.parse(text));
    if (ds) this.graph.extra.ds = ds;
    restoreRuntime(this, kept);
    this.state.selected.clear();
    for (const n of this.graph.nodes) {
      this.afterLoadNode(n);
      if (selected.has(n.id)) this.state.selected.add(n);
    }
    this.scheduleAutosave();
  }

  widgetChanged(node, w) {
    if (node.widgets.some((x) => x.type === "UPLOAD" && x.options.target === w.name)) this.loadThumbnail(node);
    fitSize(node); // a longer value (a model name) widens the node
    this.graph.changed();
    this.commit();
  }

  loadThumbnail(node) {
    const up = node.widgets.find((x) => x.type === "UPLOAD");
    const target = up && node.widgets.find((x) => x.name === up.options.target);
    if (!target?.value) { node.thumbnail = null; return; }
    this.showThumbnail(node, { filename: String(target.value), type: "input" }).dataset.value = String(target.value);
  }

  /** Show a file from a server folder as the node's picture; the node fits it once loaded. */
  showThumbnail(node, file) {
    const img = new Image();
    img.onload = () => { fitSize(node); this.redraw(); };
    img.src = this.api.viewUrl(file);
    node.thumbnail = img;
    return img;
  }

  /** A node's button widget: Webcam Capture's capture (the only one so far). */
  async pressButton(node, w) {
    if (w.options?.action !== "webcam") return;
    try {
      await captureInto(this, node);
      this.commit();
    } catch (err) { this.toast(t("Webcam capture failed: {error}", { error: err.message }), "error"); }
  }

  chooseUpload(node, w) { chooseFile("image/*", (file) => this.uploadInto(node, w, file)); }

  async uploadInto(node, w, file) {
    try {
      const r = await this.api.uploadImage(file);
      const name = r.subfolder ? `${r.subfolder}/${r.name}` : r.name;
      const target = node.widgets.find((x) => x.name === w.options.target);
      if (!target.options.values.includes(name)) target.options.values.push(name);
      target.value = name;
      this.widgetChanged(node, target);
    } catch (err) { this.toast(err.message, "error"); }
  }

  /** After a wire is made: a fresh Primitive takes the widget it now feeds. */
  linkMade(link) {
    const origin = this.graph.getNode(link.origin_id), target = this.graph.getNode(link.target_id);
    const inp = target?.inputs[link.target_slot];
    if (origin?.type !== "PrimitiveNode" || origin.widgets.length || !inp?.widget) return;
    const i = target.widgets.findIndex((w) => w.name === inp.widget.name);
    if (i < 0) return;
    const copy = (w) => ({ ...w, options: { ...w.options }, error: null });
    origin.widgets = [{ ...copy(target.widgets[i]), name: "value" }];
    if (target.widgets[i + 1]?.type === "CONTROL") origin.widgets.push({ ...copy(target.widgets[i + 1]), options: { ...target.widgets[i + 1].options, target: "value" } });
    origin.outputs[0].type = inp.type;
    origin.title = inp.widget.name;
    fitSize(origin);
    this.graph.changed();
    this.commit();
  }

  /** The topmost node under a client (page) point, or null. */
  nodeAtClient(cx, cy) {
    const r = this.canvas.getBoundingClientRect();
    const [gx, gy] = this.toGraph(cx - r.left, cy - r.top);
    return this.interaction.hit(gx, gy)?.node ?? null;
  }

  /** Show a widget as an input socket (to wire a value in), or back as a widget. */
  toggleWidgetInput(node, w) {
    const i = node.inputs.findIndex((x) => x.widget?.name === w.name);
    if (i >= 0) {
      this.graph.disconnectInput(node, i);
      node.inputs.splice(i, 1);
      for (const link of this.graph.links.values()) if (link.target_id === node.id && link.target_slot > i) {
        link.target_slot--;
      }
    } else {
      this.widgetInput(node, w);
    }
    fitSize(node);
    this.graph.changed();
    this.commit();
  }

  /** The index of the input socket that feeds widget `w`, made when the widget has none yet. */
  widgetInput(node, w) {
    const i = node.inputs.findIndex((x) => x.widget?.name === w.name);
    if (i >= 0) return i;
    node.inputs.push({ name: w.name, type: w.type, link: null, widget: { name: w.name } });
    return node.inputs.length - 1;
  }

  afterLoadNode(node) {
    fitSize(node);
    // A kept thumbnail can show another file than the widget names now (after an undo).
    const up = node.widgets.find((x) => x.type === "UPLOAD");
    const value = up && node.widgets.find((x) => x.name === up.options.target)?.value;
    if (up && (!node.thumbnail || node.thumbnail.dataset.value !== String(value))) this.loadThumbnail(node);
  }

  // ---- loading -----------------------------------------------------------------------
  finishLoad(unknown, source, { fit = true, quiet = false } = {}) {
    this.state.selected.clear();
    this.state.running = null;
    for (const n of this.graph.nodes) this.afterLoadNode(n);
    if (fit) this.fitView();
    if (unknown.length) this.toast(t("Missing node types (kept as placeholders): {types}", { types: unknown.join(", ") }), "error");
    else if (!quiet) this.toast(t("Loaded {source}", { source: t(source) }), "info");
    this.unknownTypes = unknown;
    this.commit();
    this.renderer.draw();
  }

  loadUi(data, source = "workflow", options = {}) {
    const t0 = performance.now();
    const unknown = this.graph.load(data);
    this.finishLoad(unknown, source, options);
    this.lastLoad = { ms: performance.now() - t0, nodes: this.graph.nodes.length, source };
    return unknown;
  }

  loadApi(prompt, source = "workflow", options = {}) {
    const t0 = performance.now();
    const unknown = apiToGraph(this.graph, this.schema, prompt);
    this.finishLoad(unknown, source, options);
    this.lastLoad = { ms: performance.now() - t0, nodes: this.graph.nodes.length, source };
    return unknown;
  }

  /** The default workflow, in the current tab or (newTab) in a tab of its own. */
  async loadDefault({ newTab = false } = {}) {
    const r = await studio(this.api).template(DEFAULT_WORKFLOW);
    if (!r.ok) { this.toast(t("No default workflow"), "error"); return; }
    // Model names in the shipped file may not exist here: take the first available file
    // (before the graph is laid out, so the nodes are sized for the names they show).
    for (const entry of Object.values(r.data)) {
      const def = this.schema.defs[entry?.class_type];
      if (!def) continue;
      for (const [name, spec] of this.schema.inputsOf(def)) {
        const values = spec[0];
        if (Array.isArray(values) && values.length && name in (entry.inputs || {}) && !values.includes(entry.inputs[name])) entry.inputs[name] = values[0];
      }
    }
    const load = () => this.loadApi(r.data, "default workflow", { quiet: true });
    if (newTab) this.tabs.openWith({ title: t("default workflow") }, load);
    else load();
    this.commit();
  }

  /** A new tab with an empty canvas. */
  newTab() {
    this.tabs.open();
    this.view.x = 0; this.view.y = 0; this.view.scale = 1;
    this.tabs.markSaved();
    this.redraw();
  }

  /** Empty the current tab's canvas (undoable). */
  newGraph() {
    this.graph.clear();
    this.state.selected.clear();
    this.view.x = 0; this.view.y = 0; this.view.scale = 1;
    this.commit();
  }

  async refreshDefs(manual = false) {
    try {
      this.schema.update(await this.api.objectInfo());
    } catch (err) { this.toast(err.message, "error"); return; }
    for (const node of this.graph.nodes) {
      const fresh = this.schema.createNode(node.type);
      if (!fresh) continue;
      for (const w of node.widgets) {
        const f = fresh.widgets.find((x) => x.name === w.name);
        if (w.type === "COMBO" && f?.type === "COMBO") w.options.values = f.options.values;
      }
    }
    if (manual) this.toast(t("Node definitions refreshed"), "info");
    this.redraw();
  }

  queue(count = 1, front = false) { return queueGraph(this, count, front); }
  toast(message, kind) { this.panels?.toast(message, kind); }
}

const app = new App();
window.studio = testHook(app);
app.start().catch((err) => {
  console.error(err);
  document.body.dataset.error = String(err);
  app.toast(t("Start failed: {error}", { error: err.message }), "error");
});
