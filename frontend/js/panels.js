// The DOM around the canvas: toolbar, templates menu, queue/history panel, toasts.

import { chooseFile, exportApi, listTemplates, loadFile, openTemplate, saveWorkflow, loadData } from "./files.js";
import { showMenu } from "./menu.js";
import { languageChoices, languageSetting, setLanguage, t } from "./i18n.js";
import { setTheme, themeChoice } from "./theme.js";
import { openLightbox } from "./lightbox.js";
import { LANGUAGE, MINIMAP, THEME, saveSetting, setting } from "./settings.js";
import { runCommand } from "./commands.js";
import { refreshWorkers } from "./workers_panel.js";

const $ = (sel) => document.querySelector(sel);
const HISTORY_THUMBS = 5; // per history row; the viewer reaches the rest

export class Panels {
  constructor(app) {
    this.app = app;
    $("#queue-button").addEventListener("click", () => app.queue(Math.max(1, Math.min(100, Number($("#batch-count").value) || 1))));
    $("#refresh-button").addEventListener("click", () => app.refreshDefs(true));
    $("#settings-button").addEventListener("click", () => runCommand(app, "Comfy.ShowSettingsDialog"));
    $("#new-button").addEventListener("click", () => app.newTab());
    $("#default-button").addEventListener("click", () => app.loadDefault({ newTab: true }));
    $("#load-button").addEventListener("click", () => chooseFile(".json,.png,application/json,image/png", (f) => loadFile(app, f)));
    $("#save-button").addEventListener("click", () => app.workflows.saveCurrent());
    $("#download-button").addEventListener("click", () => saveWorkflow(app));
    $("#export-button").addEventListener("click", () => exportApi(app));
    $("#interrupt-button").addEventListener("click", () => app.api.interrupt());
    $("#panel-button").addEventListener("click", () => {
      const show = $("#queue-panel").hidden;
      $("#queue-panel").hidden = !show;
      if (show) $("#presets-panel").hidden = true;
      this.refreshQueue();
    });
    $("#clear-queue-button").addEventListener("click", async () => { await app.api.clearQueue(); this.refreshQueue(); });
    $("#clear-history-button").addEventListener("click", async () => { await app.api.clearHistory(); this.refreshQueue(); });
    $("#help-button").addEventListener("click", () => { $("#help-panel").hidden = !$("#help-panel").hidden; });
    app.minimap.hidden = setting(MINIMAP, true) === false;
    $("#minimap-button").addEventListener("click", () => {
      app.minimap.hidden = !app.minimap.hidden;
      app.redraw();
      this.remember(MINIMAP, !app.minimap.hidden);
    });
    $("#templates-button").addEventListener("click", async (e) => {
      e.stopPropagation();
      const r = e.currentTarget.getBoundingClientRect();
      const list = await listTemplates(app);
      showMenu(list.length ? list.map((x) => ({ label: x.title, action: () => openTemplate(app, x.name) })) : [{ label: t("(none)"), disabled: true }], r.left, r.bottom);
    });
    this.fillLanguages();
    $("#language-select").addEventListener("change", async (e) => {
      if (await setLanguage(app.api, e.target.value)) this.remember(LANGUAGE, languageSetting());
      else app.toast(t("That language could not be loaded"), "error");
      this.fillLanguages();
    });
    $("#theme-select").value = themeChoice();
    $("#theme-select").addEventListener("change", (e) => {
      setTheme(e.target.value);
      this.remember(THEME, themeChoice());
    });
  }

  /** Keep a preference on the server (for every browser); it stays in this one regardless. */
  async remember(id, value) {
    const error = await saveSetting(id, value);
    if (error) this.app.toast(t("Setting kept in this browser only, the server did not take it: {error}", { error }), "warn");
  }

  fillLanguages() {
    const select = $("#language-select");
    select.replaceChildren(...languageChoices().map((c) => new Option(c.label, c.value)));
    select.value = languageSetting();
  }

