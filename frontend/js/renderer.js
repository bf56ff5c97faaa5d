// Canvas 2D drawing of the graph. Redraws only when asked (requestAnimationFrame), skips
// off-screen nodes and links, caches text measurements, and draws boxes only when far out.

import { THEME, typeColor } from "./colors.js";
import { inputName, nodeTitle, outputName, t } from "./i18n.js";
import { imageArea, nodeBounds, slotPos, widgetRects, TITLE_H, COLLAPSED_W } from "./layout.js";
import { drawWidget } from "./widgets.js";
import { drawNodeImages } from "./node_images.js";
import { MODE_BYPASS, MODE_MUTED, typesCompatible } from "./graph.js";
import { addLinkPath } from "./link_paths.js";
import { badgeWidth, drawBadges } from "./node_badges.js";
import { LINK_MODES, LINK_RENDER_MODE, setting } from "./settings.js";

const FONT = "12px system-ui, sans-serif";
const LOW_DETAIL = 0.45;

class TextCache {
  constructor(ctx) { this.ctx = ctx; this.widths = new Map(); this.fits = new Map(); this.wraps = new Map(); }
  width(s) {
    let w = this.widths.get(s);
    if (w === undefined) { w = this.ctx.measureText(s).width; if (this.widths.size > 20000) this.widths.clear(); this.widths.set(s, w); }
    return w;
  }
  fit(s, max) {
    if (this.width(s) <= max) return s;
    const key = s + "\u0000" + Math.round(max);
    let r = this.fits.get(key);
    if (r === undefined) {
      let n = s.length;
      while (n > 0 && this.width(s.slice(0, n) + "\u2026") > max) n--;
      r = s.slice(0, n) + "\u2026";
      if (this.fits.size > 20000) this.fits.clear();
      this.fits.set(key, r);
    }
    return r;
  }
  wrap(s, max, lines) {
    const key = s + "\u0000" + Math.round(max);
    let r = this.wraps.get(key);
    if (r) return r;
    r = [];
    for (const para of s.split("\n")) {
      let line = "";
      for (const word of para.split(" ")) {
        const next = line ? line + " " + word : word;
        if (this.width(next) > max && line) { r.push(line); line = word; } else line = next;
        if (r.length >= lines) break;
      }
      if (r.length < lines) r.push(line);
      if (r.length >= lines) break;
    }
    r = r.map((l) => this.fit(l, max));
    if (this.wraps.size > 5000) this.wraps.clear();
    this.wraps.set(key, r);
    return r;
  }
}

export class Renderer {
  constructor(app, canvas, minimap) {
    this.app = app;
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d", { alpha: false });
    this.minimap = minimap;
    this.mctx = minimap?.getContext("2d");
    this.text = new TextCache(this.ctx);
    this.pending = false;
    this.frames = 0;
    this.drawMs = 0; // total time spent drawing frames (for the benchmark)
    this.drawn = 0; // nodes drawn in the last frame (for tests of culling)
    this.visible = [0, 0, 0, 0];
    this._b = [0, 0, 0, 0];
    this._p = [0, 0];
    this._q = [0, 0];
    this.frame = this.frame.bind(this);
  }

  resize() {
    const dpr = window.devicePixelRatio || 1;
    const r = this.canvas.getBoundingClientRect();
    this.width = r.width; this.height = r.height; this.dpr = dpr;
    this.canvas.width = Math.round(r.width * dpr);
    this.canvas.height = Math.round(r.height * dpr);
    this.ctx.font = FONT;
    this.text.widths.clear(); this.text.fits.clear(); this.text.wraps.clear();
    this.requestDraw();
  }

