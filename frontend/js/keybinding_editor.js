// The keybinding editor in the settings dialog: every command with its keys; "Change"
// takes the next key combination pressed, "Reset" goes back to the default. A key that
// another command has too is marked, and binding it asks before taking it from that
// command. Changes are kept as ComfyUI keeps them (Comfy.Keybinding.NewBindings and
// .UnsetBindings), so both editors read the same file.

import { COMMANDS } from "./commands.js";
import { DEFAULT_BINDINGS, comboId, comboLabel, effectiveBindings, eventCombo, normalCombo } from "./keybindings.js";
import { NEW_BINDINGS, UNSET_BINDINGS, setting } from "./settings.js";
import { t } from "./i18n.js";

const sameCombo = (a, b) => comboId(a) === comboId(b);
const stored = (combo) => { const n = normalCombo(combo); return { key: n.key, ctrl: n.ctrl, alt: n.alt, shift: n.shift }; };

/** Commands sharing a combo where neither gives way (a command with a `when` yields). */
function conflictsOf(commandId, combo) {
  return effectiveBindings()
    .filter((b) => b.commandId !== commandId && sameCombo(b.combo, combo))
    .map((b) => b.commandId)
    .filter((other, i, all) => all.indexOf(other) === i && !COMMANDS[other]?.when && !COMMANDS[commandId]?.when);
}

/** Remove `commandId`'s binding on `combo` (the user's is dropped, a default one unset). */
function unbind(news, unset, commandId, combo) {
  const mine = news.findIndex((b) => b.commandId === commandId && sameCombo(b.combo, combo));
  if (mine >= 0) news.splice(mine, 1);
  const fallback = DEFAULT_BINDINGS.find((b) => b.commandId === commandId && sameCombo(b.combo, combo));
  if (fallback && !unset.some((u) => u.commandId === commandId && sameCombo(u.combo, combo))) unset.push({ commandId, combo: stored(fallback.combo) });
}

async function save(app, news, unset) {
  await app.panels.remember(NEW_BINDINGS, news);
  await app.panels.remember(UNSET_BINDINGS, unset);
}

/** Bind `combo` to `commandId` in place of its present keys, taking it from `others`. */
async function rebind(app, commandId, combo, others) {
  const news = [...setting(NEW_BINDINGS)], unset = [...setting(UNSET_BINDINGS)];
  for (const b of effectiveBindings()) {
    if (b.commandId === commandId || (others.includes(b.commandId) && sameCombo(b.combo, combo))) unbind(news, unset, b.commandId, b.combo);
  }
  news.push({ commandId, combo: stored(combo) });
  await save(app, news, unset);
}

/** Back to the default keys of one command. */
async function reset(app, commandId) {
  const news = setting(NEW_BINDINGS).filter((b) => b.commandId !== commandId);
  const unset = setting(UNSET_BINDINGS).filter((b) => b.commandId !== commandId);
  await save(app, news, unset);
}

/** A row waits for a key combination; Escape gives up. */
function capture(app, row, commandId, done) {
  const box = row.querySelector(".keybinding-capture");
  box.hidden = false;
  box.textContent = t("Press a key combination (Escape cancels)");
  box.tabIndex = 0;
  box.focus();
  const finish = () => { box.removeEventListener("keydown", onKey); box.removeEventListener("blur", done); done(); };
  const onKey = (e) => {
    e.preventDefault();
    e.stopPropagation();
    if (e.key === "Escape") { finish(); return; }
    const combo = eventCombo(e);
    if (!combo) return;
    const others = conflictsOf(commandId, combo);
    if (!others.length) { box.removeEventListener("blur", done); rebind(app, commandId, combo, []); return; }
    box.removeEventListener("keydown", onKey);
    box.removeEventListener("blur", done);
    box.replaceChildren(t("{combo} is bound to: {commands}", { combo: comboLabel(combo), commands: others.map((id) => t(COMMANDS[id].label)).join(", ") }));
    box.classList.add("conflict");
    const take = document.createElement("button");
    take.className = "keybinding-take";
    take.textContent = t("Bind anyway");
    take.addEventListener("click", () => rebind(app, commandId, combo, others));
    const cancel = document.createElement("button");
    cancel.textContent = t("Cancel");
    cancel.addEventListener("click", done);
    box.append(" ", take, " ", cancel);
  };
  box.addEventListener("keydown", onKey);
  box.addEventListener("blur", done);
}

/** Fill `list` with a row per command (re-run after each change). */
export function renderKeybindings(app, list) {
  const bindings = effectiveBindings();
  const news = setting(NEW_BINDINGS), unset = setting(UNSET_BINDINGS);
  const rows = Object.entries(COMMANDS).map(([id, command]) => {
    const row = document.createElement("div");
    row.className = "keybinding-row";
    row.dataset.command = id;
    const name = document.createElement("span");
    name.className = "keybinding-name";
    name.textContent = t(command.label);
    const cid = document.createElement("span");
    cid.className = "setting-id";
    cid.textContent = id;
    const text = document.createElement("span");
    text.className = "setting-text";
    text.append(name, cid);
    const keys = document.createElement("span");
    keys.className = "keybinding-keys";
    const combos = bindings.filter((b) => b.commandId === id).map((b) => b.combo).filter((c, i, all) => all.findIndex((o) => sameCombo(o, c)) === i);
    for (const combo of combos) {
      const chip = document.createElement("kbd");
      chip.textContent = comboLabel(combo);
      chip.dataset.combo = comboId(combo);
      const others = conflictsOf(id, combo);
      if (others.length) {
        chip.classList.add("conflict");
        chip.title = t("Also bound to: {commands}", { commands: others.map((o) => t(COMMANDS[o].label)).join(", ") });
      }
      keys.appendChild(chip);
    }
    const edit = document.createElement("button");
    edit.className = "keybinding-change";
    edit.textContent = t("Change");
    const back = document.createElement("button");
    back.className = "keybinding-reset";
    back.textContent = t("Reset");
    back.hidden = !news.some((b) => b.commandId === id) && !unset.some((b) => b.commandId === id);
    back.addEventListener("click", () => reset(app, id));
    const box = document.createElement("div");
    box.className = "keybinding-capture";
    box.hidden = true;
    edit.addEventListener("click", () => capture(app, row, id, () => renderKeybindings(app, list)));
    row.append(text, keys, edit, back, box);
    row.dataset.search = `${command.label} ${t(command.label)} ${id} ${combos.map(comboLabel).join(" ")}`.toLowerCase();
    return row;
  });
  list.replaceChildren(...rows);
}
