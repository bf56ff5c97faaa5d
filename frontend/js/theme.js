// Dark and light themes. "system" (the default) follows the operating system's setting
// and changes with it; an explicit choice is remembered. CSS reads data-theme on <html>;
// the canvas reads the THEME palette.

import { PALETTES, THEME } from "./colors.js";

const KEY = "studio.theme";
export const THEME_CHOICES = ["system", "dark", "light"];
const query = matchMedia("(prefers-color-scheme: light)");
let choice = "system";
let onChange = () => {};

export function themeChoice() { return choice; }

/** The theme in effect: the choice, or the system's when the choice is "system". */
export function effectiveTheme() {
  if (choice === "dark" || choice === "light") return choice;
  return query.matches ? "light" : "dark";
}

function apply() {
  const theme = effectiveTheme();
  document.documentElement.dataset.theme = theme;
  Object.assign(THEME, PALETTES[theme]);
  onChange(theme);
}

export function setTheme(value) {
  choice = THEME_CHOICES.includes(value) ? value : "system";
  if (choice === "system") localStorage.removeItem(KEY); else localStorage.setItem(KEY, choice);
  apply();
}

/** Apply the remembered choice now (before the first frame) and follow system changes. */
export function initTheme(changed) {
  onChange = changed || onChange;
  const saved = localStorage.getItem(KEY);
  choice = THEME_CHOICES.includes(saved) ? saved : "system";
  query.addEventListener("change", () => { if (choice === "system") apply(); });
  apply();
}
