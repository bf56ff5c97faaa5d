// Dark and light themes. "system" (the default) follows the operating system's setting
// and changes with it. CSS reads data-theme on <html>; the canvas reads the THEME palette.
// Remembering the choice is settings.js's job (the Studio.Theme setting).

import { PALETTES, THEME } from "./colors.js";

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

/** Switch to a choice (anything unknown means "system"); nothing happens if it is the current one. */
export function setTheme(value) {
  const next = THEME_CHOICES.includes(value) ? value : "system";
  if (next === choice) return;
  choice = next;
  apply();
}

/** Apply a choice now (before the first frame) and follow the system's changes. */
export function initTheme(initial, changed) {
  onChange = changed || onChange;
  query.addEventListener("change", () => { if (choice === "system") apply(); });
  choice = THEME_CHOICES.includes(initial) ? initial : "system";
  apply();
}
