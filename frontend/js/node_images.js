// Images inside a node: the outputs of its last run (every image of a batch, as a grid of
// thumbnails, like ComfyUI) or a Load Image node's picture, with the pixel size beneath.
// A click on one opens the viewer; the node menu offers Open / Save / Copy. The grid is
// laid out again only when the node's size, the images or the language change, so
// drawing a frame allocates nothing.

import { fitSize, imageArea } from "./layout.js";
import { onLanguageChange, t } from "./i18n.js";
import { THEME } from "./colors.js";
import { copyImage, imageName, openImage, saveImage } from "./image_actions.js";
import { openLightbox } from "./lightbox.js";

const LABEL_H = 16, GAP = 2;
let language = 0; // bumped on a language change: the size labels are written again
onLanguageChange(() => { language++; });

/** Show the images of an `executed` message ([{filename, subfolder, type}]) on the node. */
export function setOutputImages(app, node, refs) {
  node.outputs_ui = refs;
  node.images = refs.map((ref) => {
    const img = new Image();
    img.ref = ref;
    img.onload = () => { node.imageGrid = null; app.redraw(); };
    img.src = app.api.viewUrl(ref);
    return img;
  });
  node.imageGrid = null;
  fitSize(node);
  app.redraw();
}

const ready = (img) => img && img.complete && img.naturalWidth > 0;

/** What the node shows: its output images when any have loaded, else its thumbnail. */
function shown(node) {
  if (node.images?.length && node.images.some(ready)) return node.images;
  if (!ready(node.thumbnail)) return null;
  if (node.thumbnailImages?.[0] !== node.thumbnail) node.thumbnailImages = [node.thumbnail]; // one list per picture
  return node.thumbnailImages;
}

/** The viewer's list for the node: [{url, name}] (output images, or the Load Image picture). */
export function nodeImageItems(node) {
  const images = shown(node) || [];
  return images.filter(ready).map((img) => ({ url: img.src, name: img.ref?.filename || imageName(img.src) }));
}

/** The grid for the node's current images, laid out again only when something changed. */
function grid(node, images) {
  const first = images.find(ready);
  const g = node.imageGrid;
  if (g && g.images === images && g.count === images.length && g.px === node.pos[0] && g.py === node.pos[1]
    && g.w === node.size[0] && g.h === node.size[1] && g.language === language && g.first === first) return g;
  const area = imageArea(node);
  if (!area || !first) { node.imageGrid = null; return null; }
  const n = images.length, iw = first.naturalWidth, ih = first.naturalHeight;
  const aw = area[2], ah = Math.max(1, area[3] - LABEL_H);
  let cols = 1, best = 0;
  for (let c = 1; c <= n; c++) { // the column count that shows the thumbnails largest
    const k = Math.min(aw / c / iw, ah / Math.ceil(n / c) / ih);
    if (k > best) { best = k; cols = c; }
  }
  const rows = Math.ceil(n / cols);
  // Cells as large as the thumbnails at that scale, the block centred in the area.
  const cw = n > 1 ? Math.min(aw / cols, iw * best) : aw, ch = n > 1 ? Math.min(ah / rows, ih * best) : ah;
  const label = n > 1 ? t("{n} images, {w} × {h}", { n, w: iw, h: ih }) : `${iw} × ${ih}`;
  node.imageGrid = {
    images, count: n, first, px: node.pos[0], py: node.pos[1], w: node.size[0], h: node.size[1], language,
    x: area[0] + (aw - cw * cols) / 2, y: area[1] + (ah - ch * rows) / 2, cw, ch, cols, rows, label, labelY: area[1] + ah + LABEL_H / 2,
    cx: area[0] + aw / 2, single: n === 1,
  };
  return node.imageGrid;
}

