// The mask editor: paint the area to regenerate on a Load Image node's picture (brush,
// eraser, size, hardness, invert, clear, undo/redo), saved as ComfyUI's editor saves it:
// POST /upload/mask makes a new copy of the image in input/clipspace/ whose painted pixels
// are transparent (Load Image's MASK is 1 - alpha), and the node's image widget points at
// that copy. The original file is never changed, and the server names the copy uniquely.

import { t } from "./i18n.js";
import { FullWindowView } from "./full_window.js";

const HISTORY_BYTES = 256 * 1024 * 1024; // undo snapshots are whole masks; big images keep fewer
const MAX_SIZE = 500;
const MASK_SUBFOLDER = "clipspace";
let current = null; // the open editor

/** The image widget a node's upload button fills, when it names a picture. */
export function maskTarget(node) {
  const up = node.widgets?.find((w) => w.type === "UPLOAD");
  const target = up && node.widgets.find((w) => w.name === up.options.target);
  return target?.value ? target : null;
}

/** A widget value ("sub/name.png", "name.png [output]") as /view's and /upload/mask's reference. */
export function imageRef(value) {
  let name = String(value), type = "input";
  const annotated = name.match(/^(.*) \[(input|output|temp)\]$/);
  if (annotated) { name = annotated[1]; type = annotated[2]; }
  const slash = name.lastIndexOf("/");
  return { filename: name.slice(slash + 1), subfolder: slash >= 0 ? name.slice(0, slash) : "", type };
}

/** "photo.png" -> "photo-mask.png"; a mask edited again keeps one "-mask" (the server numbers copies). */
function maskName(filename) {
  const stem = filename.replace(/\.[^.]*$/, "").replace(/-mask( \(\d+\))?$/, "");
  return `${stem}-mask.png`;
}

export function openMaskEditor(app, node) {
  const target = maskTarget(node);
  if (!target) return null;
  current?.close();
  current = new MaskEditor(app, node, target);
  return current;
}

/** Read-only view of the open editor for tests: pixel values and where pixels are on the page. */
export function maskEditorProbe() {
  const ed = current;
  if (!ed?.alpha) return null;
  return {
    width: ed.width, height: ed.height, tool: ed.tool, size: ed.size, hardness: ed.hardness,
    canUndo: ed.undoStack.length > 0, canRedo: ed.redoStack.length > 0,
    painted: ed.alpha.reduce((n, a) => n + (a >= 128), 0),
    at: (x, y) => ed.alpha[Math.floor(y) * ed.width + Math.floor(x)],
    toPage: (x, y) => { const r = ed.paint.getBoundingClientRect(); return [r.left + (x + 0.5) * r.width / ed.width, r.top + (y + 0.5) * r.height / ed.height]; },
  };
}

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text != null) e.textContent = text;
  return e;
}

function loadImage(src) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error(t("Could not load the image")));
    img.src = src;
  });
}

class MaskEditor extends FullWindowView {
  constructor(app, node, target) {
    super();
    Object.assign(this, { app, node, target, ref: imageRef(target.value) });
    this.tool = "brush";
    this.size = 16; // set from the picture's size once it has loaded
    this.hardness = 0.8;
    this.undoStack = []; this.redoStack = [];
    this.stroke = null;
    this.build();
    this.listen();
    this.load().catch((err) => { this.app.toast(err.message, "error"); this.close(); });
  }

