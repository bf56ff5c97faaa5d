// What a wire dropped on empty canvas does (Comfy.LinkRelease.Action): open the node
// search box with the nodes that fit it, show a menu of them, or nothing.

import { compatibleDefs, openSearch } from "./search.js";
import { notePick, rankForWire } from "./search_ranking.js";
import { showMenu } from "./menu.js";
import { categoryName, nodeName, t } from "./i18n.js";
import { typesCompatible } from "./graph.js";
import { LINK_RELEASE, setting } from "./settings.js";

/** Add `def` at (gx, gy) wired to the released link. */
function addWired(app, link, def, gx, gy) {
  const node = app.addNode(def.name, gx, gy);
  if (!node) return;
  if (!link.fromInput) {
    const slot = node.inputs.findIndex((i) => typesCompatible(link.type, i.type));
    if (slot >= 0) app.graph.connect(link.node, link.slot, node, slot);
  } else {
    node.pos[0] = Math.round(gx - node.size[0]);
    const slot = node.outputs.findIndex((o) => typesCompatible(o.type, link.type));
    const made = slot >= 0 ? app.graph.connect(node, slot, link.node, link.slot) : null;
    if (made) app.linkMade(made); // a new Primitive takes the widget it now feeds
  }
  app.commit();
}

/** The released `link` ({node, slot, fromInput, type}) at graph (gx, gy), page (px, py). */
export function linkReleased(app, link, gx, gy, px, py) {
  const action = setting(LINK_RELEASE);
  if (action === "no action") { app.commit(); return; }
  const fromOutput = !link.fromInput;
  // The fitting socket's place among the node's own: a node whose first input takes the wire ranks higher.
  const position = (def) => (fromOutput
    ? app.schema.inputsOf(def).findIndex(([, spec]) => !Array.isArray(spec[0]) && typesCompatible(link.type, spec[0]))
    : (def.output || []).findIndex((type) => typesCompatible(type, link.type)));
  const defs = rankForWire(compatibleDefs(app.schema, link.type, fromOutput), link.type, fromOutput, position);
  const wire = { type: link.type, fromOutput };
  const search = () => openSearch(defs, px, py, (def) => addWired(app, link, def, gx, gy), { schema: app.schema, wire });
  if (action === "search box") { search(); return; }
  const items = defs.map((def) => ({ // most likely first
    label: `${nodeName(def.name, def.display_name || def.name)} \u00b7 ${categoryName(def.category || "")}`,
    action: () => { notePick(def.name, wire); addWired(app, link, def, gx, gy); },
  }));
  showMenu([{ label: t("Search"), action: search }, ...items], px, py, null, { filter: items.length > 12 });
}
