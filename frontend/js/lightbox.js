// The image viewer over the whole window: one image of a list at a time, with zoom (wheel
// at the cursor, buttons, fit / 100%), pan by dragging, previous / next (arrows, buttons),
// a "2 / 4" counter, and Open / Save / Copy. Escape or a click beside the image closes it.
// While it is open it takes the keyboard, so the graph behind gets no shortcuts.

import { copyImage, imageName, openImage, saveImage } from "./image_actions.js";
import { t } from "./i18n.js";
import { FullWindowView } from "./full_window.js";

const MIN_ZOOM = 0.02, MAX_ZOOM = 32, STEP = 1.25, CLICK_SLOP = 4;

let current = null;

/** The open viewer (for tests and other modules): {index, count, zoom} or null. */
export function lightboxState() {
  return current && { index: current.index, count: current.items.length, zoom: current.scale };
}

export function closeLightbox() { current?.close(); }

/** Show `items` ([{url, name?}]) starting at `index`. */
export function openLightbox(app, items, index = 0) {
  if (!items.length) return null;
  closeLightbox();
  current = new Lightbox(app, items, Math.max(0, Math.min(items.length - 1, index)));
  return current;
}

function button(action, label, title) {
  const b = document.createElement("button");
  b.type = "button";
  b.dataset.action = action;
  b.textContent = label;
  b.title = title;
  return b;
}

class Lightbox extends FullWindowView {
  constructor(app, items, index) {
    super();
    this.app = app;
    this.items = items;
    this.index = index;
    this.scale = 1; this.tx = 0; this.ty = 0; this.fit = true;
    this.build();
    this.listen();
    this.show(index);
  }

  build() {
    const el = this.el = document.createElement("div");
    el.className = "lightbox";
    el.setAttribute("role", "dialog");
    el.setAttribute("aria-modal", "true");
    const bar = document.createElement("div");
    bar.className = "lightbox-bar";
    this.counter = document.createElement("span");
    this.counter.className = "lightbox-counter";
    this.caption = document.createElement("span");
    this.caption.className = "lightbox-caption";
    this.zoomLabel = document.createElement("span");
    this.zoomLabel.className = "lightbox-zoom";
    bar.append(this.counter, this.caption,
      button("zoom-out", "\u2212", t("Zoom out (-)")), this.zoomLabel, button("zoom-in", "+", t("Zoom in (+)")),
      button("fit", t("Fit"), t("Fit to the window (0)")), button("actual", "100%", t("Actual pixels (1)")),
      button("open", t("Open"), t("Open in a new tab")), button("save", t("Save"), t("Save (download) the image")),
      button("copy", t("Copy"), t("Copy the image to the clipboard")), button("close", "\u00d7", t("Close (Escape)")));
    this.stage = document.createElement("div");
    this.stage.className = "lightbox-stage";
    this.img = document.createElement("img");
    this.img.className = "lightbox-image";
    this.img.draggable = false;
    this.img.alt = "";
    this.img.addEventListener("load", () => this.loaded());
    this.stage.appendChild(this.img);
    this.prev = button("prev", "\u2039", t("Previous (Left arrow)"));
    this.prev.classList.add("lightbox-prev");
    this.next = button("next", "\u203a", t("Next (Right arrow)"));
    this.next.classList.add("lightbox-next");
    el.append(this.stage, bar, this.prev, this.next);
    el.addEventListener("click", (e) => {
      const action = e.target.closest?.("button[data-action]")?.dataset.action;
      if (action) { e.stopPropagation(); this.act(action); }
    });
    // Shield the canvas and its menus from presses that land on the viewer.
    el.addEventListener("mousedown", (e) => e.stopPropagation());
    this.stage.addEventListener("pointerdown", (e) => this.down(e));
    this.stage.addEventListener("pointermove", (e) => this.move(e));
    this.stage.addEventListener("pointerup", (e) => this.up(e));
    this.stage.addEventListener("dblclick", (e) => this.toggleZoom(e));
    this.stage.addEventListener("wheel", (e) => this.wheel(e), { passive: false });
    document.body.appendChild(el);
  }

  act(action) {
    const item = this.items[this.index];
    const image = { url: item.url, name: item.name || imageName(item.url) };
    switch (action) {
      case "prev": this.show(this.index - 1); break;
      case "next": this.show(this.index + 1); break;
      case "zoom-in": this.zoomCentre(STEP); break;
      case "zoom-out": this.zoomCentre(1 / STEP); break;
      case "fit": this.fitImage(); break;
      case "actual": this.actualSize(); break;
      case "open": openImage(image); break;
      case "save": saveImage(image); break;
      case "copy": copyImage(this.app, image); break;
      case "close": this.close(); break;
    }
  }

