// The right-click menus: on empty canvas (add nodes by category, groups, reroutes),
// on a node (rename, collapse, mute, bypass, remove, ...) and on a group.

import { ALIGN_EDGES, alignNodes, distributeNodes } from "./arrange.js";
import { runCommand } from "./commands.js";
import { MODE_BYPASS, MODE_MUTED } from "./graph.js";
import { categoryName, inputName, nodeName, t } from "./i18n.js";
import { imageMenuItems } from "./node_images.js";
import { maskTarget, openMaskEditor } from "./mask_editor.js";
import { isValueWidget } from "./schema.js";

export function addNodeItems(app, gx, gy) {
  const tree = app.schema.byCategory();
  const top = new Map();
  for (const [cat, defs] of tree) {
    const root = cat.split("/")[0];
    if (!top.has(root)) top.set(root, []);
    top.get(root).push(...defs.map((def) => ({ def, sub: cat.slice(root.length + 1) })));
  }
  return [...top.entries()].map(([root, entries]) => ({
    label: categoryName(root),
    submenu: () => entries
      .sort((a, b) => (a.sub + (a.def.display_name || a.def.name)).localeCompare(b.sub + (b.def.display_name || b.def.name)))
      .map(({ def, sub }) => ({
        label: (sub ? categoryName(sub) + " / " : "") + nodeName(def.name, def.display_name || def.name),
        action: () => { app.addNode(def.name, gx, gy); app.commit(); },
      })),
  }));
}

export function canvasMenu(app, gx, gy) {
  return [
    { label: t("Add Node"), submenu: () => addNodeItems(app, gx, gy) },
    { label: t("Add Group"), action: () => { app.graph.groups.push({ title: "Group", bounding: [gx, gy, 400, 260], color: "#3f789e" }); app.graph.changed(); app.commit(); } },
    { label: t("Add Reroute"), action: () => { app.addNode("Reroute", gx, gy); app.commit(); } },
    { label: t("Paste"), action: () => app.paste(app.toScreen(gx, gy)) },
    { label: t("Fit view"), action: () => app.fitView() },
  ];
}

export function nodeMenu(app, node, interaction) {
  const sel = app.state.selected.has(node) ? [...app.state.selected] : [node];
  return [
    ...imageMenuItems(app, node, ...app.toGraph(...interaction.mouse)),
    ...(maskTarget(node) ? [{ label: t("Open in mask editor"), action: () => openMaskEditor(app, node) }] : []),
    { label: t("Rename"), action: () => interaction.rename(node) },
    { label: t(node.flags.collapsed ? "Expand" : "Collapse"), action: () => { node.flags.collapsed = !node.flags.collapsed; app.graph.changed(); app.commit(); } },
    { label: t(node.mode === MODE_MUTED ? "Unmute" : "Mute (Ctrl+M)"), action: () => app.toggleMode(sel, MODE_MUTED) },
    { label: t(node.mode === MODE_BYPASS ? "Remove bypass" : "Bypass (Ctrl+B)"), action: () => app.toggleMode(sel, MODE_BYPASS) },
    { label: t("Copy (Ctrl+C)"), action: () => app.copy() },
    { label: t("Clone"), action: () => { app.copy(); app.paste(app.toScreen(node.pos[0] + 30, node.pos[1] + 30)); } },
    { label: t("Group selected (Ctrl+G)"), action: () => app.groupSelection() },
    { label: t(sel.every((n) => n.flags?.pinned) ? "Unpin" : "Pin (P)"), action: () => runCommand(app, "Comfy.Canvas.ToggleSelected.Pin") },
    ...arrangeItems(app, sel),
    ...(node.widgets.some(isValueWidget) ? [{
      label: t("Widget inputs"),
      submenu: () => node.widgets.filter(isValueWidget).map((w) => ({
        label: `${t(node.inputs.some((i) => i.widget?.name === w.name) ? "Convert input to widget" : "Convert to input")}: ${inputName(node.type, w.name)}`,
        action: () => app.toggleWidgetInput(node, w),
      })),
    }] : []),
    { label: t("Colour"), submenu: ["#2b2b2b", "#335533", "#223355", "#553333", "#554422", "#442255"].map((c) => ({ label: c, action: () => { node.color = c === "#2b2b2b" ? undefined : c; app.graph.changed(); app.commit(); } })) },
    { label: t("Remove"), action: () => app.removeNodes(sel) },
  ];
}

/** Align (two or more nodes selected) and distribute (three or more). */
function arrangeItems(app, nodes) {
  if (nodes.length < 2) return [];
  const done = () => { app.graph.changed(); app.commit(); };
  const labels = {
    left: t("Left edges"), right: t("Right edges"), top: t("Top edges"), bottom: t("Bottom edges"),
    "centre-x": t("Centres, one above another"), "centre-y": t("Centres, side by side"),
  };
  const items = [{ label: t("Align"), submenu: ALIGN_EDGES.map((edge) => ({ label: labels[edge], action: () => { alignNodes(nodes, edge); done(); } })) }];
  if (nodes.length >= 3) {
    items.push({ label: t("Distribute"), submenu: [
      { label: t("Horizontally"), action: () => { distributeNodes(nodes, "x"); done(); } },
      { label: t("Vertically"), action: () => { distributeNodes(nodes, "y"); done(); } },
    ] });
  }
  return items;
}

export function groupMenu(app, group, interaction) {
  return [
    { label: t("Rename group"), action: () => interaction.renameGroup(group) },
    { label: t("Remove group"), action: () => { app.graph.groups.splice(app.graph.groups.indexOf(group), 1); app.graph.changed(); app.commit(); } },
  ];
}

export function linkMenu(app, link, gx, gy) {
  return [
    { label: t("Delete wire"), action: () => { app.graph.removeLink(link.id); app.commit(); } },
    {
      label: t("Insert Reroute"),
      action: () => {
        const origin = app.graph.getNode(link.origin_id), target = app.graph.getNode(link.target_id);
        const { origin_slot: oslot, target_slot: tslot } = link;
        const reroute = app.addNode("Reroute", gx - 35, gy - 10);
        if (!reroute) return;
        app.graph.connect(origin, oslot, reroute, 0);
        app.graph.connect(reroute, 0, target, tslot);
        app.commit();
      },
    },
  ];
}
