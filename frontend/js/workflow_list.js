// The saved-workflows panel: UI-format workflow files in the user's workflows/ folder on
// the server, the folder ComfyUI's own editor saves into, so both list the same files.
// Save the current tab (again, or under a new name), open a file in a tab, rename,
// duplicate or delete one; files open in a tab are marked, with their unsaved changes.
// Nothing is overwritten or deleted without the user confirming it in the panel.

import { errorText } from "./api.js";
import { loadData, workflowText } from "./files.js";
import { t } from "./i18n.js";
import { userData } from "./user_data.js";

const $ = (sel) => document.querySelector(sel);
const DIR = "workflows";

/** A name as typed -> its file below workflows/ ("my flow" -> "my flow.json"). */
export function workflowFile(name) {
  const clean = String(name).trim().replace(/^\/+/, "");
  return /\.json$/i.test(clean) ? clean : `${clean}.json`;
}

/** A file below workflows/ -> the name shown for it. */
export function workflowName(file) { return file.replace(/\.json$/i, ""); }

function button(label, className, action) {
  const el = document.createElement("button");
  el.className = `small ${className}`;
  el.textContent = label;
  el.addEventListener("click", action);
  return el;
}

export class WorkflowList {
  constructor(app) {
    this.app = app;
    this.files = userData(app.api);
    this.panel = $("#workflows-panel");
    this.entries = null; // [{path, size, modified}] as last listed, or null before the first listing
    this.listError = null;
    this.renaming = null; // the path being renamed
    this.settle = null; // answers the question the panel is asking, if any
    $("#workflows-button").addEventListener("click", () => this.toggle());
    $("#workflows-refresh").addEventListener("click", () => this.refresh());
    $("#workflow-save").addEventListener("click", () => this.save());
    $("#workflow-name").addEventListener("keydown", (e) => { if (e.key === "Enter") this.save(); });
  }

  toggle(show = this.panel.hidden) {
    this.panel.hidden = !show;
    if (!show) { this.ask(null); return; }
    $("#library-panel").hidden = true; // both sit on the left
    this.refresh();
  }

  async refresh() {
    const asked = (this.listings = (this.listings || 0) + 1);
    const r = await this.files.list(DIR);
    if (asked !== this.listings) return; // a newer listing was asked for: an older answer must not replace it
    this.listError = r.ok && Array.isArray(r.data) ? null : errorText(r);
    this.entries = this.listError ? [] : r.data.filter((e) => /\.json$/i.test(e.path));
    this.render();
  }

  render() {
    if (this.panel.hidden || !this.entries) return;
    const list = $("#workflow-list");
    if (this.listError) { list.textContent = t("Saved workflows unavailable: {error}", { error: this.listError }); return; }
    if (!this.entries.length) { list.textContent = t("No saved workflows yet."); return; }
    list.replaceChildren(...this.entries.map((e) => this.row(e)));
  }

  row(entry) {
    const row = document.createElement("div");
    row.className = "workflow-item";
    row.dataset.path = entry.path;
    const name = workflowName(entry.path);
    if (this.renaming === entry.path) {
      const input = document.createElement("input");
      input.type = "text";
      input.className = "workflow-rename-input";
      input.value = name;
      input.addEventListener("keydown", (e) => {
        if (e.key === "Enter") this.rename(entry.path, input.value);
        if (e.key === "Escape") { this.renaming = null; this.render(); }
      });
      row.append(input, button(t("OK"), "workflow-rename-ok", () => this.rename(entry.path, input.value)),
        button(t("Cancel"), "workflow-rename-cancel", () => { this.renaming = null; this.render(); }));
      setTimeout(() => { input.focus(); input.select(); }, 0);
      return row;
    }
    const label = document.createElement("span");
    label.className = "workflow-name";
    label.textContent = name;
    const tab = this.app.tabs?.tabOfPath(entry.path);
    if (tab) {
      row.classList.add("open");
      if (tab.modified) { row.classList.add("modified"); label.textContent = `${name} \u2022`; }
    }
    if (entry.modified) label.title = `${entry.path} \u00b7 ${new Date(entry.modified * 1000).toLocaleString()}`;
    row.append(label,
      button(t("Open"), "workflow-open", () => this.open(entry.path)),
      button(t("Rename"), "workflow-rename", () => { this.renaming = entry.path; this.render(); }),
      button(t("Duplicate"), "workflow-duplicate", () => this.duplicate(entry.path)),
      button(t("Delete"), "workflow-delete", () => this.remove(entry.path)));
    return row;
  }