  /** Show item `i` (wrapping around the ends), fitted to the window. */
  show(i) {
    const n = this.items.length;
    this.index = ((i % n) + n) % n;
    const item = this.items[this.index];
    this.counter.textContent = `${this.index + 1} / ${n}`;
    this.caption.textContent = item.name || imageName(item.url);
    this.prev.hidden = this.next.hidden = n < 2;
    this.fit = true;
    this.el.classList.add("loading");
    if (this.img.getAttribute("src") !== item.url) this.img.src = item.url;
    else if (this.img.complete) this.loaded();
    for (const k of [1, -1]) if (n > 1) new Image().src = this.items[(this.index + k + n) % n].url; // the neighbours, ahead
  }

  loaded() {
    const item = this.items[this.index];
    if (this.img.getAttribute("src") !== item.url) return;
    this.el.classList.remove("loading");
    this.caption.textContent = `${item.name || imageName(item.url)} \u00b7 ${this.img.naturalWidth} \u00d7 ${this.img.naturalHeight}`;
    if (this.fit) this.fitImage();
  }

  fitImage() {
    const r = this.stage.getBoundingClientRect(), w = this.img.naturalWidth || 1, h = this.img.naturalHeight || 1;
    this.scale = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, Math.min(r.width / w, r.height / h)));
    this.tx = (r.width - w * this.scale) / 2; this.ty = (r.height - h * this.scale) / 2;
    this.fit = true;
    this.apply();
  }

  actualSize() {
    const r = this.stage.getBoundingClientRect();
    this.zoomTo(r.width / 2, r.height / 2, 1);
  }

  /** Zoom by `k` keeping stage point (x, y) where it is. */
  zoomAt(x, y, k) { this.zoomTo(x, y, this.scale * k); }

  zoomTo(x, y, target) {
    const scale = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, target));
    this.tx = x - (x - this.tx) * (scale / this.scale);
    this.ty = y - (y - this.ty) * (scale / this.scale);
    this.scale = scale;
    this.fit = false;
    this.apply();
  }

  zoomCentre(k) { const r = this.stage.getBoundingClientRect(); this.zoomAt(r.width / 2, r.height / 2, k); }

  apply() {
    this.img.style.transform = `translate(${this.tx}px, ${this.ty}px) scale(${this.scale})`;
    this.img.classList.toggle("pixelated", this.scale >= 3);
    this.zoomLabel.textContent = `${Math.round(this.scale * 100)}%`;
  }

  local(e) { const r = this.stage.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; }

  wheel(e) {
    e.preventDefault();
    const [x, y] = this.local(e);
    this.zoomAt(x, y, Math.exp(-e.deltaY * (e.ctrlKey ? 0.01 : 0.002)));
  }

  toggleZoom(e) {
    if (e.target !== this.img) return;
    if (this.fit && Math.abs(this.scale - 1) > 0.01) { const [x, y] = this.local(e); this.zoomTo(x, y, 1); } else this.fitImage();
  }

  down(e) {
    if (e.button !== 0) return;
    this.stage.setPointerCapture(e.pointerId);
    this.drag = { x: e.clientX, y: e.clientY, tx: this.tx, ty: this.ty, moved: false, onImage: e.target === this.img };
  }

  move(e) {
    const d = this.drag;
    if (!d) return;
    const dx = e.clientX - d.x, dy = e.clientY - d.y;
    if (Math.abs(dx) + Math.abs(dy) > CLICK_SLOP) d.moved = true;
    if (!d.moved) return;
    this.tx = d.tx + dx; this.ty = d.ty + dy; this.fit = false;
    this.el.classList.add("panning");
    this.apply();
  }

  up() {
    const d = this.drag;
    this.drag = null;
    this.el.classList.remove("panning");
    if (d && !d.moved && !d.onImage) this.close(); // a click beside the image
  }

  key(e) {
    if (!this.el.isConnected) return;
    e.stopPropagation(); // the graph behind takes no keys while the viewer is open
    const ctrl = e.ctrlKey || e.metaKey, key = e.key || "";
    const handled = {
      Escape: () => this.close(), ArrowLeft: () => this.show(this.index - 1), ArrowRight: () => this.show(this.index + 1),
      Home: () => this.show(0), End: () => this.show(this.items.length - 1),
      "+": () => this.zoomCentre(STEP), "=": () => this.zoomCentre(STEP), "-": () => this.zoomCentre(1 / STEP),
      0: () => this.fitImage(), 1: () => this.actualSize(),
    }[key];
    if (ctrl && key.toLowerCase() === "c") { e.preventDefault(); this.act("copy"); return; }
    if (ctrl && key.toLowerCase() === "s") { e.preventDefault(); this.act("save"); return; }
    if (handled && !ctrl && !e.altKey) { e.preventDefault(); handled(); }
  }

  resized() { if (this.fit) this.fitImage(); }

  closed() { if (current === this) current = null; }
}
