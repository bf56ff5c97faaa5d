// Hover help: an input's or widget's tooltip and a node's description, from /object_info
// (unless the Comfy.EnableTooltips setting is off).

import { inputTooltip, nodeDescription, t } from "./i18n.js";
import { TOOLTIPS, setting } from "./settings.js";

let el = null;
let timer = 0;

function hide() {
  clearTimeout(timer);
  if (el) el.hidden = true;
}

function show(text, x, y) {
  if (!el) {
    el = document.createElement("div");
    el.className = "tooltip";
    document.body.appendChild(el);
  }
  el.textContent = text;
  el.style.left = `${x + 14}px`;
  el.style.top = `${y + 14}px`;
  el.hidden = false;
}

/** The help text for what is under a hit ({node, part, index}), or "". */
export function helpText(app, hit) {
  if (!hit) return "";
  const { node } = hit;
  const def = app.schema.defs[node.type];
  if (!def) return node.placeholder ? t("Unknown node type {type}: no server node of that name.", { type: node.type }) : "";
  const specOf = (name) => def.input?.required?.[name] || def.input?.optional?.[name];
  const tip = (name) => { const text = specOf(name)?.[1]?.tooltip; return text ? inputTooltip(node.type, name, text) : ""; };
  if (hit.part === "input") return tip(node.inputs[hit.index]?.name) || node.inputs[hit.index]?.type || "";
  if (hit.part === "output") return def.output_tooltips?.[hit.index] || node.outputs[hit.index]?.type || "";
  if (hit.part === "widget") {
    const w = node.widgets[hit.index];
    if (w.error) return w.error;
    if (w.type === "CONTROL") return t("What happens to the value before each queueing: fixed, increment, decrement or randomize.");
    return tip(w.name);
  }
  if (hit.part === "title") return def.description ? nodeDescription(node.type, def.description) : "";
  return "";
}

/** Show help after the pointer rests for a moment; hide it as soon as it moves on. */
export function installTooltips(app, interaction) {
  let last = null;
  app.canvas.addEventListener("pointermove", (e) => {
    if (interaction.drag) { hide(); return; }
    const [sx, sy] = interaction.screen(e);
    const hit = interaction.hit(...app.toGraph(sx, sy));
    const key = hit ? `${hit.node.id}:${hit.part}:${hit.index ?? ""}` : null;
    if (key === last) return;
    last = key;
    hide();
    const text = setting(TOOLTIPS) ? helpText(app, hit) : ""; // Comfy.EnableTooltips
    if (text) timer = setTimeout(() => show(text, e.clientX, e.clientY), 500);
  });
  app.canvas.addEventListener("pointerleave", () => { last = null; hide(); });
  app.canvas.addEventListener("pointerdown", () => { last = null; hide(); });
}
