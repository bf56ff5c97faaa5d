// Model presets: per checkpoint (the server keys them by the file's hash), the sampler
// settings, image size, trigger words and negative prompt that suit it, saved from the
// graph and applied back to it in one click.

import { findPrompt } from "./prompts.js";
import { t } from "./i18n.js";
import { errorText } from "./api.js";
import { studio } from "./studio_client.js";

const $ = (sel) => document.querySelector(sel);
const SAMPLER_FIELDS = ["steps", "cfg", "sampler_name", "scheduler"];

const widgetOf = (node, name) => node.widgets.find((w) => w.name === name);
const hasWidgets = (node, names) => names.every((n) => widgetOf(node, n));

/** A short line of what a preset sets. */
export function describePreset(p) {
  const parts = [];
  if (p.steps != null) parts.push(`${t("steps")} ${p.steps}`);
  if (p.cfg != null) parts.push(`cfg ${p.cfg}`);
  if (p.sampler_name) parts.push(p.sampler_name);
  if (p.scheduler) parts.push(p.scheduler);
  if (p.width && p.height) parts.push(`${p.width}\u00d7${p.height}`);
  if (p.trigger_words) parts.push(`${t("trigger words")}: ${p.trigger_words}`);
  if (p.negative_prompt) parts.push(`${t("negative")}: ${p.negative_prompt}`);
  return parts.join(" \u00b7 ");
}

export class ModelPresets {
  constructor(app) {
    this.app = app;
    this.panel = $("#presets-panel");
    this.pendingReplace = null;
    $("#presets-button").addEventListener("click", () => this.toggle());
    $("#preset-model").addEventListener("change", () => this.refresh());
    $("#preset-save").addEventListener("click", () => this.save());
  }

  toggle(show = this.panel.hidden) {
    this.panel.hidden = !show;
    if (!show) return;
    $("#queue-panel").hidden = true; // both sit on the right
    this.fillModels();
    this.refresh();
  }

  samplers() { return this.app.graph.nodes.filter((n) => hasWidgets(n, SAMPLER_FIELDS)); }
  loaders() { return this.app.graph.nodes.filter((n) => widgetOf(n, "ckpt_name")?.type === "COMBO"); }
  latents() { return this.app.graph.nodes.filter((n) => n.type === "EmptyLatentImage" && hasWidgets(n, ["width", "height"])); }

  /** Checkpoint names the server lists, the graph's own checkpoint chosen. */
  fillModels() {
    const spec = this.app.schema.defs.CheckpointLoaderSimple?.input?.required?.ckpt_name;
    const names = Array.isArray(spec?.[0]) ? spec[0] : [];
    const select = $("#preset-model");
    select.replaceChildren(...names.map((n) => new Option(n, n)));
    const current = widgetOf(this.loaders()[0] || { widgets: [] }, "ckpt_name")?.value;
    if (names.includes(current)) select.value = current;
  }

  model() { return $("#preset-model").value; }

  async refresh() {
    const model = this.model();
    const list = $("#preset-list");
    if (!model) { list.textContent = t("No checkpoints found."); return; }
    const r = await studio(this.app.api).presets(model);
    if (model !== this.model()) return;
    if (!r.ok) { list.textContent = errorText(r); return; }
    const presets = r.data.presets || [];
    list.replaceChildren(...presets.map((p) => this.presetRow(p)));
    if (!presets.length) list.textContent = t("No presets for this model yet.");
    $("#preset-capture").textContent = describePreset(this.capture());
  }

  presetRow(p) {
    const row = document.createElement("div");
    row.className = "preset";
    row.dataset.name = p.name;
    const name = document.createElement("div");
    name.className = "preset-name";
    name.textContent = p.name;
    const summary = document.createElement("div");
    summary.className = "preset-summary";
    summary.textContent = describePreset(p);
    const apply = document.createElement("button");
    apply.className = "preset-apply";
    apply.textContent = t("Apply");
    apply.addEventListener("click", () => this.apply(p));
    const remove = document.createElement("button");
    remove.className = "preset-delete";
    remove.textContent = t("Delete");
    remove.addEventListener("click", () => this.remove(p));
    const buttons = document.createElement("div");
    buttons.className = "row";
    buttons.append(apply, remove);
    row.append(name, summary, buttons);
    return row;
  }

  /** The graph's current settings, as a preset would hold them. */
  capture() {
    const out = {};
    const sampler = this.samplers().find((n) => this.app.state.selected.has(n)) || this.samplers()[0];
    if (sampler) for (const f of SAMPLER_FIELDS) out[f] = widgetOf(sampler, f).value;
    const latent = this.latents()[0];
    if (latent) { out.width = widgetOf(latent, "width").value; out.height = widgetOf(latent, "height").value; }
    const negative = findPrompt(this.app, "negative");
    if (negative && $("#preset-negative").checked && negative.widget.value) out.negative_prompt = String(negative.widget.value);
    const triggers = $("#preset-triggers").value.trim();
    if (triggers) out.trigger_words = triggers;
    return out;
  }

  async save() {
    const name = $("#preset-name").value.trim();
    const body = { model: this.model(), preset: { name, ...this.capture() } };
    if (this.pendingReplace === `${body.model}\u0000${name}`) body.replace = true;
    const r = await studio(this.app.api).savePreset(body);
    if (r.status === 409) {
      this.pendingReplace = `${body.model}\u0000${name}`;
      this.app.toast(t("A preset named {name} exists: press Save again to replace it.", { name }), "warn");
      return;
    }
    this.pendingReplace = null;
    if (!r.ok) { this.app.toast(t("Preset not saved: {error}", { error: errorText(r) }), "error"); return; }
    this.app.toast(t("Saved preset {name}", { name }), "info");
    await this.refresh();
  }

  async remove(p) {
    const r = await studio(this.app.api).deletePreset(this.model(), p.name);
    if (!r.ok) this.app.toast(t("Preset not deleted: {error}", { error: errorText(r) }), "error");
    await this.refresh();
  }

  /** Set the graph's checkpoint, sampler settings, size, trigger words and negative prompt. */
  apply(p) {
    const { app } = this;
    const set = (node, name, value) => {
      const w = widgetOf(node, name);
      if (!w || value == null) return;
      if (w.type === "COMBO" && !w.options.values.includes(value)) return;
      w.value = value;
      w.error = null;
    };
    for (const loader of this.loaders()) set(loader, "ckpt_name", this.model());
    for (const sampler of this.samplers()) for (const f of SAMPLER_FIELDS) set(sampler, f, p[f]);
    for (const latent of this.latents()) { set(latent, "width", p.width); set(latent, "height", p.height); }
    const positive = findPrompt(app, "positive");
    if (p.trigger_words && positive && !String(positive.widget.value).includes(p.trigger_words)) {
      const rest = String(positive.widget.value || "").replace(/^[\s,]+/, "");
      positive.widget.value = rest ? `${p.trigger_words}, ${rest}` : p.trigger_words;
    }
    const negative = findPrompt(app, "negative");
    if (p.negative_prompt && negative) negative.widget.value = p.negative_prompt;
    app.graph.changed();
    app.commit();
    app.toast(t("Applied preset {name}", { name: p.name }), "info");
  }
}
