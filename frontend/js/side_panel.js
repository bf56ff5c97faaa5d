// Panels made on first use beside the canvas (the node and model libraries): one on each
// side at a time, like the panels in index.html.

import { t } from "./i18n.js";

/** The panel of this id, made (hidden, with a heading) if it is not there yet. */
export function sidePanel(id, side, title) {
  let panel = document.getElementById(id);
  if (panel) return panel;
  panel = document.createElement("aside");
  panel.id = id;
  panel.className = `panel ${side}`;
  panel.hidden = true;
  const heading = document.createElement("h3");
  heading.dataset.i18n = title;
  heading.textContent = t(title);
  const body = document.createElement("div");
  body.className = "side-panel-body";
  panel.append(heading, body);
  document.getElementById("stage").appendChild(panel);
  return panel;
}

/** Show or hide a panel; shown, it hides the others on its side. True if now shown. */
export function togglePanel(panel) {
  const show = panel.hidden;
  if (show) {
    const side = panel.classList.contains("left") ? "left" : "right";
    for (const other of document.querySelectorAll(`.panel.${side}`)) if (other !== panel) other.hidden = true;
  }
  panel.hidden = !show;
  return show;
}