  build() {
    const root = this.el = el("div", "mask-editor");
    root.setAttribute("role", "dialog");
    const bar = el("div", "mask-toolbar");
    const tool = (name, label, tip) => {
      const b = el("button", "mask-tool", label);
      b.dataset.tool = name; b.title = tip;
      b.addEventListener("click", () => this.setTool(name));
      return b;
    };
    const action = (name, label, tip, fn) => {
      const b = el("button", `mask-${name}`, label);
      b.title = tip;
      b.addEventListener("click", fn);
      return b;
    };
    const slider = (name, label, min, max, fn) => {
      const wrap = el("label", "mask-slider", label);
      const input = el("input");
      Object.assign(input, { type: "range", min, max, step: 1 });
      input.name = name;
      const shown = el("span", "mask-value");
      input.addEventListener("input", () => { fn(Number(input.value)); shown.textContent = input.value; });
      wrap.append(input, shown);
      return { wrap, input, shown };
    };
    this.tools = [tool("brush", t("Brush"), t("Paint the area to regenerate (B)")), tool("eraser", t("Eraser"), t("Take paint away (E; or paint with the right button)"))];
    this.sizeSlider = slider("size", t("Size"), 1, MAX_SIZE, (v) => { this.size = v; });
    this.hardSlider = slider("hardness", t("Hardness"), 0, 100, (v) => { this.hardness = v / 100; });
    this.undoButton = action("undo", t("Undo"), t("Undo (Ctrl+Z)"), () => this.undo());
    this.redoButton = action("redo", t("Redo"), t("Redo (Ctrl+Shift+Z)"), () => this.redo());
    this.saveButton = action("save", t("Save"), t("Save the mask into a copy of the image and use it"), () => this.save());
    bar.append(
      ...this.tools, this.sizeSlider.wrap, this.hardSlider.wrap,
      action("invert", t("Invert"), t("Paint what was left, leave what was painted"), () => this.edit((a) => { for (let i = 0; i < a.length; i++) a[i] = 255 - a[i]; })),
      action("clear", t("Clear"), t("Remove all paint"), () => this.edit((a) => a.fill(0))),
      this.undoButton, this.redoButton, el("span", "mask-spacer"),
      action("cancel", t("Cancel"), t("Close without saving (Escape)"), () => this.close()), this.saveButton,
    );
    this.stage = el("div", "mask-stage");
    this.frame = el("div", "mask-frame");
    this.picture = el("img", "mask-picture");
    this.picture.alt = "";
    this.paint = el("canvas", "mask-paint");
    this.cursor = el("div", "mask-cursor");
    this.frame.append(this.picture, this.paint);
    this.stage.append(this.frame, this.cursor);
    const hint = el("div", "mask-hint", t("Painted areas become transparent: Load Image's mask, the part inpainting regenerates. [ and ] change the brush size."));
    root.append(bar, this.stage, hint);
    this.stage.addEventListener("pointerdown", (e) => this.down(e));
    this.stage.addEventListener("pointermove", (e) => this.move(e));
    this.stage.addEventListener("pointerup", (e) => this.up(e));
    this.stage.addEventListener("pointercancel", (e) => this.up(e));
    this.stage.addEventListener("pointerleave", () => { this.cursor.hidden = true; });
    this.stage.addEventListener("contextmenu", (e) => e.preventDefault());
    this.stage.addEventListener("wheel", (e) => { e.preventDefault(); if (this.alpha) this.setSize(this.size * (e.deltaY < 0 ? 1.15 : 1 / 1.15)); }, { passive: false });
    // The graph behind takes no pointer events or drops while the editor is open.
    for (const type of ["pointerdown", "pointermove", "pointerup", "mousedown", "dblclick", "wheel", "drop", "dragover"]) {
      root.addEventListener(type, (e) => { e.stopPropagation(); if (type === "drop" || type === "dragover") e.preventDefault(); });
    }
    this.setTool("brush");
    this.updateButtons();
    document.body.appendChild(root);
  }

  /** The picture without its alpha (so masked parts still show) and the mask from its alpha. */
  async load() {
    const url = this.app.api.viewUrl(this.ref);
    const [shown, full] = await Promise.all([loadImage(`${url}&channel=rgb`), loadImage(url)]);
    if (!this.el.isConnected) return;
    const w = this.width = full.naturalWidth, h = this.height = full.naturalHeight;
    const read = document.createElement("canvas");
    read.width = w; read.height = h;
    const rctx = read.getContext("2d", { willReadFrequently: true });
    rctx.drawImage(full, 0, 0);
    const rgba = rctx.getImageData(0, 0, w, h).data;
    this.alpha = new Uint8ClampedArray(w * h);
    for (let i = 0; i < this.alpha.length; i++) this.alpha[i] = 255 - rgba[i * 4 + 3];
    this.picture.src = shown.src;
    this.paint.width = w; this.paint.height = h;
    this.ctx = this.paint.getContext("2d");
    this.pixels = this.ctx.createImageData(w, h);
    this.maxHistory = Math.max(3, Math.floor(HISTORY_BYTES / (w * h)));
    this.setSize(Math.max(4, Math.round(Math.max(w, h) / 10)));
    this.hardSlider.input.value = this.hardness * 100; this.hardSlider.shown.textContent = this.hardSlider.input.value;
    this.render(0, 0, w, h);
    this.fit();
    this.el.dataset.ready = "1";
  }

