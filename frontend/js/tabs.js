// Workflow tabs: several graphs open at once, each with its own undo history, view, saved
// file (in the workflows panel) and unsaved-changes marker. One graph is on the canvas at
// a time; the others wait as serialized JSON with their outputs kept aside. The open tabs
// are written after each change through workspace_store.js, per browser tab.

import { UndoHistory } from "./undo.js";
import { claimSession, loadWorkspace, saveWorkspace } from "./workspace_store.js";
import { confirmBox } from "./dialog.js";
import { showMenu } from "./menu.js";
import { captureRuntime, restoreRuntime } from "./node_runtime_state.js";
import { contentHash, latestSnapshot, snapshot, withView } from "./graph_snapshot.js";
import { t } from "./i18n.js";
import { autosaveEnabled } from "./settings.js";

/** "workflows/a/b.json" -> "b". */
function fileTitle(path) { return String(path).split("/").pop().replace(/\.json$/i, ""); }

export class WorkflowTabs {
  constructor(app) {
    this.app = app;
    this.tabs = [];
    this.active = null;
    this.session = null;
    this.nextId = 1;
    this.bar = document.getElementById("tab-bar");
    this.bar.addEventListener("click", (e) => this.click(e));
    this.bar.addEventListener("auxclick", (e) => { if (e.button === 1) { const tab = this.tabAt(e.target); if (tab) this.close(tab); } });
    this.bar.addEventListener("contextmenu", (e) => {
      const tab = this.tabAt(e.target);
      if (!tab) return;
      e.preventDefault();
      showMenu(this.menu(tab), e.clientX, e.clientY);
    });
  }

  get current() { return this.active; }

  // ---- tabs ----------------------------------------------------------------------------
  make({ title = null, path = null, graph = null, savedHash = null } = {}) {
    const tab = { id: this.nextId++, title, path, graph, savedHash, modified: false, outputs: new Map(), prompts: new Set() };
    tab.undo = new UndoHistory(() => snapshot(this.app.graph).text, (s) => this.app.restore(s));
    return tab;
  }

  title(tab) {
    if (tab.path) return fileTitle(tab.path);
    return tab.title || t("Unsaved workflow");
  }

  /** Open the tabs this browser tab had (a reload), else a copy of the newest record; false when none. */
  async restore() {
    this.session = await claimSession();
    const record = loadWorkspace(this.session.id);
    const stored = (record?.tabs || []).filter((x) => x && x.graph && Array.isArray(x.graph.nodes));
    if (!stored.length) return false;
    this.tabs = stored.map((x) => this.make({ title: x.title, path: x.path, graph: x.graph, savedHash: x.savedHash ?? null }));
    const index = Math.max(0, Math.min(this.tabs.length - 1, Number(record.active) || 0));
    try { this.show(this.tabs[index]); } catch (err) {
      console.warn(err);
      this.tabs = [];
      this.active = null;
      return false;
    }
    this.render();
    return true;
  }

  /** A new, empty tab in front (the caller loads a graph into it). */
  open({ title = null, path = null } = {}) {
    this.stash();
    const tab = this.make({ title, path });
    this.tabs.splice(this.active ? this.tabs.indexOf(this.active) + 1 : this.tabs.length, 0, tab);
    this.active = tab;
    this.app.graph.clear();
    this.app.state.selected.clear();
    this.app.state.running = null;
    tab.undo.reset();
    this.render();
    return tab;
  }

  /**
   * Load a workflow into a tab of its own, or into the current one when that is a blank,
   * untouched tab; a file already open in a tab is shown there. `load` fills the graph.
   */
  openWith({ title = null, path = null }, load) {
    const existing = path && this.tabs.find((x) => x.path === path);
    if (existing) { this.activate(existing); return existing; }
    const reuse = this.active && !this.active.path && !this.active.modified && !this.app.graph.nodes.length;
    const tab = reuse ? this.active : this.open({ title, path });
    Object.assign(tab, { title, path });
    load();
    tab.undo.reset();
    this.markSaved(tab);
    return tab;
  }

  /** Keep the current tab's graph, view and outputs aside. */
  stash() {
    const tab = this.active;
    if (!tab) return;
    tab.graph = this.app.graph.serialize();
    tab.outputs = captureRuntime(this.app.graph);
  }

  /** Put a stashed tab on the canvas. */
  show(tab) {
    const { app } = this;
    this.active = tab;
    app.loadUi(tab.graph, "autosave", { fit: false, quiet: true });
    restoreRuntime(app, tab.outputs);
    const ds = tab.graph.extra?.ds;
    if (ds) Object.assign(app.view, { x: ds.offset[0], y: ds.offset[1], scale: ds.scale });
    else app.fitView();
    if (!tab.undo.states.length) tab.undo.reset();
    const now = snapshot(app.graph);
    if (tab.savedHash == null) tab.savedHash = now.hash;
    tab.graph = null;
    this.refreshModified(now.hash);
    app.redraw();
  }

  activate(tab) {
    if (!tab || tab === this.active) return;
    this.stash();
    this.show(tab);
    this.render();
    this.persist();
  }

