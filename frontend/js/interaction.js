// Mouse and keyboard on the canvas: select, move, resize, wire, pan, zoom, box-select,
// widgets, and the editing shortcuts. Menus live in canvas_menus.js.

import { fitSize, hitNode, nodeBounds, widgetRects, inside, minSize, linkMidpoint, TITLE_H } from "./layout.js";
import { widgetArea, pressWidget } from "./widgets.js";
import { showMenu, closeMenus } from "./menu.js";
import { openSearch, closeSearch } from "./search.js";
import { promptText, closeEditor } from "./overlay.js";
import { nodeMenu, canvasMenu, groupMenu, linkMenu } from "./canvas_menus.js";
import { openImageAt } from "./node_images.js";
import { typesCompatible } from "./graph.js";
import { isValueWidget } from "./schema.js";
import { t } from "./i18n.js";
import { installKeybindings } from "./keybindings.js";
import { linkReleased } from "./link_release.js";
import { snapPos, snapSize } from "./grid_snap.js";
import { LINK_MODES, LINK_RENDER_MODE, setting } from "./settings.js";

const CLICK_SLOP = 4;

export class Interaction {
  constructor(app) {
    this.app = app;
    this.drag = null;
    this.space = false;
    this.mouse = [0, 0]; // last screen position on the canvas
    const c = app.canvas;
    c.addEventListener("pointerdown", (e) => this.down(e));
    // Keep focus in editors opened on press, and keep menus opened on press open.
    c.addEventListener("mousedown", (e) => { e.preventDefault(); e.stopPropagation(); });
    window.addEventListener("pointermove", (e) => this.move(e));
    window.addEventListener("pointerup", (e) => this.up(e));
    c.addEventListener("dblclick", (e) => this.dblclick(e));
    c.addEventListener("contextmenu", (e) => { e.preventDefault(); this.context(e); });
    c.addEventListener("wheel", (e) => this.wheel(e), { passive: false });
    document.addEventListener("keydown", (e) => this.key(e, true));
    document.addEventListener("keyup", (e) => this.key(e, false));
    installKeybindings(app);
    window.addEventListener("blur", () => { this.space = false; });
    app.minimap?.addEventListener("pointerdown", (e) => this.minimapDown(e));
  }

  screen(e) {
    const r = this.app.canvas.getBoundingClientRect();
    return [e.clientX - r.left, e.clientY - r.top];
  }

  /** Topmost node and part under graph point (gx, gy). */
  hit(gx, gy) {
    const nodes = this.app.graph.nodes;
    for (let i = nodes.length - 1; i >= 0; i--) {
      const h = hitNode(nodes[i], gx, gy, this.app.view.scale);
      if (h) return { node: nodes[i], ...h };
    }
    return null;
  }

  /** The wire whose midpoint dot is under (gx, gy), or null. */
  hitLink(gx, gy) {
    const { graph, view } = this.app;
    if (view.scale < 0.45 || setting(LINK_RENDER_MODE) === LINK_MODES.hidden) return null;
    const r = Math.max(8, 8 / view.scale), m = [0, 0];
    for (const link of graph.links.values()) {
      const a = graph.byId.get(link.origin_id), b = graph.byId.get(link.target_id);
      if (!a || !b) continue;
      linkMidpoint(a, link.origin_slot, b, link.target_slot, m);
      if (Math.abs(m[0] - gx) < r && Math.abs(m[1] - gy) < r) return link;
    }
    return null;
  }

  hitGroup(gx, gy) {
    const groups = this.app.graph.groups;
    for (let i = groups.length - 1; i >= 0; i--) {
      const g = groups[i], [x, y, w, h] = g.bounding;
      if (gx >= x + w - 12 && gy >= y + h - 12 && inside(gx, gy, g.bounding)) return { group: g, part: "resize" };
      if (gx >= x && gx <= x + w && gy >= y && gy <= y + 28) return { group: g, part: "title" };
    }
    return null;
  }

  select(node, additive) {
    const sel = this.app.state.selected;
    if (!additive) sel.clear();
    if (node) sel.add(node);
    this.app.redraw();
  }

