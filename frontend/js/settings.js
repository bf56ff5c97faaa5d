// The editor's preferences, kept by the server in the user's comfy.settings.json so every
// browser sees the same choices. ComfyUI's frontend shares that file, so a preference
// whose values mean the same in both editors uses ComfyUI's id (Comfy.LinkRenderMode,
// Comfy.ConfirmClear, Comfy.Keybinding.NewBindings, ...) and a change in one editor
// shows in the other. The ids with a "Studio." prefix differ: ComfyUI's Comfy.Locale /
// Comfy.ColorPalette take other values than ours ("en+zh", "system"), Comfy.Minimap.Visible
// is its own editor's minimap, which a user may want otherwise, and it has no autosave
// switch of this kind. This browser's localStorage keeps a copy of each, the first guess
// before the server answers and the fallback when it cannot; the server's value wins.

import { errorText } from "./api.js";
import { userData } from "./user_data.js";

export const LANGUAGE = "Studio.Language"; // "en", "zh" or "en+zh"
export const THEME = "Studio.Theme"; // "system", "dark" or "light"
export const MINIMAP = "Studio.Minimap"; // true: shown
export const AUTOSAVE = "Studio.Autosave"; // true: the open graph is kept in this browser as it changes
export const LINK_RENDER_MODE = "Comfy.LinkRenderMode"; // LiteGraph's numbers: see LINK_MODES
export const SNAP_TO_GRID = "pysssss.SnapToGrid"; // true: moved and resized nodes snap to the grid
export const GRID_SIZE = "Comfy.SnapToGrid.GridSize"; // the snapping step, graph units
export const LINK_RELEASE = "Comfy.LinkRelease.Action"; // a wire dropped on empty canvas
export const WIDGET_CONTROL_MODE = "Comfy.WidgetControlMode"; // seeds change "before" or "after" queueing
export const NODE_ID_BADGE = "Comfy.NodeBadge.NodeIdBadgeMode"; // "None" or "Show all"
export const CONFIRM_CLEAR = "Comfy.ConfirmClear"; // ask before the canvas is cleared
export const TOOLTIPS = "Comfy.EnableTooltips"; // hover help on the canvas
export const NEW_BINDINGS = "Comfy.Keybinding.NewBindings"; // [{commandId, combo}] the user added
export const UNSET_BINDINGS = "Comfy.Keybinding.UnsetBindings"; // default bindings the user removed

export const LINK_MODES = { spline: 2, linear: 1, straight: 0, hidden: -1 };
export const LINK_RELEASE_ACTIONS = ["context menu", "search box", "no action"];

const oneOf = (...choices) => (v) => choices.includes(v);
const isBool = (v) => typeof v === "boolean";
const isBindingList = (v) => Array.isArray(v) && v.every((b) => b && typeof b.commandId === "string" && b.combo && typeof b.combo.key === "string");

/** Every preference: its default here, a check of a stored value (the file is shared, so
 * anything may be in it) and its localStorage key (language and theme keep the keys they
 * had before the server stored them, so a choice made then is not lost). */
const DEFINED = {
  [LANGUAGE]: { fallback: "en", valid: (v) => typeof v === "string" && v !== "", cache: "studio.language" },
  [THEME]: { fallback: "system", valid: oneOf("system", "dark", "light"), cache: "studio.theme" },
  [MINIMAP]: { fallback: true, valid: isBool, cache: "studio.minimap" },
  [AUTOSAVE]: { fallback: true, valid: isBool },
  [LINK_RENDER_MODE]: { fallback: LINK_MODES.spline, valid: oneOf(...Object.values(LINK_MODES)) },
  [SNAP_TO_GRID]: { fallback: false, valid: isBool },
  [GRID_SIZE]: { fallback: 10, valid: (v) => Number.isInteger(v) && v >= 1 && v <= 500 },
  // ComfyUI's own default is the context menu; this editor has always opened the search box.
  [LINK_RELEASE]: { fallback: "search box", valid: oneOf(...LINK_RELEASE_ACTIONS) },
  [WIDGET_CONTROL_MODE]: { fallback: "after", valid: oneOf("before", "after") },
  [NODE_ID_BADGE]: { fallback: "None", valid: oneOf("None", "Show all") },
  [CONFIRM_CLEAR]: { fallback: true, valid: isBool },
  [TOOLTIPS]: { fallback: true, valid: isBool },
  [NEW_BINDINGS]: { fallback: [], valid: isBindingList },
  [UNSET_BINDINGS]: { fallback: [], valid: isBindingList },
};

const cacheKey = (id) => DEFINED[id].cache || `studio.setting.${id}`;
const values = {};
const listeners = new Set();
let client = null;

function readCache(id) {
  let text = null;
  try { text = localStorage.getItem(cacheKey(id)); } catch { return undefined; }
  if (text === null) return undefined;
  try { return JSON.parse(text); } catch { return text; } // older copies are bare strings
}

function writeCache(id, value) {
  try { localStorage.setItem(cacheKey(id), JSON.stringify(value)); } catch { /* storage disabled: the server keeps it */ }
}

function accept(id, value) { return value != null && DEFINED[id].valid(value); }

for (const id of Object.keys(DEFINED)) {
  const cached = readCache(id);
  if (accept(id, cached)) values[id] = cached;
}

/** A preference as known now: the server's once loadSettings has run, else this browser's
 * copy, else `fallback` (when given) or the preference's default. */
export function setting(id, fallback) { return values[id] ?? fallback ?? DEFINED[id]?.fallback; }

/** The default of a preference (what "reset" goes back to). */
export function settingDefault(id) { return DEFINED[id]?.fallback; }

/** fn(id, value) after each change made with saveSetting. */
export function onSettingChange(fn) { listeners.add(fn); }

/** Whether the open graph is autosaved (Studio.Autosave). */
export function autosaveEnabled() { return setting(AUTOSAVE) !== false; }

/**
 * Read the preferences from the server. On failure the cached copies stay in force and the
 * error text comes back (null on success). A preference only this browser has (chosen
 * before the server kept them) is sent up, so other browsers get it too.
 */
export async function loadSettings(api) {
  client = userData(api);
  const r = await client.settings();
  if (!r.ok || !r.data || typeof r.data !== "object" || Array.isArray(r.data)) return errorText(r);
  for (const id of Object.keys(DEFINED)) {
    const stored = r.data[id];
    if (accept(id, stored)) { values[id] = stored; writeCache(id, stored); }
    else if (stored == null && values[id] != null) client.setSetting(id, values[id]);
  }
  return null;
}

/** Change a preference here and on the server; the error text if the server did not take it. */
export async function saveSetting(id, value) {
  values[id] = value;
  writeCache(id, value);
  for (const fn of listeners) fn(id, value);
  if (!client) return null;
  const r = await client.setSetting(id, value);
  return r.ok ? null : errorText(r);
}
