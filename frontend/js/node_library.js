// The node library (Workspace.ToggleSidebarTab.node-library): every node type by category,
// filtered as you type; a click adds the node in the middle of the view.

import { sidePanel, togglePanel } from "./side_panel.js";
import { categoryName, nodeName, t } from "./i18n.js";
import { fuzzyScore } from "./search.js";

function addAtCenter(app, type) {
  const [gx, gy] = app.toGraph(app.renderer.width / 2, app.renderer.height / 2);
  if (app.addNode(type, gx - 100, gy - 40)) app.commit();
}

function render(app, body, query) {
  const groups = [];
  for (const [category, defs] of app.schema.byCategory()) {
    const rows = defs
      .map((def) => ({ def, label: nodeName(def.name, def.display_name || def.name) }))
      .filter(({ def, label }) => !query || [label, def.name, category].some((f) => fuzzyScore(query, f || "") >= 0));
    if (!rows.length) continue;
    const group = document.createElement("details");
    group.className = "library-category";
    group.dataset.category = category;
    group.open = !!query;
    const summary = document.createElement("summary");
    summary.textContent = categoryName(category) || t("(none)");
    group.appendChild(summary);
    for (const { def, label } of rows) {
      const row = document.createElement("div");
      row.className = "library-node";
      row.dataset.type = def.name;
      row.textContent = label;
      row.title = def.description || def.name;
      row.addEventListener("click", () => addAtCenter(app, def.name));
      group.appendChild(row);
    }
    groups.push(group);
  }
  body.replaceChildren(...groups);
}

/** Show or hide the node library. */
export function toggleNodeLibrary(app) {
  const panel = sidePanel("node-library-panel", "left", "Node library");
  const body = panel.querySelector(".side-panel-body");
  if (!togglePanel(panel)) return;
  if (!body.firstChild) {
    const filter = document.createElement("input");
    filter.type = "text";
    filter.className = "library-filter";
    filter.placeholder = t("Filter nodes");
    filter.dataset.i18nPlaceholder = "Filter nodes";
    const list = document.createElement("div");
    filter.addEventListener("input", () => render(app, list, filter.value.trim()));
    body.append(filter, list);
  }
  render(app, body.lastChild, body.firstChild.value.trim());
}
