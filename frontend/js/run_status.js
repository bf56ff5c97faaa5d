// What the page says about the server and the running prompt outside the canvas: a
// connection indicator (connected, reconnecting), a progress bar across the top of the
// canvas, and progress and queue length in the browser tab's title. A lost connection
// clears the running state, so nothing looks busy while the server is away.

import { t } from "./i18n.js";

const BRAND = "SD Studio";

export class RunStatus {
  constructor(app) {
    this.app = app;
    this.connected = false;
    this.lost = false; // the connection dropped since it was last open
    this.queued = 0;
    this.prompt = null; // {id, total, done: Set, fraction}
    this.sizes = new Map(); // prompt id -> node count, for prompts queued from this page
    this.indicator = document.getElementById("connection");
    this.bar = document.querySelector("#run-progress .bar");
    const { api } = app;
    api.on("open", () => this.opened());
    api.on("close", () => this.closed());
    api.on("status", (data) => { this.queued = data?.status?.exec_info?.queue_remaining ?? 0; this.update(); });
    api.on("execution_start", (data) => this.start(data?.prompt_id));
    api.on("execution_cached", (data) => {
      const run = this.run(data?.prompt_id);
      for (const id of data?.nodes || []) run.done.add(String(id));
      this.update();
    });
    api.on("executing", (data) => {
      const run = this.run(data?.prompt_id);
      if (run.current != null) run.done.add(run.current);
      run.current = data?.node == null ? null : String(data.node);
      run.fraction = 0;
      if (data?.node == null) this.prompt = null;
      this.update();
    });
    api.on("progress", (data) => {
      const run = this.run(data?.prompt_id);
      run.fraction = data?.max ? data.value / data.max : 0;
      this.update();
    });
    for (const end of ["execution_success", "execution_error", "execution_interrupted"]) {
      api.on(end, (data) => { if (!this.prompt || this.prompt.id === data?.prompt_id) this.prompt = null; this.update(); });
    }
    this.update();
  }

  /** A prompt this page queued, with its node count (for the overall progress). */
  queuedPrompt(id, nodeCount) { this.sizes.set(id, nodeCount); }

  start(id) {
    this.prompt = { id, total: this.sizes.get(id) || 0, done: new Set(), current: null, fraction: 0 };
    this.sizes.delete(id);
    this.update();
  }

  run(id) {
    if (!this.prompt || (id && this.prompt.id !== id)) this.start(id ?? null);
    return this.prompt;
  }

  opened() {
    if (this.lost) {
      this.app.toast(t("Reconnected to the server"), "info");
      this.app.panels?.refreshQueue();
    }
    this.connected = true;
    this.lost = false;
    this.update();
  }

  closed() {
    if (this.connected) this.app.toast(t("Lost the connection to the server; reconnecting\u2026"), "warn");
    this.connected = false;
    this.lost = true;
    this.prompt = null;
    Object.assign(this.app.state, { running: null, progress: null, preview: null, previewNode: null });
    this.app.redraw();
    this.update();
  }

  /** Overall progress 0..1 of the running prompt (nodes done, plus the running node's steps), or null. */
  progress() {
    const run = this.prompt;
    if (!run) return null;
    if (!run.total) return run.fraction;
    return Math.min(1, (run.done.size + run.fraction) / run.total);
  }

  update() {
    const state = !this.connected ? (this.lost ? "reconnecting" : "connecting") : "connected";
    if (this.indicator) {
      this.indicator.dataset.state = state;
      this.indicator.textContent = { connected: "\u25cf", reconnecting: "\u25cf", connecting: "\u25cb" }[state];
      this.indicator.title = t({ connected: "Connected to the server", reconnecting: "Server unreachable: reconnecting\u2026", connecting: "Connecting to the server\u2026" }[state]);
    }
    const p = this.progress();
    if (this.bar) {
      this.bar.parentElement.hidden = p == null;
      this.bar.style.width = `${Math.round((p ?? 0) * 100)}%`;
    }
    this.updateTitle(p);
  }

  /** "[40%][2] *name - SD Studio": progress, prompts waiting, the current tab (starred when unsaved). */
  updateTitle(p = this.progress()) {
    const tab = this.app.tabs?.current;
    const name = tab ? `${tab.modified ? "*" : ""}${this.app.tabs.title(tab)} - ` : "";
    const running = p == null ? "" : `[${Math.round(p * 100)}%]`;
    const waiting = this.queued > (p == null ? 0 : 1) ? `[${this.queued - (p == null ? 0 : 1)}]` : "";
    const offline = this.lost ? `[${t("offline")}] ` : "";
    const title = `${offline}${running}${waiting}${running || waiting ? " " : ""}${name}${BRAND}`;
    if (document.title !== title) document.title = title;
  }
}