  requestDraw() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(this.frame);
  }

  frame() {
    this.pending = false;
    const t0 = performance.now();
    this.draw();
    this.drawMs += performance.now() - t0;
    this.frames++;
  }

  draw() {
    const { ctx, app } = this;
    const { view, graph } = app;
    const dpr = this.dpr || 1;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = THEME.background;
    ctx.fillRect(0, 0, this.width, this.height);
    const s = view.scale;
    const vis = this.visible;
    vis[0] = -view.x / s; vis[1] = -view.y / s; vis[2] = this.width / s; vis[3] = this.height / s;
    this.drawGrid(vis, s);
    ctx.setTransform(dpr * s, 0, 0, dpr * s, dpr * view.x, dpr * view.y);
    ctx.font = FONT;
    ctx.textBaseline = "middle";
    for (const g of graph.groups) this.drawGroup(g, s);
    this.drawLinks(vis, s);
    let drawn = 0;
    const b = this._b;
    if (s < LOW_DETAIL) drawn = this.drawNodesLow(vis, s);
    else for (const node of graph.nodes) {
      nodeBounds(node, b);
      if (b[0] > vis[0] + vis[2] || b[1] > vis[1] + vis[3] || b[0] + b[2] < vis[0] || b[1] + b[3] + 40 < vis[1]) continue;
      this.drawNode(node, s);
      drawn++;
    }
    this.drawn = drawn;
    this.drawDragLink(s);
    const box = app.state.box;
    if (box) {
      ctx.strokeStyle = "#fff"; ctx.lineWidth = 1 / s; ctx.setLineDash([4 / s, 4 / s]);
      ctx.strokeRect(box[0], box[1], box[2] - box[0], box[3] - box[1]);
      ctx.setLineDash([]);
    }
    this.drawMinimap();
  }

  drawGrid(vis, s) {
    if (s < 0.5) return;
    const { ctx, app } = this;
    const step = 50 * s;
    ctx.strokeStyle = THEME.grid; ctx.lineWidth = 1;
    ctx.beginPath();
    for (let x = app.view.x % step; x < this.width; x += step) { ctx.moveTo(x, 0); ctx.lineTo(x, this.height); }
    for (let y = app.view.y % step; y < this.height; y += step) { ctx.moveTo(0, y); ctx.lineTo(this.width, y); }
    ctx.stroke();
  }

  drawGroup(g, s) {
    const { ctx } = this;
    const [x, y, w, h] = g.bounding;
    ctx.globalAlpha = 0.25; ctx.fillStyle = g.color; ctx.fillRect(x, y, w, h);
    ctx.globalAlpha = 1; ctx.strokeStyle = g.color; ctx.lineWidth = 2 / s; ctx.strokeRect(x, y, w, h);
    if (s >= LOW_DETAIL) {
      ctx.fillStyle = THEME.text; ctx.font = "bold 16px system-ui, sans-serif";
      ctx.fillText(g.title, x + 8, y + 14); ctx.font = FONT;
      ctx.fillStyle = g.color; ctx.fillRect(x + w - 10, y + h - 10, 10, 10);
    }
  }

  drawLinks(vis, s) {
    const { ctx, app } = this;
    const graph = app.graph;
    const p = this._p, q = this._q;
    const x0 = vis[0], y0 = vis[1], x1 = vis[0] + vis[2], y1 = vis[1] + vis[3];
    const low = s < LOW_DETAIL;
    const mode = setting(LINK_RENDER_MODE);
    if (mode === LINK_MODES.hidden) return;
    // One path per colour: a few stroke calls instead of one per wire.
    const paths = this._paths || (this._paths = new Map());
    for (const path of paths.values()) path.used = false;
    for (const link of graph.links.values()) {
      const a = graph.byId.get(link.origin_id), b = graph.byId.get(link.target_id);
      if (!a || !b) continue;
      slotPos(a, false, link.origin_slot, p);
      slotPos(b, true, link.target_slot, q);
      if (Math.max(p[0], q[0]) + 100 < x0 || Math.min(p[0], q[0]) - 100 > x1 || Math.max(p[1], q[1]) < y0 || Math.min(p[1], q[1]) > y1) continue;
      const color = typeColor(link.type);
      let entry = paths.get(color);
      if (!entry || !entry.used) { entry = { path: new Path2D(), dots: low ? null : new Path2D(), used: true }; paths.set(color, entry); }
      const path = entry.path;
      if (low) { path.moveTo(p[0], p[1]); path.lineTo(q[0], q[1]); }
      else {
        addLinkPath(path, p, q, mode);
        // the midpoint dot (click it for the wire's menu)
        const mx = 0.5 * (p[0] + q[0]), my = 0.5 * (p[1] + q[1]);
        entry.dots.moveTo(mx + 5, my);
        entry.dots.arc(mx, my, 5, 0, Math.PI * 2);
      }
    }
    ctx.lineWidth = low ? 1.5 / s : 3;
    for (const [color, entry] of paths) {
      if (!entry.used) continue;
      ctx.strokeStyle = color;
      ctx.stroke(entry.path);
      if (!low && entry.dots) { ctx.fillStyle = color; ctx.fill(entry.dots); }
    }
  }

  /** Far out: every visible node as two rectangles, batched into three fills. */
  drawNodesLow(vis, s) {
    const { ctx, app } = this;
    const b = this._b;
    const bodies = new Path2D(), titles = new Path2D(), marks = [];
    let drawn = 0;
    for (const node of app.graph.nodes) {
      nodeBounds(node, b);
      if (b[0] > vis[0] + vis[2] || b[1] > vis[1] + vis[3] || b[0] + b[2] < vis[0] || b[1] + b[3] < vis[1]) continue;
      drawn++;
      if (node.placeholder || node.color || node.bgcolor || node.mode !== 0 || node.errors || app.state.running === node.id || app.state.selected.has(node)) {
        marks.push(node);
        continue;
      }
      bodies.rect(b[0], b[1], b[2], b[3]);
      titles.rect(b[0], b[1], b[2], TITLE_H);
    }
    ctx.fillStyle = THEME.node; ctx.fill(bodies);
    ctx.fillStyle = THEME.nodeTitle; ctx.fill(titles);
    for (const node of marks) this.drawNode(node, s);
    return drawn;
  }

  drawDragLink(s) {
    const d = this.app.state.dragLink;
    if (!d) return;
    const { ctx } = this;
    const p = slotPos(d.node, d.fromInput, d.slot, [0, 0]);
    const [mx, my] = d.to;
    const [sx, sy, ex, ey] = d.fromInput ? [mx, my, p[0], p[1]] : [p[0], p[1], mx, my];
    ctx.strokeStyle = typeColor(d.type); ctx.lineWidth = 3;
    ctx.beginPath(); addLinkPath(ctx, [sx, sy], [ex, ey], setting(LINK_RENDER_MODE)); ctx.stroke();
  }

  drawNode(node, s) {
    const { ctx, app } = this;
    const st = app.state;
    const selected = st.selected.has(node);
    const b = nodeBounds(node, this._b);
    const [x, y, w, h] = b;
    const muted = node.mode === MODE_MUTED, bypass = node.mode === MODE_BYPASS;
    if (muted) ctx.globalAlpha = 0.45;
    const body = node.placeholder ? THEME.placeholder : bypass ? THEME.bypass : node.bgcolor || THEME.node;
    if (s < LOW_DETAIL) {
      ctx.fillStyle = body; ctx.fillRect(x, y, w, h);
      ctx.fillStyle = node.color || THEME.nodeTitle; ctx.fillRect(x, y, w, TITLE_H);
      if (selected || node.errors || st.running === node.id) {
        ctx.strokeStyle = node.errors ? THEME.error : selected ? THEME.selected : THEME.running;
        ctx.lineWidth = 2 / s; ctx.strokeRect(x, y, w, h);
      }
      ctx.globalAlpha = 1;
      return;
    }
    ctx.fillStyle = body;
    ctx.beginPath(); ctx.roundRect(x, y, w, h, 8); ctx.fill();
    ctx.fillStyle = node.placeholder ? "#8b2323" : node.color || THEME.nodeTitle;
    ctx.beginPath(); ctx.roundRect(x, y, w, TITLE_H, node.flags?.collapsed ? 8 : [8, 8, 0, 0]); ctx.fill();
    ctx.fillStyle = node.flags?.collapsed ? "#888" : "#bbb";
    ctx.beginPath(); ctx.arc(x + 12, y + TITLE_H / 2, 5, 0, Math.PI * 2); ctx.fill();
    ctx.fillStyle = THEME.text;
    const title = node.placeholder ? `${node.title} (${t("missing")})` : nodeTitle(node);
    const tw = node.flags?.collapsed ? COLLAPSED_W : w, marks = badgeWidth(node, this.text);
    ctx.fillText(this.text.fit(title, tw - 30 - marks), x + 22, y + TITLE_H / 2);
    if (marks && !(st.running === node.id && st.progress)) drawBadges(ctx, node, x, y, tw, this.text);
    if (st.running === node.id && st.progress) {
      ctx.fillStyle = THEME.running;
      ctx.fillRect(x, y + TITLE_H - 3, w * Math.min(1, st.progress.value / Math.max(1, st.progress.max)), 3);
      ctx.textAlign = "right";
      ctx.fillText(`${st.progress.value}/${st.progress.max}`, x + w - 8, y + TITLE_H / 2);
      ctx.textAlign = "left";
    }
    if (!node.flags?.collapsed) this.drawNodeBody(node, x, w);
    else this.drawCollapsedSlots(node);
    if (selected || node.errors || st.running === node.id) {
      ctx.strokeStyle = node.errors ? THEME.error : st.running === node.id ? THEME.running : THEME.selected;
      ctx.lineWidth = node.errors || st.running === node.id ? 3 : 1.5;
      ctx.beginPath(); ctx.roundRect(x - 2, y - 2, w + 4, h + 4, 9); ctx.stroke();
    }
    if (node.errors) {
      ctx.fillStyle = THEME.error;
      node.errors.forEach((m, i) => ctx.fillText(this.text.fit(m, Math.max(w, 300)), x, y + h + 12 + i * 15));
    }
    ctx.globalAlpha = 1;
  }

  drawCollapsedSlots(node) {
    const { ctx } = this;
    const p = this._p;
    if (node.inputs.length) { slotPos(node, true, 0, p); ctx.fillStyle = "#aaa"; ctx.beginPath(); ctx.arc(p[0], p[1], 4, 0, 7); ctx.fill(); }
    if (node.outputs.length) { slotPos(node, false, 0, p); ctx.fillStyle = "#aaa"; ctx.beginPath(); ctx.arc(p[0], p[1], 4, 0, 7); ctx.fill(); }
  }

  drawNodeBody(node, x, w) {
    const { ctx, app } = this;
    const p = this._p;
    const drag = app.state.dragLink;
    for (let i = 0; i < node.inputs.length; i++) {
      const inp = node.inputs[i];
      slotPos(node, true, i, p);
      let refused = false;
      if (drag && !drag.fromInput) {
        drag.ancestors ||= app.graph.ancestors(drag.node); // computed once per drag
        refused = drag.ancestors.has(node.id) || !typesCompatible(drag.type, inp.type);
      }
      ctx.fillStyle = typeColor(inp.type);
      ctx.globalAlpha = refused ? 0.25 : ctx.globalAlpha;
      ctx.beginPath(); ctx.arc(p[0], p[1], 5, 0, Math.PI * 2);
      if (inp.link != null) ctx.fill(); else { ctx.strokeStyle = ctx.fillStyle; ctx.lineWidth = 2; ctx.stroke(); }
      ctx.fillStyle = inp.error ? THEME.error : THEME.dimText;
      ctx.fillText(this.text.fit(inp.name ? inputName(node.type, inp.name) : inp.type, w / 2 - 14), p[0] + 10, p[1]);
      if (refused) ctx.globalAlpha = node.mode === MODE_MUTED ? 0.45 : 1;
    }
    ctx.textAlign = "right";
    for (let i = 0; i < node.outputs.length; i++) {
      const out = node.outputs[i];
      slotPos(node, false, i, p);
      ctx.fillStyle = typeColor(out.type);
      ctx.beginPath(); ctx.arc(p[0], p[1], 5, 0, Math.PI * 2); ctx.fill();
      ctx.fillStyle = THEME.dimText;
      ctx.fillText(this.text.fit(out.name ? outputName(node.type, out.name) : out.type, w / 2 - 14), p[0] - 10, p[1]);
    }
    ctx.textAlign = "left";
    const rects = node.widgets.length ? widgetRects(node) : null;
    for (let i = 0; i < node.widgets.length; i++) {
      const wdg = node.widgets[i];
      if (node.inputs.some((inp) => inp.widget && inp.widget.name === wdg.name && inp.link != null)) continue;
      drawWidget(ctx, wdg, x + 10, rects[i][0], w - 20, rects[i][1], this.text, true, inputName(node.type, wdg.name));
    }
    if (node.placeholder) {
      ctx.fillStyle = "#ffb0b0";
      const r = imageArea(node);
      const yy = (r ? r[1] : node.pos[1] + node.size[1] - 30) + 10;
      ctx.fillText(this.text.fit(t("unknown node type: {type}", { type: node.type }), w - 16), x + 8, yy);
    }
    drawNodeImages(ctx, node, app.state, this.text);
  }

  /** Graph bounds of everything, for the minimap: [x, y, w, h]. */
  extent() {
    const b = this._b;
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const n of this.app.graph.nodes) {
      nodeBounds(n, b);
      if (b[0] < x0) x0 = b[0]; if (b[1] < y0) y0 = b[1];
      if (b[0] + b[2] > x1) x1 = b[0] + b[2]; if (b[1] + b[3] > y1) y1 = b[1] + b[3];
    }
    const v = this.visible;
    x0 = Math.min(x0, v[0]); y0 = Math.min(y0, v[1]); x1 = Math.max(x1, v[0] + v[2]); y1 = Math.max(y1, v[1] + v[3]);
    return [x0, y0, x1 - x0, y1 - y0];
  }

  drawMinimap() {
    const m = this.mctx;
    if (!m || this.minimap.hidden) return;
    const W = this.minimap.width, H = this.minimap.height;
    m.setTransform(1, 0, 0, 1, 0, 0);
    m.fillStyle = THEME.minimap; m.fillRect(0, 0, W, H);
    const e = this.extent();
    const k = Math.min(W / e[2], H / e[3]);
    this.minimapTransform = { e, k };
    m.fillStyle = "#888";
    const b = this._b;
    for (const n of this.app.graph.nodes) {
      nodeBounds(n, b);
      m.fillRect((b[0] - e[0]) * k, (b[1] - e[1]) * k, Math.max(1, b[2] * k), Math.max(1, b[3] * k));
    }
    const v = this.visible;
    m.strokeStyle = THEME.selected; m.lineWidth = 1;
    m.strokeRect((v[0] - e[0]) * k, (v[1] - e[1]) * k, v[2] * k, v[3] * k);
  }
}