  setStatus(remaining) {
    this.remaining = remaining;
    $("#queue-size").textContent = t("Queue: {n}", { n: remaining });
    this.refreshQueue();
  }

  toast(message, kind = "info") {
    const el = document.createElement("div");
    el.className = `toast ${kind}`;
    el.textContent = message;
    $("#toasts").appendChild(el);
    setTimeout(() => el.remove(), kind === "error" ? 8000 : 3000);
  }

  async refreshQueue() {
    const panel = $("#queue-panel");
    if (panel.hidden) return;
    const { app } = this;
    const [q, h] = await Promise.all([app.api.getQueue(), app.api.getHistory(30)]);
    const queueList = $("#queue-list"), historyList = $("#history-list");
    queueList.replaceChildren();
    for (const [label, items] of [["running", q.data?.queue_running || []], ["pending", q.data?.queue_pending || []]]) {
      for (const item of items) {
        const row = document.createElement("div");
        row.className = `queue-item ${label}`;
        row.dataset.promptId = item[1];
        row.textContent = `#${item[0]} ${t(label)}`;
        const button = document.createElement("button");
        button.textContent = t(label === "running" ? "Interrupt" : "Cancel");
        button.addEventListener("click", async () => {
          if (label === "running") await app.api.interrupt(item[1]); else await app.api.deleteQueued([item[1]]);
          this.refreshQueue();
        });
        row.appendChild(button);
        queueList.appendChild(row);
      }
    }
    if (!queueList.children.length) queueList.textContent = t("Nothing queued.");
    const numbers = new Map((q.data?.queue_running || []).map((item) => [item[1], item[0]]));
    await refreshWorkers(app.api, $("#workers-list"), $("#workers-heading"), numbers);
    historyList.replaceChildren();
    const entries = Object.entries(h.data || {}).reverse();
    const gallery = []; // every image of every entry, newest first: the viewer pages through them all
    for (const [id, entry] of entries) {
      const row = document.createElement("div");
      row.className = "history-item";
      row.dataset.promptId = id;
      const status = entry.status?.status_str || "?";
      const number = Array.isArray(entry.prompt) ? entry.prompt[0] : "";
      row.append(`#${number} ${t(status)}`);
      const button = document.createElement("button");
      button.textContent = t("Load");
      button.addEventListener("click", () => {
        const workflow = entry.prompt?.[3]?.extra_pnginfo?.workflow;
        if (workflow) loadData(app, workflow, `history #${number}`);
        else if (entry.prompt?.[2]) loadData(app, entry.prompt[2], `history #${number}`);
      });
      row.appendChild(button);
      const images = Object.values(entry.outputs || {}).flatMap((o) => o.images || []);
      if (images.length) row.appendChild(this.thumbnails(images, gallery));
      historyList.appendChild(row);
    }
    if (!entries.length) historyList.textContent = t("No history yet.");
  }

  /** A history entry's images as thumbnails (the first few, then "+N"); each opens the viewer. */
  thumbnails(images, gallery) {
    const { app } = this;
    const box = document.createElement("div");
    box.className = "history-images";
    const first = gallery.length;
    for (const image of images) gallery.push({ url: app.api.viewUrl(image), name: image.filename });
    images.forEach((image, i) => {
      if (i >= HISTORY_THUMBS) return;
      const img = document.createElement("img");
      img.src = gallery[first + i].url;
      img.title = image.filename;
      img.addEventListener("click", () => openLightbox(app, gallery, first + i));
      box.appendChild(img);
    });
    if (images.length > HISTORY_THUMBS) {
      const more = document.createElement("button");
      more.className = "history-more";
      more.textContent = `+${images.length - HISTORY_THUMBS}`;
      more.title = t("Show all {n} images", { n: images.length });
      more.addEventListener("click", () => openLightbox(app, gallery, first + HISTORY_THUMBS));
      box.appendChild(more);
    }
    return box;
  }
}
