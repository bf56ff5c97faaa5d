// The model library (Workspace.ToggleSidebarTab.model-library): the model files on the
// server by folder (GET /models, /models/{folder}); clicking a checkpoint, LoRA, VAE,
// ControlNet or upscale model adds its loader node with that file chosen.

import { sidePanel, togglePanel } from "./side_panel.js";
import { t } from "./i18n.js";

// The loader node and its file widget for a folder.
const LOADERS = {
  checkpoints: ["CheckpointLoaderSimple", "ckpt_name"],
  loras: ["LoraLoader", "lora_name"],
  vae: ["VAELoader", "vae_name"],
  controlnet: ["ControlNetLoader", "control_net_name"],
  upscale_models: ["UpscaleModelLoader", "model_name"],
};

function addLoader(app, folder, name) {
  const [type, widget] = LOADERS[folder];
  const [gx, gy] = app.toGraph(app.renderer.width / 2, app.renderer.height / 2);
  const node = app.addNode(type, gx - 100, gy - 40);
  if (!node) return;
  const w = node.widgets.find((x) => x.name === widget);
  if (w) w.value = name;
  app.commit();
}

async function render(app, body) {
  body.textContent = t("Loading\u2026");
  const folders = await app.api.json("/models");
  const lists = await Promise.all((folders.data || []).map((f) => app.api.json(`/models/${encodeURIComponent(f)}`)));
  const groups = [];
  (folders.data || []).forEach((folder, i) => {
    const files = Array.isArray(lists[i].data) ? lists[i].data : [];
    if (!files.length) return;
    const group = document.createElement("details");
    group.className = "library-category";
    group.dataset.folder = folder;
    group.open = true;
    const summary = document.createElement("summary");
    summary.textContent = `${folder} (${files.length})`;
    group.appendChild(summary);
    for (const name of files) {
      const row = document.createElement("div");
      row.className = "library-model" + (LOADERS[folder] ? " loadable" : "");
      row.dataset.name = name;
      row.textContent = name;
      if (LOADERS[folder]) row.addEventListener("click", () => addLoader(app, folder, name));
      group.appendChild(row);
    }
    groups.push(group);
  });
  if (!groups.length) body.textContent = t(folders.ok ? "No model files found." : "The model list could not be read.");
  else body.replaceChildren(...groups);
}

/** Show or hide the model library (re-read each time it opens). */
export function toggleModelLibrary(app) {
  const panel = sidePanel("model-library-panel", "left", "Model library");
  if (togglePanel(panel)) render(app, panel.querySelector(".side-panel-body"));
}
