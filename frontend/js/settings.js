// The editor's preferences (language, theme, minimap), kept by the server in the user's
// comfy.settings.json so every browser sees the same choices. The ids carry a "Studio."
// prefix: ComfyUI's frontend shares that file, its Comfy.Locale / Comfy.ColorPalette take
// other values than ours ("en+zh", "system"), and Comfy.Minimap.Visible is its own
// editor's minimap, which a user may want otherwise. This browser's localStorage keeps a copy
// of each, the first guess before the server answers and the fallback when it cannot; the
// server's value wins.

import { errorText } from "./api.js";
import { userData } from "./user_data.js";

export const LANGUAGE = "Studio.Language"; // "en", "zh" or "en+zh"
export const THEME = "Studio.Theme"; // "system", "dark" or "light"
export const MINIMAP = "Studio.Minimap"; // true: shown

// The localStorage key of each copy (language and theme keep the keys they had before the
// server stored them, so a choice made then is not lost).
const CACHE_KEYS = { [LANGUAGE]: "studio.language", [THEME]: "studio.theme", [MINIMAP]: "studio.minimap" };

const values = {};
let client = null;

function readCache(id) {
  let text = null;
  try { text = localStorage.getItem(CACHE_KEYS[id]); } catch { return undefined; }
  if (text === null) return undefined;
  try { return JSON.parse(text); } catch { return text; } // older copies are bare strings
}

function writeCache(id, value) {
  try { localStorage.setItem(CACHE_KEYS[id], JSON.stringify(value)); } catch { /* storage disabled: the server keeps it */ }
}

for (const id of Object.keys(CACHE_KEYS)) {
  const cached = readCache(id);
  if (cached != null) values[id] = cached;
}

/** A preference as known now: the server's once loadSettings has run, else this browser's copy. */
export function setting(id, fallback) { return values[id] ?? fallback; }

/**
 * Read the preferences from the server. On failure the cached copies stay in force and the
 * error text comes back (null on success). A preference only this browser has (chosen
 * before the server kept them) is sent up, so other browsers get it too.
 */
export async function loadSettings(api) {
  client = userData(api);
  const r = await client.settings();
  if (!r.ok || !r.data || typeof r.data !== "object" || Array.isArray(r.data)) return errorText(r);
  for (const id of Object.keys(CACHE_KEYS)) {
    const stored = r.data[id];
    if (stored != null) { values[id] = stored; writeCache(id, stored); }
    else if (values[id] != null) client.setSetting(id, values[id]);
  }
  return null;
}

/** Change a preference here and on the server; the error text if the server did not take it. */
export async function saveSetting(id, value) {
  values[id] = value;
  writeCache(id, value);
  if (!client) return null;
  const r = await client.setSetting(id, value);
  return r.ok ? null : errorText(r);
}
