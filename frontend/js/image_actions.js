// What one can do with a shown image, from the viewer or a node's menu: open it in a new
// tab, save (download) it, copy it to the clipboard as PNG. An image is {url, name}.

import { t } from "./i18n.js";

/** The file name of an image served by /view (its `filename` query), for downloads. */
export function imageName(url, fallback = "image.png") {
  try {
    const name = new URL(url, location.href).searchParams.get("filename");
    return name ? name.split("/").pop() : fallback;
  } catch { return fallback; }
}

export function openImage(image) { window.open(image.url, "_blank", "noopener"); }

/** A download of the image under its own name (same origin, so `download` is honoured). */
export function saveImage(image) {
  const a = document.createElement("a");
  a.href = image.url;
  a.download = image.name || imageName(image.url);
  document.body.appendChild(a);
  a.click();
  a.remove();
}

/** The image as a PNG blob: fetched, and re-encoded through a canvas when it is not PNG. */
async function pngBlob(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const blob = await response.blob();
  if (blob.type === "image/png") return blob;
  const bitmap = await createImageBitmap(blob);
  const canvas = document.createElement("canvas");
  canvas.width = bitmap.width; canvas.height = bitmap.height;
  canvas.getContext("2d").drawImage(bitmap, 0, 0);
  bitmap.close?.();
  return new Promise((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error("PNG encoding failed"))), "image/png"));
}

/** Put the image on the clipboard; browsers allow it only on HTTPS or localhost, and may
 * refuse it anyway (permission, focus): the user is told which, and pointed at Save. */
export async function copyImage(app, image) {
  if (!window.isSecureContext || !window.ClipboardItem || !navigator.clipboard?.write) {
    app.toast(t("This browser does not allow copying images on this page (it needs HTTPS or localhost); use Save instead"), "error");
    return false;
  }
  try {
    // The blob is handed over as a promise so the click still counts as the user's gesture.
    await navigator.clipboard.write([new ClipboardItem({ "image/png": pngBlob(image.url) })]);
  } catch (err) {
    app.toast(t("The browser refused to copy the image: {error}", { error: err.message || String(err) }), "error");
    return false;
  }
  app.toast(t("Image copied to the clipboard"), "info");
  return true;
}