  down(e) {
    closeMenus(); closeSearch(); closeEditor(true);
    this.app.canvas.focus();
    const [sx, sy] = this.screen(e);
    this.mouse = [sx, sy];
    const [gx, gy] = this.app.toGraph(sx, sy);
    const base = { sx, sy, moved: false, pointer: e.pointerId };
    if (e.button === 1 || (e.button === 0 && this.space)) { this.startPan(base); e.preventDefault(); return; }
    if (e.button !== 0) return;
    const h = this.hit(gx, gy);
    if (h) { this.downOnNode(h, e, base, gx, gy); return; }
    const link = this.hitLink(gx, gy);
    if (link) { showMenu(linkMenu(this.app, link, gx, gy), e.clientX, e.clientY); return; }
    const g = this.hitGroup(gx, gy);
    if (g) {
      if (g.part === "resize") this.drag = { ...base, kind: "groupResize", group: g.group, start: [...g.group.bounding] };
      else {
        const inner = this.app.graph.nodes.filter((n) => { const b = nodeBounds(n); return inside(b[0], b[1], g.group.bounding) && inside(b[0] + b[2] - 1, b[1] + b[3] - 1, g.group.bounding); });
        this.drag = { ...base, kind: "group", group: g.group, start: [...g.group.bounding], nodes: inner.map((n) => [n, n.pos[0], n.pos[1]]) };
      }
      return;
    }
    if (e.ctrlKey || e.shiftKey || e.metaKey) {
      this.drag = { ...base, kind: "box", additive: e.shiftKey, start: [gx, gy] };
      this.app.state.box = [gx, gy, gx, gy];
      return;
    }
    this.select(null, false);
    this.startPan(base);
  }

  startPan(base) {
    this.drag = { ...base, kind: "pan", view: [this.app.view.x, this.app.view.y] };
    this.app.canvas.style.cursor = "grabbing";
  }

  downOnNode(h, e, base, gx, gy) {
    const { app } = this;
    const node = h.node;
    app.graph.raise(node);
    if (h.part === "output") {
      this.drag = { ...base, kind: "link" };
      app.state.dragLink = { node, slot: h.index, fromInput: false, type: node.outputs[h.index].type, to: [gx, gy] };
      return;
    }
    if (h.part === "input") {
      const src = app.graph.inputSource(node, h.index);
      if (src) { // pick the wire up from its source
        app.graph.removeLink(src.link.id);
        this.drag = { ...base, kind: "link", detached: true };
        app.state.dragLink = { node: src.node, slot: src.slot, fromInput: false, type: src.node.outputs[src.slot].type, to: [gx, gy] };
      } else {
        this.drag = { ...base, kind: "link" };
        app.state.dragLink = { node, slot: h.index, fromInput: true, type: node.inputs[h.index].type, to: [gx, gy] };
      }
      app.redraw();
      return;
    }
    if (h.part === "collapse") {
      node.flags.collapsed = !node.flags.collapsed;
      app.graph.changed(); app.commit();
      return;
    }
    const sel = app.state.selected;
    if (e.shiftKey || e.ctrlKey) { if (sel.has(node)) sel.delete(node); else sel.add(node); }
    else if (!sel.has(node)) this.select(node, false);
    app.redraw();
    if (h.part === "resize") { if (!node.flags?.pinned) this.drag = { ...base, kind: "resize", node, start: [...node.size] }; return; }
    if (h.part === "widget") {
      const w = node.widgets[h.index];
      if (node.inputs.some((i) => i.widget?.name === w.name && i.link != null)) return;
      const [wy, wh] = widgetRects(node)[h.index];
      const wx = node.pos[0] + 10, ww = node.size[0] - 20;
      const area = widgetArea(w, gx - wx, ww);
      const handler = pressWidget(w, node, area, {
        rect: () => { const [x, y] = app.toScreen(wx, wy); const r = app.canvas.getBoundingClientRect(); return { x: x + r.left, y: y + r.top, w: ww * app.view.scale, h: wh * app.view.scale }; },
        changed: () => { w.error = null; app.widgetChanged(node, w); },
        redraw: () => app.redraw(),
        upload: (n, wd) => app.chooseUpload(n, wd),
        button: (n, wd) => app.pressButton(n, wd),
        menu: (items, x, y, pick, opts) => showMenu(items, x, y, pick, opts),
      });
      if (handler) this.drag = { ...base, kind: "widget", handler };
      return;
    }
    const moving = (sel.has(node) ? [...sel] : [node]).filter((n) => !n.flags?.pinned); // pinned nodes stay put
    this.drag = { ...base, kind: "nodes", node, nodes: moving.map((n) => [n, n.pos[0], n.pos[1]]) };
  }