  /** Scale the picture to the stage, never above its own size times four. */
  fit() {
    if (!this.width) return;
    const r = this.stage.getBoundingClientRect();
    const scale = Math.min((r.width - 24) / this.width, (r.height - 24) / this.height, 4);
    this.scale = Math.max(scale, 0.01);
    this.frame.style.width = `${this.width * this.scale}px`;
    this.frame.style.height = `${this.height * this.scale}px`;
  }

  setTool(name) {
    this.tool = name;
    for (const b of this.tools) b.classList.toggle("active", b.dataset.tool === name);
  }

  setSize(v) {
    this.size = Math.min(MAX_SIZE, Math.max(1, Math.round(v)));
    this.sizeSlider.input.value = this.size;
    this.sizeSlider.shown.textContent = String(this.size);
    this.showCursor();
  }

  /** Copy the mask's dirty rectangle into the overlay canvas (paint is black; CSS makes it translucent). */
  render(x0, y0, x1, y1) {
    x0 = Math.max(0, Math.floor(x0)); y0 = Math.max(0, Math.floor(y0));
    x1 = Math.min(this.width, Math.ceil(x1)); y1 = Math.min(this.height, Math.ceil(y1));
    if (x1 <= x0 || y1 <= y0) return;
    const data = this.pixels.data, w = this.width;
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) data[(y * w + x) * 4 + 3] = this.alpha[y * w + x];
    this.ctx.putImageData(this.pixels, 0, 0, x0, y0, x1 - x0, y1 - y0);
  }

  imagePoint(e) {
    const r = this.paint.getBoundingClientRect();
    return [(e.clientX - r.left) * this.width / r.width, (e.clientY - r.top) * this.height / r.height];
  }

  showCursor(e) {
    if (e) this.lastClient = [e.clientX, e.clientY];
    if (!this.lastClient || !this.scale) return;
    const s = this.stage.getBoundingClientRect(), d = this.size * this.scale;
    Object.assign(this.cursor.style, { width: `${d}px`, height: `${d}px`, left: `${this.lastClient[0] - s.left - d / 2}px`, top: `${this.lastClient[1] - s.top - d / 2}px` });
    this.cursor.hidden = false;
  }

  down(e) {
    if (!this.alpha || (e.button !== 0 && e.button !== 2)) return;
    e.preventDefault();
    this.stage.setPointerCapture(e.pointerId);
    const erase = this.tool === "eraser" || e.button === 2;
    // `before` is the undo snapshot; `reach` holds the stroke's strongest touch per pixel,
    // so overlapping dabs of a soft brush do not pile up into a hard edge.
    this.stroke = { erase, before: this.alpha.slice(), reach: new Uint8ClampedArray(this.alpha.length), last: this.imagePoint(e), pointer: e.pointerId };
    this.dab(...this.stroke.last);
  }

  move(e) {
    this.showCursor(e);
    const s = this.stroke;
    if (!s || e.pointerId !== s.pointer) return;
    const [x, y] = this.imagePoint(e), [lx, ly] = s.last;
    const steps = Math.max(1, Math.ceil(Math.hypot(x - lx, y - ly) / Math.max(1, this.size / 5)));
    for (let i = 1; i <= steps; i++) this.dab(lx + (x - lx) * i / steps, ly + (y - ly) * i / steps);
    s.last = [x, y];
  }

  up(e) {
    const s = this.stroke;
    if (!s || e.pointerId !== s.pointer) return;
    this.stroke = null;
    if (s.before.some((v, i) => v !== this.alpha[i])) this.remember(s.before);
  }

  /** One round dab at image point (cx, cy): full strength inside hardness x radius, then a smooth fall. */
  dab(cx, cy) {
    const s = this.stroke, r = this.size / 2, hard = Math.min(this.hardness, 0.999), w = this.width;
    const x0 = Math.max(0, Math.floor(cx - r)), x1 = Math.min(w, Math.ceil(cx + r));
    const y0 = Math.max(0, Math.floor(cy - r)), y1 = Math.min(this.height, Math.ceil(cy + r));
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) {
      const d = Math.hypot(x + 0.5 - cx, y + 0.5 - cy) / Math.max(r, 0.5);
      if (d >= 1) continue;
      const f = d <= hard ? 1 : 1 - (d - hard) / (1 - hard);
      const v = Math.round(255 * f * f * (3 - 2 * f));
      const i = y * w + x;
      if (v <= s.reach[i]) continue;
      s.reach[i] = v;
      this.alpha[i] = s.erase ? Math.min(s.before[i], 255 - v) : Math.max(s.before[i], v);
    }
    this.render(x0, y0, x1, y1);
  }

  /** A change to the whole mask (invert, clear), undoable like a stroke. */
  edit(fn) {
    if (!this.alpha) return;
    const before = this.alpha.slice();
    fn(this.alpha);
    this.remember(before);
    this.render(0, 0, this.width, this.height);
  }

  remember(before) {
    this.undoStack.push(before);
    if (this.undoStack.length > this.maxHistory) this.undoStack.shift();
    this.redoStack = [];
    this.updateButtons();
  }

  undo() { this.swap(this.undoStack, this.redoStack); }
  redo() { this.swap(this.redoStack, this.undoStack); }

  swap(from, to) {
    if (!from.length || this.stroke) return;
    to.push(this.alpha);
    this.alpha = from.pop();
    this.render(0, 0, this.width, this.height);
    this.updateButtons();
  }

  updateButtons() {
    this.undoButton.disabled = !this.undoStack.length;
    this.redoButton.disabled = !this.redoStack.length;
  }

  key(e) {
    if (!this.el.isConnected) return;
    e.stopPropagation(); // the graph behind takes no keys while the editor is open
    const ctrl = e.ctrlKey || e.metaKey, key = e.key.toLowerCase();
    if (key === "escape") { e.preventDefault(); this.close(); }
    else if (ctrl && key === "z" && !e.shiftKey) { e.preventDefault(); this.undo(); }
    else if (ctrl && (key === "y" || (key === "z" && e.shiftKey))) { e.preventDefault(); this.redo(); }
    else if (ctrl || e.altKey) return;
    else if (key === "[") this.setSize(this.size / 1.25);
    else if (key === "]") this.setSize(this.size * 1.25);
    else if (key === "b") this.setTool("brush");
    else if (key === "e") this.setTool("eraser");
  }

  /** The mask as ComfyUI's editor sends it (transparent where painted), into a new copy of the image. */
  async save() {
    if (!this.alpha || this.saving) return;
    this.saving = true; this.saveButton.disabled = true;
    try {
      const out = document.createElement("canvas");
      out.width = this.width; out.height = this.height;
      const octx = out.getContext("2d");
      const img = octx.createImageData(this.width, this.height);
      for (let i = 0; i < this.alpha.length; i++) img.data[i * 4 + 3] = 255 - this.alpha[i];
      octx.putImageData(img, 0, 0);
      const blob = await new Promise((resolve) => out.toBlob(resolve, "image/png"));
      const r = await this.app.api.uploadMask(blob, maskName(this.ref.filename), this.ref, MASK_SUBFOLDER);
      const name = r.subfolder ? `${r.subfolder}/${r.name}` : r.name;
      const values = this.target.options.values;
      if (Array.isArray(values) && !values.includes(name)) values.push(name);
      this.target.value = name;
      this.app.widgetChanged(this.node, this.target); // new thumbnail, one undo step
      this.close();
    } catch (err) {
      this.app.toast(t("The mask was not saved: {error}", { error: err.message }), "error");
      this.saving = false; this.saveButton.disabled = false;
    }
  }

  resized() { this.fit(); }

  closed() { if (current === this) current = null; }
}
