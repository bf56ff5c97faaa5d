// Queueing the graph and following its run: node errors from a 400, the running node,
// step progress, live previews and output images from the WebSocket.

import { graphToApi } from "./convert.js";
import { applyControls } from "./widgets.js";
import { captureOnQueue } from "./webcam.js";
import { fitSize } from "./layout.js";
import { setOutputImages } from "./node_images.js";
import { keepOutputs } from "./node_runtime_state.js";
import { t } from "./i18n.js";
import { WIDGET_CONTROL_MODE, setting } from "./settings.js";

export function clearErrors(app) {
  for (const node of app.graph.nodes) {
    node.errors = null;
    node.widgets.forEach((w) => { w.error = null; });
    node.inputs.forEach((i) => { i.error = null; });
  }
}

function describe(err) {
  const details = err.details ? `: ${err.details}` : "";
  return `${err.message}${details}`;
}

/** Mark the nodes (and their widgets or sockets) named in a 400's node_errors. */
export function showNodeErrors(app, response) {
  clearErrors(app);
  const errors = response?.node_errors || {};
  let shown = 0;
  for (const [id, entry] of Object.entries(errors)) {
    const node = app.graph.getNode(id);
    if (!node) continue;
    node.errors = (entry.errors || []).map(describe);
    for (const err of entry.errors || []) {
      const name = err.extra_info?.input_name;
      if (!name) continue;
      const w = node.widgets.find((x) => x.name === name);
      if (w) w.error = describe(err);
      const inp = node.inputs.find((x) => x.name === name);
      if (inp) inp.error = describe(err);
    }
    shown++;
  }
  const top = response?.error;
  app.toast(top ? `${top.message}${top.details ? ": " + top.details : ""}` : t("The server refused the prompt"), "error");
  app.redraw();
  return shown;
}

export async function queueGraph(app, count = 1, front = false) {
  let queued = 0;
  const before = setting(WIDGET_CONTROL_MODE) === "before"; // seeds change before the prompt is made
  for (let i = 0; i < count; i++) {
    try { await captureOnQueue(app); } catch (err) {
      app.toast(t("Webcam capture failed: {error}", { error: err.message }), "error");
      break;
    }
    if (before) applyControls(app.graph);
    const prompt = graphToApi(app.graph);
    const workflow = app.graph.serialize();
    let r;
    try { r = await app.api.queuePrompt(prompt, workflow, front); } catch (err) { app.toast(t("Queue failed: {error}", { error: err.message }), "error"); break; }
    if (!r.ok) { showNodeErrors(app, r.data); break; }
    clearErrors(app);
    if (Object.keys(r.data?.node_errors || {}).length) showNodeErrors(app, { ...r.data, error: { message: "Some outputs cannot run" } });
    queued++;
    app.lastPromptId = r.data.prompt_id;
    app.tabs?.current?.prompts.add(r.data.prompt_id);
    app.runStatus?.queuedPrompt(r.data.prompt_id, Object.keys(prompt).length);
    if (!before) applyControls(app.graph);
    app.graph.changed();
    app.commit();
  }
  app.redraw();
  if (queued) app.toast(t(queued > 1 ? "Queued {n} prompts" : "Queued {n} prompt", { n: queued }), "info");
  app.panels.refreshQueue();
  app.refreshDefs();
  return queued;
}

/** The hidden tab a prompt was queued from: its events must not mark the canvas's nodes. */
function elsewhere(app, data) {
  const tab = app.tabs?.tabOfPrompt(data?.prompt_id);
  return tab && tab !== app.tabs.current ? tab : null;
}

export function followRuns(app) {
  const { api, state } = app;
  api.on("status", (data) => app.panels.setStatus(data?.status?.exec_info?.queue_remaining ?? 0));
  api.on("execution_start", () => { clearRunErrors(app); });
  api.on("executing", (data) => {
    if (elsewhere(app, data)) { state.running = null; state.progress = null; app.redraw(); return; }
    const id = data?.node;
    endPreview(app, id);
    state.running = id == null ? null : app.graph.getNode(id)?.id ?? null;
    state.progress = null;
    if (id == null) { state.preview = null; state.previewNode = null; app.panels.refreshQueue(); }
    app.redraw();
  });
  api.on("progress", (data) => { if (elsewhere(app, data)) return; state.progress = { value: data.value, max: data.max }; app.redraw(); });
  api.on("preview", (blob) => {
    const node = app.graph.getNode(state.running);
    if (!node) return;
    const img = new Image();
    img.onload = () => {
      if (state.running !== node.id) { URL.revokeObjectURL(img.src); return; } // it came after the node finished
      if (state.previewUrl) URL.revokeObjectURL(state.previewUrl);
      state.previewUrl = img.src; state.preview = img; state.previewNode = node.id;
      if (!node.preview) { node.preview = true; fitSize(node); }
      app.redraw();
    };
    img.src = URL.createObjectURL(blob);
  });
  api.on("executed", (data) => {
    const hidden = elsewhere(app, data);
    if (hidden) { // shown when that tab is opened again
      const id = data.display_node ?? data.node;
      if (data.output?.images?.length) keepOutputs(hidden.outputs, Number(id), data.output.images);
      return;
    }
    const node = app.graph.getNode(data.display_node ?? data.node);
    const notes = data.output?.text;
    if (node && notes?.length) app.toast(t("{node}: {message}", { node: node.title ?? node.type, message: notes.join("\n") }), "info");
    const images = data.output?.images;
    if (!node || !images?.length) return;
    setOutputImages(app, node, images);
  });
  api.on("execution_error", (data) => {
    const node = elsewhere(app, data) ? null : app.graph.getNode(data.node_id);
    if (node) node.errors = [`${data.exception_type}: ${data.exception_message}`];
    app.toast(t("{node} failed: {error}", { node: data.node_type, error: data.exception_message }), "error");
    state.running = null;
    app.redraw();
  });
  api.on("execution_interrupted", () => { state.running = null; app.toast(t("Interrupted"), "info"); app.redraw(); });
  api.on("open", () => app.panels.refreshQueue());
}

/** The sampler's live preview ends when another node runs: the node gives its room back. */
function endPreview(app, nextId) {
  const { state } = app;
  const node = app.graph.getNode(state.previewNode ?? state.running);
  if (!node?.preview || String(node.id) === String(nextId)) return;
  node.preview = false;
  state.preview = null;
  state.previewNode = null;
  fitSize(node);
}

function clearRunErrors(app) {
  for (const node of app.graph.nodes) if (node.errors && !node.widgets.some((w) => w.error)) node.errors = null;
}