  move(e) {
    const [sx, sy] = this.screen(e);
    this.mouse = [sx, sy];
    const d = this.drag;
    if (!d) return;
    const dx = sx - d.sx, dy = sy - d.sy;
    if (Math.abs(dx) + Math.abs(dy) > CLICK_SLOP) d.moved = true;
    const { app } = this;
    const s = app.view.scale;
    const [gx, gy] = app.toGraph(sx, sy);
    switch (d.kind) {
      case "pan": app.view.x = d.view[0] + dx; app.view.y = d.view[1] + dy; break;
      case "nodes": for (const [n, x, y] of d.nodes) { n.pos[0] = snapPos(x + dx / s); n.pos[1] = snapPos(y + dy / s); } break;
      case "resize": {
        const [mw, mh] = minSize(d.node);
        d.node.size[0] = snapSize(d.start[0] + dx / s, mw); d.node.size[1] = snapSize(d.start[1] + dy / s, mh); break;
      }
      case "group":
        d.group.bounding[0] = d.start[0] + dx / s; d.group.bounding[1] = d.start[1] + dy / s;
        for (const [n, x, y] of d.nodes) { n.pos[0] = Math.round(x + dx / s); n.pos[1] = Math.round(y + dy / s); }
        break;
      case "groupResize": d.group.bounding[2] = Math.max(100, d.start[2] + dx / s); d.group.bounding[3] = Math.max(60, d.start[3] + dy / s); break;
      case "link": app.state.dragLink.to = [gx, gy]; break;
      case "box": app.state.box = [d.start[0], d.start[1], gx, gy]; break;
      case "widget": d.handler.move(dx / s); break;
    }
    app.redraw();
  }

  up(e) {
    const d = this.drag;
    if (!d) return;
    this.drag = null;
    this.app.canvas.style.cursor = "";
    const { app } = this;
    const [sx, sy] = this.screen(e);
    const [gx, gy] = app.toGraph(sx, sy);
    // A plain click (no drag) on a node's image opens it in the viewer.
    if (d.kind === "nodes" && !d.moved && !(e.shiftKey || e.ctrlKey || e.metaKey)) openImageAt(app, d.node, gx, gy);
    switch (d.kind) {
      case "nodes": case "resize": case "group": case "groupResize":
        if (d.moved) { app.graph.changed(); app.commit(); } break;
      case "widget": d.handler.up(d.moved); break;
      case "box": this.finishBox(d); break;
      case "link": this.dropLink(gx, gy, sx, sy, d); break;
      case "pan": app.viewChanged(); break;
    }
    app.redraw();
  }

  finishBox(d) {
    const { app } = this;
    const [x0, y0, x1, y1] = app.state.box;
    app.state.box = null;
    const r = [Math.min(x0, x1), Math.min(y0, y1), Math.abs(x1 - x0), Math.abs(y1 - y0)];
    if (!d.additive) app.state.selected.clear();
    for (const n of app.graph.nodes) {
      const b = nodeBounds(n);
      if (b[0] < r[0] + r[2] && b[0] + b[2] > r[0] && b[1] < r[1] + r[3] && b[1] + b[3] > r[1]) app.state.selected.add(n);
    }
  }