/** Where cell `i`'s image is drawn: written into `out` as [x, y, w, h]. */
function cellRect(g, img, i, out) {
  const c = i % g.cols, r = (i / g.cols) | 0;
  const gap = g.single ? 0 : GAP;
  const k = Math.min((g.cw - gap * 2) / img.naturalWidth, (g.ch - gap * 2) / img.naturalHeight);
  out[2] = img.naturalWidth * k; out[3] = img.naturalHeight * k;
  out[0] = g.x + c * g.cw + (g.cw - out[2]) / 2; out[1] = g.y + r * g.ch + (g.ch - out[3]) / 2;
  return out;
}

const rect = [0, 0, 0, 0];

/** Draw the live preview while the node runs, else its images and their pixel size. */
export function drawNodeImages(ctx, node, state, text) {
  if (state.previewNode === node.id && ready(state.preview)) { drawPreview(ctx, node, state.preview); return; }
  const images = shown(node);
  const g = images && grid(node, images);
  if (!g) return;
  for (let i = 0; i < images.length; i++) {
    const img = images[i];
    if (!ready(img)) continue;
    cellRect(g, img, i, rect);
    ctx.imageSmoothingEnabled = rect[2] < img.naturalWidth;
    ctx.drawImage(img, rect[0], rect[1], rect[2], rect[3]);
  }
  ctx.fillStyle = THEME.dimText;
  ctx.textAlign = "center";
  ctx.fillText(text.fit(g.label, node.size[0] - 12), g.cx, g.labelY);
  ctx.textAlign = "left";
}

function drawPreview(ctx, node, img) {
  const r = imageArea(node);
  if (!r) return;
  const k = Math.min(r[2] / img.naturalWidth, r[3] / img.naturalHeight);
  const iw = img.naturalWidth * k, ih = img.naturalHeight * k;
  ctx.imageSmoothingEnabled = k < 1;
  ctx.drawImage(img, r[0] + (r[2] - iw) / 2, r[1] + (r[3] - ih) / 2, iw, ih);
}

/** The index of the image under graph point (gx, gy) on the node, or -1. */
export function imageIndexAt(node, gx, gy) {
  const images = shown(node);
  const g = images && grid(node, images);
  if (!g) return -1;
  for (let i = 0; i < images.length; i++) {
    if (!ready(images[i])) continue;
    cellRect(g, images[i], i, rect);
    if (gx >= rect[0] && gx <= rect[0] + rect[2] && gy >= rect[1] && gy <= rect[1] + rect[3]) return i;
  }
  return -1;
}

/** A plain click on the node at (gx, gy): open the image there in the viewer, if any. */
export function openImageAt(app, node, gx, gy) {
  const i = imageIndexAt(node, gx, gy);
  if (i < 0) return false;
  const items = nodeImageItems(node);
  const url = shown(node)[i].src;
  openLightbox(app, items, Math.max(0, items.findIndex((x) => x.url === url)));
  return true;
}

/** Page-independent facts for tests: the centre of image `i` in graph units, the label. */
export function imageCellCentre(node, i) {
  const images = shown(node);
  const g = images && grid(node, images);
  if (!g || !ready(images[i])) return null;
  cellRect(g, images[i], i, rect);
  return [rect[0] + rect[2] / 2, rect[1] + rect[3] / 2];
}

export function imageLabel(node) {
  const images = shown(node);
  return (images && grid(node, images)?.label) || null;
}

/** Node menu entries for the image under (gx, gy) (or the first): View, Open, Save, Copy. */
export function imageMenuItems(app, node, gx, gy) {
  const items = nodeImageItems(node);
  if (!items.length) return [];
  const under = imageIndexAt(node, gx, gy);
  const url = under >= 0 ? shown(node)[under].src : items[0].url;
  const index = Math.max(0, items.findIndex((x) => x.url === url));
  const image = items[index];
  return [
    { label: t("View image"), action: () => openLightbox(app, items, index) },
    { label: t("Open image"), action: () => openImage(image) },
    { label: t("Save image"), action: () => saveImage(image) },
    { label: t("Copy image"), action: () => copyImage(app, image) },
  ];
}
