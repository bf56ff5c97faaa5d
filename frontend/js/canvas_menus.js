// The right-click menus: on empty canvas (add nodes by category, groups, reroutes),
// on a node (rename, collapse, mute, bypass, remove, ...) and on a group.

import { MODE_BYPASS, MODE_MUTED } from "./graph.js";

export function addNodeItems(app, gx, gy) {
  const tree = app.schema.byCategory();
  const top = new Map();
  for (const [cat, defs] of tree) {
    const root = cat.split("/")[0];
    if (!top.has(root)) top.set(root, []);
    top.get(root).push(...defs.map((def) => ({ def, sub: cat.slice(root.length + 1) })));
  }
  return [...top.entries()].map(([root, entries]) => ({
    label: root,
    submenu: () => entries
      .sort((a, b) => (a.sub + (a.def.display_name || a.def.name)).localeCompare(b.sub + (b.def.display_name || b.def.name)))
      .map(({ def, sub }) => ({ label: (sub ? sub + " / " : "") + (def.display_name || def.name), action: () => { app.addNode(def.name, gx, gy); app.commit(); } })),
  }));
}

export function canvasMenu(app, gx, gy) {
  return [
    { label: "Add Node", submenu: () => addNodeItems(app, gx, gy) },
    { label: "Add Group", action: () => { app.graph.groups.push({ title: "Group", bounding: [gx, gy, 400, 260], color: "#3f789e" }); app.graph.changed(); app.commit(); } },
    { label: "Add Reroute", action: () => { app.addNode("Reroute", gx, gy); app.commit(); } },
    { label: "Paste", action: () => app.paste(app.toScreen(gx, gy)) },
    { label: "Fit view", action: () => app.fitView() },
  ];
}

export function nodeMenu(app, node, interaction) {
  const sel = app.state.selected.has(node) ? [...app.state.selected] : [node];
  return [
    { label: "Rename", action: () => interaction.rename(node) },
    { label: node.flags.collapsed ? "Expand" : "Collapse", action: () => { node.flags.collapsed = !node.flags.collapsed; app.graph.changed(); app.commit(); } },
    { label: node.mode === MODE_MUTED ? "Unmute" : "Mute (Ctrl+M)", action: () => app.toggleMode(sel, MODE_MUTED) },
    { label: node.mode === MODE_BYPASS ? "Remove bypass" : "Bypass (Ctrl+B)", action: () => app.toggleMode(sel, MODE_BYPASS) },
    { label: "Copy (Ctrl+C)", action: () => app.copy() },
    { label: "Clone", action: () => { app.copy(); app.paste(app.toScreen(node.pos[0] + 30, node.pos[1] + 30)); } },
    { label: "Group selected (Ctrl+G)", action: () => app.groupSelection() },
    ...(node.widgets.some((w) => !["CONTROL", "UPLOAD"].includes(w.type)) ? [{
      label: "Widget inputs",
      submenu: () => node.widgets.filter((w) => !["CONTROL", "UPLOAD"].includes(w.type)).map((w) => ({
        label: `${node.inputs.some((i) => i.widget?.name === w.name) ? "Convert input to widget" : "Convert to input"}: ${w.name}`,
        action: () => app.toggleWidgetInput(node, w),
      })),
    }] : []),
    { label: "Colour", submenu: ["#2b2b2b", "#335533", "#223355", "#553333", "#554422", "#442255"].map((c) => ({ label: c, action: () => { node.color = c === "#2b2b2b" ? undefined : c; app.graph.changed(); app.commit(); } })) },
    { label: "Remove", action: () => app.removeNodes(sel) },
  ];
}

export function groupMenu(app, group, interaction) {
  return [
    { label: "Rename group", action: () => interaction.renameGroup(group) },
    { label: "Remove group", action: () => { app.graph.groups.splice(app.graph.groups.indexOf(group), 1); app.graph.changed(); app.commit(); } },
  ];
}

export function linkMenu(app, link, gx, gy) {
  return [
    { label: "Delete wire", action: () => { app.graph.removeLink(link.id); app.commit(); } },
    {
      label: "Insert Reroute",
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
