// The settings dialog (toolbar gear, Comfy.ShowSettingsDialog / Ctrl+,): every preference
// by group, searchable, each saved through settings.js (the server's /settings, so other
// browsers and ComfyUI's own editor see it) and in force at once. The keybinding editor is
// its last group.

import { applyDom, languageChoices, languageSetting, setLanguage, t } from "./i18n.js";
import { setTheme, themeChoice } from "./theme.js";
import {
  AUTOSAVE, CONFIRM_CLEAR, GRID_SIZE, LANGUAGE, LINK_MODES, LINK_RELEASE, LINK_RENDER_MODE, MINIMAP,
  NODE_ID_BADGE, SNAP_TO_GRID, THEME, TOOLTIPS, WIDGET_CONTROL_MODE, onSettingChange, setting,
} from "./settings.js";
import { renderKeybindings } from "./keybinding_editor.js";

const choice = (value, label) => ({ value, label });

/** The rows of the dialog. `apply(app, value)` makes a change take effect where reading
 * the setting when needed is not enough; it saves the value itself when it has to adjust it. */
const ITEMS = [
  { group: "Appearance", id: LANGUAGE, label: "Language", options: () => languageChoices().map((c) => choice(c.value, c.label)),
    apply: async (app, value) => {
      if (!(await setLanguage(app.api, value))) { app.toast(t("That language could not be loaded"), "error"); return; }
      app.panels.remember(LANGUAGE, languageSetting());
      app.panels.fillLanguages();
    } },
  { group: "Appearance", id: THEME, label: "Theme", options: () => [choice("system", t("System theme")), choice("dark", t("Dark")), choice("light", t("Light"))],
    apply: (app, value) => { setTheme(value); app.panels.remember(THEME, themeChoice()); document.getElementById("theme-select").value = themeChoice(); } },
  { group: "Appearance", id: LINK_RENDER_MODE, label: "Link render mode",
    options: () => [choice(LINK_MODES.spline, t("Spline")), choice(LINK_MODES.linear, t("Linear")), choice(LINK_MODES.straight, t("Straight")), choice(LINK_MODES.hidden, t("Hidden"))] },
  { group: "Appearance", id: NODE_ID_BADGE, label: "Node ID badges", options: () => [choice("None", t("None")), choice("Show all", t("Show all"))] },
  { group: "Appearance", id: MINIMAP, label: "Minimap", toggle: true, apply: (app, value) => { app.minimap.hidden = !value; } },
  { group: "Appearance", id: TOOLTIPS, label: "Tooltips on the canvas", toggle: true },
  { group: "Canvas", id: SNAP_TO_GRID, label: "Snap to grid", toggle: true },
  { group: "Canvas", id: GRID_SIZE, label: "Grid size", number: { min: 1, max: 500 } },
  { group: "Canvas", id: LINK_RELEASE, label: "Wire dropped on empty canvas",
    options: () => [choice("context menu", t("Context menu")), choice("search box", t("Search box")), choice("no action", t("Nothing"))] },
  { group: "Canvas", id: CONFIRM_CLEAR, label: "Confirm before clearing the canvas", toggle: true },
  { group: "Workflow", id: WIDGET_CONTROL_MODE, label: "Widget value control mode (seeds change)",
    options: () => [choice("after", t("After queueing")), choice("before", t("Before queueing"))] },
  { group: "Workflow", id: AUTOSAVE, label: "Autosave the open workflows", toggle: true },
];

let dialog = null; // {el, app, rows: Map id -> refresh()}

async function change(app, item, value) {
  if (item.apply) await item.apply(app, value);
  if (item.id !== LANGUAGE && item.id !== THEME) await app.panels.remember(item.id, value);
  app.redraw();
}

function control(app, item) {
  if (item.toggle) {
    const box = document.createElement("input");
    box.type = "checkbox";
    box.addEventListener("change", () => change(app, item, box.checked));
    return [box, () => { box.checked = setting(item.id) !== false; }];
  }
  if (item.number) {
    const input = document.createElement("input");
    input.type = "number";
    Object.assign(input, item.number);
    input.addEventListener("change", () => {
      const v = Math.round(Number(input.value));
      if (Number.isFinite(v) && v >= item.number.min && v <= item.number.max) change(app, item, v);
      else input.value = setting(item.id);
    });
    return [input, () => { input.value = setting(item.id); }];
  }
  const select = document.createElement("select");
  let options = [];
  const fill = () => {
    options = item.options();
    select.replaceChildren(...options.map((o, i) => new Option(o.label, String(i))));
    const now = item.id === LANGUAGE ? languageSetting() : item.id === THEME ? themeChoice() : setting(item.id);
    select.value = String(Math.max(0, options.findIndex((o) => o.value === now)));
  };
  select.addEventListener("change", () => change(app, item, options[Number(select.value)].value));
  return [select, fill];
}

