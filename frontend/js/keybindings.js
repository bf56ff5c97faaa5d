// Keys to commands: the default tables (keybindings_data.js) with the user's changes from
// the shared settings, ComfyUI's way: Comfy.Keybinding.UnsetBindings removes default
// bindings, Comfy.Keybinding.NewBindings adds the user's own, which come first. A key may
// be bound to several commands; the first that applies runs.

import { CORE_KEYBINDINGS, STUDIO_KEYBINDINGS } from "./keybindings_data.js";
import { COMMANDS, runCommand } from "./commands.js";
import { NEW_BINDINGS, UNSET_BINDINGS, setting } from "./settings.js";
import { closeEditor, onEditorShortcut } from "./overlay.js";

export const DEFAULT_BINDINGS = [...STUDIO_KEYBINDINGS, ...CORE_KEYBINDINGS];

// Keys a text field needs for itself: any key without Ctrl/Alt, and these with Ctrl.
const TEXT_KEYS = new Set(["a", "c", "v", "x", "z", "y", "backspace", "delete", "arrowleft", "arrowright", "arrowup", "arrowdown", "home", "end"]);
// Mac's Option changes e.key (Alt+C is "ç"): the physical key decides then.
const CODE_KEYS = { Equal: "=", Minus: "-", Period: ".", Comma: ",", Backquote: "`", NumpadAdd: "+", NumpadSubtract: "-" };

/** A combo in one spelling: {key (lower case for letters), ctrl, alt, shift}. */
export function normalCombo(c) {
  const key = c.key.length === 1 ? c.key.toLowerCase() : c.key;
  return { key, ctrl: !!(c.ctrl || c.meta), alt: !!c.alt, shift: !!c.shift };
}

export function comboId(c) {
  const n = normalCombo(c);
  return `${n.ctrl ? "Ctrl+" : ""}${n.alt ? "Alt+" : ""}${n.shift ? "Shift+" : ""}${n.key}`;
}

/** How a combo is written for people ("Ctrl+Shift+Enter", "Alt+="). */
export function comboLabel(c) {
  const n = normalCombo(c);
  const names = { " ": "Space", ",": ",", "`": "`" };
  const key = names[n.key] ?? (n.key.length === 1 ? n.key.toUpperCase() : n.key);
  return `${n.ctrl ? "Ctrl+" : ""}${n.alt ? "Alt+" : ""}${n.shift ? "Shift+" : ""}${key}`;
}

const sameBinding = (a, b) => a.commandId === b.commandId && comboId(a.combo) === comboId(b.combo);

/** The bindings in force, in the order they are tried: the user's, then the defaults left. */
export function effectiveBindings() {
  const unset = setting(UNSET_BINDINGS) || [];
  const mine = (setting(NEW_BINDINGS) || []).filter((b) => COMMANDS[b.commandId]);
  const defaults = DEFAULT_BINDINGS.filter((d) => !unset.some((u) => sameBinding(u, d)));
  return [...mine, ...defaults];
}

/** The combo a key event makes (null for a lone modifier key). */
export function eventCombo(e) {
  if (["Control", "Shift", "Alt", "Meta", "AltGraph"].includes(e.key)) return null;
  let key = e.key;
  if (e.altKey && !/^[a-z0-9=+\-.,`]$/i.test(key)) key = CODE_KEYS[e.code] ?? (e.code?.startsWith("Key") ? e.code.slice(3) : key);
  return normalCombo({ key, ctrl: e.ctrlKey || e.metaKey, alt: e.altKey, shift: e.shiftKey });
}

/** The commands bound to a combo, in the order they are tried. */
export function commandsFor(combo) {
  const id = comboId(combo);
  return effectiveBindings().filter((b) => comboId(b.combo) === id).map((b) => b.commandId);
}

/** Whether a combo belongs to the text field it was typed in (and not to a command). */
function keptByTextField(combo) {
  if (!combo.ctrl && !combo.alt) return true;
  return combo.ctrl && !combo.alt && TEXT_KEYS.has(combo.key.toLowerCase());
}

function isTextField(el) {
  return el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable);
}

/** Run the first applicable command bound to the event's combo; true if one ran. */
function dispatch(app, e, combo) {
  for (const id of commandsFor(combo)) {
    if (runCommand(app, id)) { e.preventDefault(); return true; }
  }
  return false;
}

/**
 * Keys on the page run their commands. In a text field only Ctrl/Alt combos that are not
 * text editing run (Ctrl+Enter queues from a prompt box); in the canvas's own editors
 * the text is committed first. Keys typed in a dialog stay in the dialog.
 */
export function installKeybindings(app) {
  document.addEventListener("keydown", (e) => {
    if (e.defaultPrevented || e.isComposing) return;
    if (e.target?.closest?.("[data-keys-stay]")) return;
    const combo = eventCombo(e);
    if (!combo) return;
    if (isTextField(e.target) && keptByTextField(combo)) return;
    dispatch(app, e, combo);
  });
  onEditorShortcut((e) => {
    const combo = eventCombo(e);
    if (!combo || keptByTextField(combo)) return false;
    const applies = (id) => COMMANDS[id] && (!COMMANDS[id].when || COMMANDS[id].when(app));
    if (!commandsFor(combo).some(applies)) return false;
    closeEditor(true); // the text goes into its widget before the command (a queued prompt) reads it
    return dispatch(app, e, combo);
  });
}