  async close(tab) {
    if (tab.modified && !(await confirmBox(t("Close {name}? Its unsaved changes will be lost.", { name: this.title(tab) }), t("Close")))) return false;
    const i = this.tabs.indexOf(tab);
    if (i < 0) return false;
    if (tab === this.active) {
      this.tabs.splice(i, 1);
      this.active = null;
      const next = this.tabs[Math.min(i, this.tabs.length - 1)];
      if (next) this.show(next);
      else { this.open(); this.markSaved(this.active); }
    } else {
      this.tabs.splice(i, 1);
    }
    this.render();
    this.persist();
    return true;
  }

  /** A copy of a tab's graph in a new, unsaved tab. */
  duplicate(tab = this.active) {
    if (tab === this.active) this.stash();
    const graph = JSON.parse(JSON.stringify(tab.graph));
    const title = t("{name} (copy)", { name: this.title(tab) });
    this.openWith({ title }, () => this.app.loadUi(graph, title, { fit: false, quiet: true }));
    const ds = graph.extra?.ds;
    if (ds) { Object.assign(this.app.view, { x: ds.offset[0], y: ds.offset[1], scale: ds.scale }); this.app.redraw(); }
    this.persist();
  }

  menu(tab) {
    return [
      { label: t("Save"), action: () => { this.activate(tab); this.app.workflows.saveCurrent(); } },
      { label: t("Save as"), action: () => { this.activate(tab); this.app.workflows.saveAs(); } },
      { label: t("Duplicate"), action: () => this.duplicate(tab) },
      { label: t("Close"), action: () => this.close(tab) },
      { label: t("Close other tabs"), disabled: this.tabs.length < 2, action: () => this.closeOthers(tab) },
    ];
  }

  async closeOthers(keep) {
    for (const tab of [...this.tabs]) if (tab !== keep && !(await this.close(tab))) return;
  }

  // ---- saved state -----------------------------------------------------------------------
  /** The current graph is what its file (or its opening) holds: no unsaved marker. */
  markSaved(tab = this.active, path = tab?.path) {
    if (!tab) return;
    tab.path = path;
    tab.savedHash = tab === this.active ? snapshot(this.app.graph).hash : contentHash(tab.graph);
    tab.modified = false;
    this.render();
    this.persist();
  }

  /** After an edit: does the current tab now differ from its file? (`hash`: the graph's now, when known.) */
  refreshModified(hash = snapshot(this.app.graph).hash) {
    const tab = this.active;
    if (!tab) return;
    const modified = hash !== tab.savedHash;
    if (modified !== tab.modified) { tab.modified = modified; this.render(); }
  }

  /** A file was renamed or deleted on the server: the tab showing it follows. */
  fileMoved(path, dest) {
    for (const tab of this.tabs) if (tab.path === path) { tab.path = dest; if (!dest) tab.modified = true; }
    this.render();
    this.persist();
  }

  tabOfPath(path) { return this.tabs.find((x) => x.path === path) || null; }

  /** The tab a prompt was queued from, or null for a prompt this page did not queue. */
  tabOfPrompt(promptId) { return this.tabs.find((x) => x.prompts.has(promptId)) || null; }

  /** Keep the open tabs for a reload (unless the user turned autosave off in the settings). */
  persist() {
    if (!this.session || !this.active || !autosaveEnabled()) return;
    const { graph } = this.app;
    const current = withView(latestSnapshot(graph).data, graph.extra.ds); // after an edit: its commit's serialization
    const tabs = this.tabs.map((tab) => ({
      title: tab.title, path: tab.path, savedHash: tab.savedHash,
      graph: tab === this.active ? current : tab.graph,
    }));
    saveWorkspace(this.session.id, { active: this.tabs.indexOf(this.active), tabs });
  }

  // ---- the bar ---------------------------------------------------------------------------
  tabAt(el) {
    const id = Number(el.closest?.(".tab")?.dataset.tab);
    return this.tabs.find((x) => x.id === id) || null;
  }

  click(e) {
    if (e.target.closest(".tab-new")) { this.open(); this.markSaved(this.active); return; }
    const tab = this.tabAt(e.target);
    if (!tab) return;
    if (e.target.closest(".tab-close")) this.close(tab);
    else this.activate(tab);
  }

  render() {
    const items = this.tabs.map((tab) => {
      const el = document.createElement("div");
      el.className = "tab" + (tab === this.active ? " active" : "") + (tab.modified ? " modified" : "");
      el.dataset.tab = tab.id;
      el.title = tab.path ? `workflows/${tab.path}` : t("Not saved on the server yet");
      const name = document.createElement("span");
      name.className = "tab-title";
      name.textContent = this.title(tab);
      const dirty = document.createElement("span");
      dirty.className = "tab-dirty";
      dirty.textContent = tab.modified ? "\u2022" : "";
      dirty.title = tab.modified ? t("Unsaved changes") : "";
      const close = document.createElement("button");
      close.className = "tab-close";
      close.textContent = "\u00d7";
      close.title = t("Close");
      el.append(name, dirty, close);
      return el;
    });
    const add = document.createElement("button");
    add.className = "tab-new";
    add.textContent = "+";
    add.title = t("New tab");
    this.bar.replaceChildren(...items, add);
    this.app.workflows?.render();
    this.app.runStatus?.updateTitle();
  }
}