  /**
   * Show a question with a yes button and Cancel in the panel; resolves true for yes. A
   * newer question (or null, which only clears the box) answers the open one with false.
   */
  ask(message, yesLabel) {
    this.settle?.(false);
    const box = $("#workflow-confirm");
    box.replaceChildren();
    box.hidden = true;
    if (!message) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (answer) => {
        if (this.settle !== done) return;
        this.settle = null;
        box.replaceChildren();
        box.hidden = true;
        resolve(answer);
      };
      this.settle = done;
      const text = document.createElement("p");
      text.textContent = message;
      const buttons = document.createElement("div");
      buttons.className = "row";
      buttons.append(button(yesLabel, "workflow-confirm-yes", () => done(true)), button(t("Cancel"), "workflow-confirm-no", () => done(false)));
      box.append(text, buttons);
      box.hidden = false;
    });
  }

  /** Save the current tab to its file (Ctrl+S); a tab without one asks for a name. */
  async saveCurrent() {
    const tab = this.app.tabs.current;
    if (!tab?.path) { this.saveAs(); return; }
    const r = await this.files.write(`${DIR}/${tab.path}`, workflowText(this.app), { overwrite: true });
    if (!r.ok) { this.app.toast(t("Workflow not saved: {error}", { error: errorText(r) }), "error"); return; }
    this.app.tabs.markSaved(tab, tab.path);
    this.app.toast(t("Saved {name}", { name: workflowName(tab.path) }), "info");
    if (!this.panel.hidden) await this.refresh();
  }

  /** Open the panel with the name box ready for a new name. */
  saveAs() {
    this.toggle(true);
    const input = $("#workflow-name");
    input.value = this.app.tabs.title(this.app.tabs.current);
    input.focus();
    input.select();
  }

  /** Save the graph under the typed name; a taken name (even the tab's own file) is
   * replaced only once confirmed. The tab then belongs to that file. */
  async save() {
    const input = $("#workflow-name");
    if (!input.value.trim()) { this.app.toast(t("Name the workflow first."), "error"); input.focus(); return; }
    const file = workflowFile(input.value);
    const name = workflowName(file);
    const path = `${DIR}/${file}`;
    const text = workflowText(this.app);
    const tab = this.app.tabs.current;
    let r = await this.files.write(path, text, { overwrite: false });
    if (r.status === 409) {
      if (!(await this.ask(t("{name} already exists. Replace it?", { name }), t("Replace")))) return;
      r = await this.files.write(path, text, { overwrite: true });
    }
    if (!r.ok) { this.app.toast(t("Workflow not saved: {error}", { error: errorText(r) }), "error"); return; }
    input.value = name;
    const other = this.app.tabs.tabOfPath(file);
    if (other && other !== tab) this.app.tabs.fileMoved(file, null); // that tab's file now holds this graph
    this.app.tabs.markSaved(tab, file);
    this.app.toast(t("Saved {name}", { name }), "info");
    await this.refresh();
  }

  async open(file) {
    const name = workflowName(file);
    const r = await this.files.read(`${DIR}/${file}`);
    try {
      if (!r.ok) throw new Error(errorText(r));
      loadData(this.app, r.data, name, { path: file });
    } catch (err) {
      this.app.toast(t("Could not open {name}: {error}", { name, error: err.message }), "error");
      return;
    }
    $("#workflow-name").value = name; // saving again starts from the name it came from
  }

  async rename(file, newName) {
    if (!newName.trim()) return;
    const dest = workflowFile(newName);
    if (dest === file) { this.renaming = null; this.render(); return; }
    const r = await this.files.move(`${DIR}/${file}`, `${DIR}/${dest}`, { overwrite: false });
    const name = workflowName(dest);
    if (r.status === 409) { this.app.toast(t("A workflow named {name} already exists: choose another name.", { name }), "error"); return; }
    if (!r.ok) { this.app.toast(t("Not renamed: {error}", { error: errorText(r) }), "error"); return; }
    this.renaming = null;
    this.app.tabs.fileMoved(file, dest);
    const typed = $("#workflow-name").value;
    if (typed.trim() && workflowFile(typed) === file) $("#workflow-name").value = name; // the name box follows
    this.app.toast(t("Renamed {old} to {name}", { old: workflowName(file), name }), "info");
    await this.refresh();
  }

  /** A copy of a saved workflow as a new file ("name (copy)", "name (copy 2)", ...), opened in a tab. */
  async duplicate(file) {
    const r = await this.files.read(`${DIR}/${file}`);
    if (!r.ok) { this.app.toast(t("Could not open {name}: {error}", { name: workflowName(file), error: errorText(r) }), "error"); return; }
    const text = JSON.stringify(r.data, null, 1);
    const base = workflowName(file);
    for (let n = 1; n < 100; n++) {
      const copy = workflowFile(n === 1 ? `${base} (copy)` : `${base} (copy ${n})`);
      const w = await this.files.write(`${DIR}/${copy}`, text, { overwrite: false });
      if (w.status === 409) continue;
      if (!w.ok) { this.app.toast(t("Workflow not saved: {error}", { error: errorText(w) }), "error"); return; }
      await this.refresh();
      await this.open(copy);
      return;
    }
  }

  async remove(file) {
    const name = workflowName(file);
    if (!(await this.ask(t("Delete {name}? This cannot be undone.", { name }), t("Delete")))) return;
    const r = await this.files.remove(`${DIR}/${file}`);
    if (!r.ok) this.app.toast(t("Not deleted: {error}", { error: errorText(r) }), "error");
    else { this.app.tabs.fileMoved(file, null); this.app.toast(t("Deleted {name}", { name }), "info"); }
    await this.refresh();
  }
}