function row(app, item) {
  const el = document.createElement("label");
  el.className = "setting-row";
  el.dataset.settingId = item.id;
  const name = document.createElement("span");
  name.className = "setting-name";
  name.dataset.i18n = item.label;
  name.textContent = t(item.label);
  const id = document.createElement("span");
  id.className = "setting-id";
  id.textContent = item.id;
  const text = document.createElement("span");
  text.className = "setting-text";
  text.append(name, id);
  const [input, refresh] = control(app, item);
  input.classList.add("setting-control");
  refresh();
  el.append(text, input);
  el.dataset.search = `${item.label} ${t(item.label)} ${item.id}`.toLowerCase();
  return [el, refresh];
}

function section(title) {
  const el = document.createElement("section");
  el.className = "settings-group";
  el.dataset.group = title;
  const h = document.createElement("h3");
  h.dataset.i18n = title;
  h.textContent = t(title);
  el.appendChild(h);
  return el;
}

/** Show only the rows (settings and commands) that match the query, and their groups. */
function filter(el, query) {
  const q = query.trim().toLowerCase();
  for (const group of el.querySelectorAll(".settings-group")) {
    let any = false;
    for (const r of group.querySelectorAll(".setting-row, .keybinding-row")) {
      r.hidden = !!q && !r.dataset.search.includes(q);
      any ||= !r.hidden;
    }
    group.hidden = !any;
  }
}

export function closeSettingsDialog() {
  dialog?.el.remove();
  dialog = null;
}

/** Open the dialog (or bring back the open one). */
export function openSettingsDialog(app) {
  if (dialog) { dialog.el.querySelector(".settings-search").focus(); return; }
  const backdrop = document.createElement("div");
  backdrop.className = "settings-backdrop";
  backdrop.dataset.keysStay = ""; // keys typed here are not keybindings
  const box = document.createElement("div");
  box.className = "settings-dialog";
  box.tabIndex = -1;
  box.setAttribute("role", "dialog");
  const head = document.createElement("header");
  const title = document.createElement("h2");
  title.dataset.i18n = "Settings";
  const search = document.createElement("input");
  search.type = "search";
  search.className = "settings-search";
  search.dataset.i18nPlaceholder = "Search settings";
  const close = document.createElement("button");
  close.className = "settings-close";
  close.dataset.i18nTitle = "Close";
  close.textContent = "\u00d7";
  head.append(title, search, close);
  const body = document.createElement("div");
  body.className = "settings-body";
  const rows = new Map();
  const groups = new Map();
  for (const item of ITEMS) {
    if (!groups.has(item.group)) { groups.set(item.group, section(item.group)); body.appendChild(groups.get(item.group)); }
    const [el, refresh] = row(app, item);
    groups.get(item.group).appendChild(el);
    rows.set(item.id, refresh);
  }
  const keys = section("Keybindings");
  body.appendChild(keys);
  const keyList = document.createElement("div");
  keys.appendChild(keyList);
  const redrawKeys = () => {
    renderKeybindings(app, keyList);
    filter(body, search.value);
    if (!box.contains(document.activeElement)) box.focus(); // the pressed button may be gone
  };
  redrawKeys();
  box.append(head, body);
  backdrop.appendChild(box);
  document.body.appendChild(backdrop);
  applyDom(backdrop);
  search.addEventListener("input", () => filter(body, search.value));
  close.addEventListener("click", closeSettingsDialog);
  backdrop.addEventListener("mousedown", (e) => { if (e.target === backdrop) closeSettingsDialog(); });
  dialog = { el: backdrop, app, rows, redrawKeys };
  search.focus();
}

// Escape closes the dialog wherever the focus is (a key being captured takes its own Escape).
document.addEventListener("keydown", (e) => {
  if (!dialog || e.key !== "Escape" || e.target?.closest?.(".keybinding-capture")) return;
  e.preventDefault();
  e.stopPropagation();
  closeSettingsDialog();
}, true);

// A change made elsewhere (the toolbar's language and theme menus, the minimap button)
// shows in the open dialog.
onSettingChange((id) => {
  dialog?.rows.get(id)?.();
  if (id.startsWith("Comfy.Keybinding.")) dialog?.redrawKeys();
});
