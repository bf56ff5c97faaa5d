// Workflow files: UI-format save/load, API export, PNG drops, templates (the workflows
// saved on the server are workflow_list.js's, the open tabs' autosave is tabs.js's).

import { graphToApi } from "./convert.js";
import { pngTextChunks } from "./png.js";
import { t } from "./i18n.js";
import { studio } from "./studio_client.js";

function download(name, text) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([text], { type: "application/json" }));
  a.download = name;
  document.body.appendChild(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 0);
}

export function isApiFormat(data) {
  if (!data || typeof data !== "object" || Array.isArray(data) || Array.isArray(data.nodes)) return false;
  const values = Object.values(data);
  return values.length > 0 && values.every((v) => v && typeof v === "object" && typeof v.class_type === "string");
}

/** Which loader a parsed workflow needs: [the app's method, its argument]; throws for neither format. */
function loaderFor(data, source) {
  if (data && Array.isArray(data.nodes)) return ["loadUi", data];
  if (isApiFormat(data)) return ["loadApi", data];
  if (data?.prompt && isApiFormat(data.prompt)) return ["loadApi", data.prompt];
  throw new Error(`${source}: neither a UI-format nor an API-format workflow`);
}

/**
 * Load parsed JSON of either format into a tab of its own (or the current tab when that
 * is blank and untouched; a saved workflow already open is shown where it is). `path`
 * names the saved file (below workflows/) it came from, if any.
 */
export function loadData(app, data, source = "workflow", { path = null } = {}) {
  const [method, arg] = loaderFor(data, source);
  const title = String(source).replace(/\.(json|png)$/i, "");
  let unknown = [];
  app.tabs.openWith({ title, path }, () => { unknown = app[method](arg, source); });
  return unknown;
}

/** Parse a dropped or chosen file (.json or .png) and load the workflow in it. */
export async function loadFile(app, file) {
  try {
    if (file.type === "image/png" || /\.png$/i.test(file.name)) {
      const chunks = pngTextChunks(await file.arrayBuffer());
      if (chunks.workflow) return loadData(app, JSON.parse(chunks.workflow), file.name);
      if (chunks.prompt) return loadData(app, JSON.parse(chunks.prompt), file.name);
      throw new Error(`${file.name} carries no workflow`);
    }
    return loadData(app, JSON.parse(await file.text()), file.name);
  } catch (err) {
    app.toast(t("Could not load {file}: {error}", { file: file.name, error: err.message }), "error");
    return null;
  }
}

/** The graph as a UI-format workflow file, as downloaded and as saved on the server. */
export function workflowText(app) { return JSON.stringify(app.graph.serialize(), null, 1); }

export function saveWorkflow(app, name = "workflow.json") { download(name, workflowText(app)); }

export function exportApi(app, name = "workflow_api.json") { download(name, JSON.stringify(graphToApi(app.graph), null, 1)); }

export function chooseFile(accept, then) {
  const input = document.createElement("input");
  input.type = "file";
  input.accept = accept;
  input.style.display = "none";
  input.addEventListener("change", () => { if (input.files[0]) then(input.files[0]); input.remove(); });
  document.body.appendChild(input);
  input.click();
}

export function installDrop(app, target) {
  target.addEventListener("dragover", (e) => { e.preventDefault(); });
  target.addEventListener("drop", (e) => {
    e.preventDefault();
    const file = e.dataTransfer?.files?.[0];
    if (!file) return;
    // An image dropped on a node with an upload widget (Load Image) is uploaded into it.
    const node = file.type.startsWith("image/") && app.nodeAtClient(e.clientX, e.clientY);
    const upload = node && node.widgets.find((w) => w.type === "UPLOAD");
    if (upload) app.uploadInto(node, upload, file);
    else loadFile(app, file);
  });
}

export async function listTemplates(app) {
  const r = await studio(app.api).templates();
  return r.ok ? r.data : [];
}

export async function openTemplate(app, name) {
  const r = await studio(app.api).template(name);
  if (!r.ok) { app.toast(t("No template {name}", { name }), "error"); return; }
  loadData(app, r.data, name);
}
