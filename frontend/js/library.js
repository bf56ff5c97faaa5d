// The prompt library panel: categorised snippets (labels in the interface language,
// English prompt text). Click adds a snippet to the positive prompt; right-click or
// Shift+click to the negative one. The user's own snippets are stored by the server in
// user/prompt_library.json, so they survive updates.

import { addToPrompt } from "./prompts.js";
import { localised, t } from "./i18n.js";
import { errorText } from "./api.js";
import { studio } from "./studio_client.js";

const $ = (sel) => document.querySelector(sel);
const NEW_CATEGORY = "\u0000new";

export class PromptLibrary {
  constructor(app) {
    this.app = app;
    this.categories = [];
    this.panel = $("#library-panel");
    $("#library-button").addEventListener("click", () => this.toggle());
    $("#snippet-add").addEventListener("click", () => this.addSnippet());
    $("#snippet-category").addEventListener("change", () => {
      $("#snippet-new-category").hidden = $("#snippet-category").value !== NEW_CATEGORY;
    });
  }

  toggle(show = this.panel.hidden) {
    this.panel.hidden = !show;
    if (!show) return;
    $("#workflows-panel").hidden = true; // both sit on the left
    this.refresh();
  }

  async refresh() {
    const r = await studio(this.app.api).promptLibrary();
    if (!r.ok) { this.app.toast(t("Prompt library unavailable: {error}", { error: errorText(r) }), "error"); return; }
    this.categories = r.data.categories || [];
    this.render();
  }

  render() {
    if (this.panel.hidden) return;
    const list = $("#library-list");
    list.replaceChildren();
    for (const cat of this.categories) {
      const heading = document.createElement("h4");
      heading.textContent = localised(cat.label || cat.id);
      const box = document.createElement("div");
      box.className = "snippets";
      box.dataset.category = cat.id;
      for (const snippet of cat.snippets || []) box.appendChild(this.snippetButton(snippet));
      list.append(heading, box);
    }
    const select = $("#snippet-category");
    const chosen = select.value;
    select.replaceChildren(...this.categories.map((c) => new Option(localised(c.label || c.id), c.id)), new Option(t("New category…"), NEW_CATEGORY));
    if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
    $("#snippet-new-category").hidden = select.value !== NEW_CATEGORY;
  }

  snippetButton(snippet) {
    const el = document.createElement("span");
    el.className = "snippet" + (snippet.user ? " user" : "");
    el.dataset.id = snippet.id;
    el.textContent = localised(snippet.label) || snippet.text;
    el.title = snippet.text;
    // Keep the prompt editor focused: the snippet goes in at its caret.
    el.addEventListener("mousedown", (e) => e.preventDefault());
    el.addEventListener("click", (e) => {
      if (e.target.classList.contains("remove")) { this.remove(snippet); return; }
      this.insert(snippet, e.shiftKey ? "negative" : "positive");
    });
    el.addEventListener("contextmenu", (e) => { e.preventDefault(); this.insert(snippet, "negative"); });
    if (snippet.user) {
      const remove = document.createElement("span");
      remove.className = "remove";
      remove.textContent = "\u00d7";
      remove.title = t("Delete this snippet");
      el.appendChild(remove);
    }
    return el;
  }

  insert(snippet, role) {
    const done = addToPrompt(this.app, role, snippet.text);
    if (!done) this.app.toast(t(role === "positive" ? "No positive prompt in the graph" : "No negative prompt in the graph"), "warn");
  }

  async addSnippet() {
    let category = $("#snippet-category").value;
    const body = { text: $("#snippet-text").value.trim(), label: $("#snippet-label").value.trim() || undefined };
    if (category === NEW_CATEGORY) {
      const label = $("#snippet-new-category").value.trim();
      category = label.toLowerCase().replace(/[^a-z0-9_-]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 40) || "mine";
      body.category_label = label || category;
    }
    body.category = category;
    const r = await studio(this.app.api).addSnippet(body);
    if (!r.ok) { this.app.toast(t("Snippet not saved: {error}", { error: errorText(r) }), "error"); return; }
    $("#snippet-text").value = "";
    $("#snippet-label").value = "";
    await this.refresh();
    $("#snippet-category").value = category;
  }

  async remove(snippet) {
    const r = await studio(this.app.api).deleteSnippet(snippet.id);
    if (!r.ok) this.app.toast(t("Snippet not deleted: {error}", { error: errorText(r) }), "error");
    await this.refresh();
  }
}