  dropLink(gx, gy, sx, sy, d) {
    const { app } = this;
    const link = app.state.dragLink;
    app.state.dragLink = null;
    const h = this.hit(gx, gy);
    if (h && h.node !== link.node) {
      let made = null;
      if (!link.fromInput && h.part === "widget") {
        made = this.wireToWidget(link, h.node, h.node.widgets[h.index]);
      } else if (!link.fromInput) {
        let slot = h.part === "input" ? h.index : -1;
        if (slot < 0 && h.part !== "output") slot = h.node.inputs.findIndex((i) => i.link == null && typesCompatible(link.type, i.type));
        if (slot >= 0) made = app.graph.connect(link.node, link.slot, h.node, slot);
      } else {
        let slot = h.part === "output" ? h.index : -1;
        if (slot < 0 && h.part !== "input") slot = h.node.outputs.findIndex((o) => typesCompatible(o.type, link.type));
        if (slot >= 0) made = app.graph.connect(h.node, slot, link.node, link.slot);
      }
      if (!made) app.toast(t("Cannot connect {type} there", { type: link.type }), "warn");
      else app.linkMade(made);
      app.commit();
      return;
    }
    if (h || (!d.moved)) { app.commit(); return; }
    if (d.detached) { app.commit(); return; }
    const r = app.canvas.getBoundingClientRect();
    linkReleased(app, link, gx, gy, sx + r.left, sy + r.top); // dropped on empty space
  }

  /** A wire dropped on a widget: the widget becomes an input fed by that wire (as in ComfyUI). */
  wireToWidget(link, node, w) {
    const { app } = this;
    if (!w || !isValueWidget(w) || !typesCompatible(link.type, w.type)) return null;
    const had = node.inputs.length;
    const slot = app.widgetInput(node, w);
    const made = app.graph.connect(link.node, link.slot, node, slot);
    if (!made && node.inputs.length > had) node.inputs.pop(); // refused: no socket left behind
    fitSize(node);
    return made;
  }

  dblclick(e) {
    const { app } = this;
    const [sx, sy] = this.screen(e);
    const [gx, gy] = app.toGraph(sx, sy);
    const h = this.hit(gx, gy);
    const r = app.canvas.getBoundingClientRect();
    if (h?.part === "title") { this.rename(h.node); return; }
    if (h) return;
    const g = this.hitGroup(gx, gy);
    if (g?.part === "title") { this.renameGroup(g.group); return; }
    openSearch(app.schema.list(), e.clientX, e.clientY, (def) => { app.addNode(def.name, gx, gy); app.commit(); }, { schema: app.schema });
  }

  rename(node) {
    const { app } = this;
    const [x, y] = app.toScreen(node.pos[0], node.pos[1] - TITLE_H);
    const r = app.canvas.getBoundingClientRect();
    promptText({ x: x + r.left, y: y + r.top, w: node.size[0] * app.view.scale, h: TITLE_H * app.view.scale }, node.title, false, (t) => {
      node.title = t.trim() || node.defaultTitle; app.graph.changed(); app.commit();
    });
  }

  renameGroup(group) {
    const { app } = this;
    const [x, y] = app.toScreen(group.bounding[0], group.bounding[1]);
    const r = app.canvas.getBoundingClientRect();
    promptText({ x: x + r.left, y: y + r.top, w: 200, h: 24 }, group.title, false, (t) => { group.title = t || "Group"; app.graph.changed(); app.commit(); });
  }

  context(e) {
    const { app } = this;
    const [sx, sy] = this.screen(e);
    const [gx, gy] = app.toGraph(sx, sy);
    const h = this.hit(gx, gy);
    if (h) { if (!app.state.selected.has(h.node)) this.select(h.node, false); showMenu(nodeMenu(app, h.node, this), e.clientX, e.clientY); return; }
    const g = this.hitGroup(gx, gy);
    if (g) { showMenu(groupMenu(app, g.group, this), e.clientX, e.clientY); return; }
    showMenu(canvasMenu(app, gx, gy), e.clientX, e.clientY);
  }

  wheel(e) {
    e.preventDefault();
    const [sx, sy] = this.screen(e);
    const k = Math.exp(-e.deltaY * (e.ctrlKey ? 0.01 : 0.0015));
    this.app.zoomAt(sx, sy, k);
  }

  minimapDown(e) {
    e.stopPropagation();
    const t = this.app.renderer.minimapTransform;
    if (!t) return;
    const r = this.app.minimap.getBoundingClientRect();
    const gx = t.e[0] + (e.clientX - r.left) / t.k, gy = t.e[1] + (e.clientY - r.top) / t.k;
    this.app.centerOn(gx, gy);
  }

  /** Space held: dragging pans. Every other key is a keybinding (keybindings.js). */
  key(e, down) {
    const tag = e.target?.tagName;
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") return;
    if (e.code === "Space") { this.space = down; if (down) e.preventDefault(); }
  }
}
