// Interface language: English, another language, or both side by side. Translations are
// JSON served by GET /studio/locales/{code} (the shipped files in frontend/locales/{code}/
// merged with the user's own in user/locales/{code}/). English is the key of every
// string, so a missing translation falls back to English. Remembering the choice is
// settings.js's job (the Studio.Language setting).

import { studio } from "./studio_client.js";

const listeners = new Set();
let mode = { code: "en", both: false };
let table = null; // the merged locale of mode.code
let locales = []; // [{code, name}] the server offers

/** Stored form: "en", "zh" or "en+zh". */
function parse(value) {
  const s = String(value || "en");
  if (s.startsWith("en+")) return { code: s.slice(3) || "en", both: true };
  return { code: s, both: false };
}

export function languageSetting() { return mode.code === "en" ? "en" : `${mode.both ? "en+" : ""}${mode.code}`; }

/** The choices for the language menu: English, each locale, and each locale beside English. */
export function languageChoices() {
  const out = [{ value: "en", label: "English" }];
  for (const l of locales) {
    out.push({ value: l.code, label: l.name });
    out.push({ value: `en+${l.code}`, label: `English + ${l.name}` });
  }
  return out;
}

async function fetchLocale(api, code) {
  const r = await studio(api).locale(code);
  return r.ok && r.data && typeof r.data === "object" ? r.data : null;
}

/** The locales on offer and the one the choice needs (English needs none); `choice` may
 * be a promise (the settings still on their way), the list is fetched meanwhile. */
export async function initI18n(api, choice) {
  const [r, value] = await Promise.all([studio(api).locales(), choice]);
  locales = r.ok && Array.isArray(r.data) ? r.data : [];
  const wanted = parse(value);
  if (wanted.code !== "en") {
    table = await fetchLocale(api, wanted.code);
    if (table) mode = wanted;
  }
  applyDom();
}

/** Switch language (value as in languageChoices); false if its locale could not be loaded. */
export async function setLanguage(api, value) {
  const wanted = parse(value);
  if (wanted.code === "en") table = null;
  else if (wanted.code !== mode.code || !table) {
    const loaded = await fetchLocale(api, wanted.code);
    if (!loaded) return false;
    table = loaded;
  }
  mode = wanted;
  applyDom();
  for (const fn of listeners) fn();
  return true;
}

export function onLanguageChange(fn) { listeners.add(fn); }

/** English text and its translation, combined as the mode asks. */
function show(english, translated) {
  if (!translated || translated === english || mode.code === "en") return english;
  return mode.both ? `${english} / ${translated}` : translated;
}

const lookup = (...path) => path.reduce((o, k) => (o && typeof o === "object" ? o[k] : undefined), table);
const str = (v) => (typeof v === "string" && v ? v : undefined);

/** An editor string (button, menu item, message); `vars` fill {name} placeholders. */
export function t(english, vars) {
  let s = show(english, str(lookup("ui", english)));
  if (vars) for (const [k, v] of Object.entries(vars)) s = s.replaceAll(`{${k}}`, String(v));
  return s;
}

export function nodeName(type, english) { return show(english, str(lookup("nodes", type, "display_name"))); }

/** A node's title as drawn: the user's own title as typed, the default one translated. */
export function nodeTitle(node) {
  return node.title === node.defaultTitle ? nodeName(node.type, node.title) : node.title;
}

export function inputName(type, name) {
  return show(name, str(lookup("nodes", type, "inputs", name, "name")) ?? str(lookup("inputs", name)));
}

export function outputName(type, name) {
  return show(name, str(lookup("nodes", type, "outputs", name)) ?? str(lookup("outputs", name)) ?? str(lookup("types", name)));
}

/** A category path, translated segment by segment ("conditioning/controlnet"). */
export function categoryName(category) {
  if (!category) return category;
  return show(category, category.split("/").map((seg) => str(lookup("categories", seg)) ?? seg).join("/"));
}

export function nodeDescription(type, english) { return show(english, str(lookup("nodes", type, "description"))); }

export function inputTooltip(type, name, english) { return show(english, str(lookup("nodes", type, "inputs", name, "tooltip"))); }

export function valueName(value) { return show(String(value), str(lookup("values", String(value)))); }

/** Fill every element marked data-i18n (text), data-i18n-title and data-i18n-placeholder. */
export function applyDom(root = document) {
  document.documentElement.lang = mode.code === "en" || mode.both ? "en" : mode.code;
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
}

/** A label given per language ({en: "Lighting", zh: "光照"}) or as plain text. */
export function localised(labels) {
  if (!labels || typeof labels !== "object") return String(labels ?? "");
  const english = labels.en || Object.values(labels)[0] || "";
  return mode.code === "en" ? english : show(english, labels[mode.code]);
}
