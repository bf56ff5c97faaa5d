// Widgets drawn on the canvas (INT/FLOAT/STRING/BOOLEAN/COMBO, seed control, upload button),
// and what a click or drag on them does. Editing text uses small DOM overlays (overlay.js).

import { THEME } from "./colors.js";
import { t, valueName } from "./i18n.js";
import { promptText } from "./overlay.js";
import { CONTROL_VALUES } from "./schema.js";
import { WIDGET_CONTROL_MODE, setting } from "./settings.js";

const ARROW_W = 14;

function precisionOf(w) {
  const step = w.options.round || w.options.step || 0.01;
  const s = String(step);
  return s.includes(".") ? s.split(".")[1].length : 0;
}

export function formatValue(w) {
  if (w.type === "CONTROL") return valueName(w.value);
  if (w.type === "FLOAT") return Number(w.value).toFixed(Math.min(6, precisionOf(w)));
  if (w.type === "BOOLEAN") return w.value ? "true" : "false";
  return String(w.value);
}

export function clampValue(w, v) {
  let x = Number(v);
  if (!Number.isFinite(x)) return w.value;
  if (w.options.min != null) x = Math.max(w.options.min, x);
  if (w.options.max != null) x = Math.min(w.options.max, x);
  if (w.type === "INT") x = Math.min(Math.round(x), Number.MAX_SAFE_INTEGER); // 64-bit maxima lose precision in JS
  else x = Number(x.toFixed(precisionOf(w)));
  return x;
}

function stepOf(w) { return w.options.step ?? (w.type === "INT" ? 1 : 0.1); }

/** Draw one widget in graph coordinates. `text` is the renderer's cached text helper;
 * `label` is the widget's name as shown (translated). */
export function drawWidget(ctx, w, x, y, width, h, text, showText, label = w.name) {
  ctx.fillStyle = THEME.widget;
  ctx.strokeStyle = w.error ? THEME.error : THEME.widgetEdge;
  ctx.lineWidth = w.error ? 2 : 1;
  ctx.beginPath();
  ctx.roundRect(x, y, width, h, 6);
  ctx.fill();
  ctx.stroke();
  if (!showText) return;
  const mid = y + h / 2;
  ctx.fillStyle = THEME.widgetText;
  if (w.type === "UPLOAD" || w.type === "BUTTON") {
    ctx.textAlign = "center";
    ctx.fillText(w.type === "UPLOAD" ? t("choose file to upload") : t(w.name), x + width / 2, mid);
    ctx.textAlign = "left";
    return;
  }
  if (w.type === "STRING" && w.options.multiline) {
    ctx.fillStyle = THEME.dimText;
    const lines = text.wrap(String(w.value ?? ""), width - 12, 3);
    lines.forEach((line, i) => ctx.fillText(line, x + 6, y + 11 + i * 16));
    if (!w.value) ctx.fillText(label, x + 6, y + 11);
    return;
  }
  if (w.type === "BOOLEAN") {
    ctx.fillStyle = THEME.dimText;
    ctx.fillText(label, x + 10, mid);
    ctx.fillStyle = w.value ? "#7bd37b" : "#777";
    ctx.beginPath();
    ctx.arc(x + width - 14, mid, 5, 0, Math.PI * 2);
    ctx.fill();
    ctx.textAlign = "right";
    ctx.fillStyle = THEME.widgetText;
    ctx.fillText(w.value ? "true" : "false", x + width - 26, mid);
    ctx.textAlign = "left";
    return;
  }
  const arrows = w.type === "INT" || w.type === "FLOAT" || w.type === "COMBO" || w.type === "CONTROL";
  if (arrows) {
    ctx.fillStyle = "#888";
    ctx.fillText("\u25C0", x + 3, mid);
    ctx.textAlign = "right";
    ctx.fillText("\u25B6", x + width - 3, mid);
    ctx.textAlign = "left";
  }
  const pad = arrows ? ARROW_W + 4 : 8;
  ctx.fillStyle = THEME.dimText;
  const before = w.type === "CONTROL" && setting(WIDGET_CONTROL_MODE) === "before";
  const shown = w.type !== "CONTROL" ? label : before ? t("control before generate") : t("control after generate");
  // Label and value share the row: when both do not fit, the label keeps at least half
  // and the value the rest, so a long model name beside a short label is shown whole.
  const value = formatValue(w);
  const avail = width - 2 * pad - 8;
  const labelMax = Math.max(avail * 0.5, avail - text.width(value));
  ctx.fillText(text.fit(shown, labelMax), x + pad, mid);
  ctx.fillStyle = THEME.widgetText;
  ctx.textAlign = "right";
  ctx.fillText(text.fit(value, avail - Math.min(text.width(shown), labelMax)), x + width - pad, mid);
  ctx.textAlign = "left";
}

/** Which part of a widget was hit: "left", "right" (arrows) or "center". */
export function widgetArea(w, localX, width) {
  const arrows = ["INT", "FLOAT", "COMBO", "CONTROL"].includes(w.type);
  if (arrows && localX < ARROW_W + 2) return "left";
  if (arrows && localX > width - ARROW_W - 2) return "right";
  return "center";
}

function stepCombo(w, dir) {
  const values = w.options.values || [];
  if (!values.length) return;
  const i = values.indexOf(w.value);
  w.value = values[Math.max(0, Math.min(values.length - 1, (i < 0 ? 0 : i) + dir))];
}

/**
 * Start interacting with a widget. Returns a drag handler {move(dx), up(moved)} or null.
 * `ctx` gives: rect (screen rect of the widget), changed(), upload(node, w), menu(items, x, y, pick).
 */
export function pressWidget(w, node, area, ctx) {
  const changed = () => ctx.changed(node, w);
  if (w.type === "INT" || w.type === "FLOAT") {
    if (area !== "center") {
      w.value = clampValue(w, Number(w.value) + (area === "left" ? -1 : 1) * stepOf(w));
      changed();
      return null;
    }
    const start = Number(w.value);
    let last = start;
    return {
      move(dx) {
        const v = clampValue(w, start + Math.round(dx / 6) * stepOf(w));
        if (v !== last) { last = v; w.value = v; ctx.redraw(); }
      },
      up(moved) {
        if (moved) { changed(); return; }
        promptText(ctx.rect(), String(w.value), false, (text) => { w.value = clampValue(w, text); changed(); });
      },
    };
  }
  if (w.type === "BOOLEAN") { w.value = !w.value; changed(); return null; }
  if (w.type === "COMBO" || w.type === "CONTROL") {
    if (area !== "center") { stepCombo(w, area === "left" ? -1 : 1); changed(); return null; }
    const r = ctx.rect();
    ctx.menu((w.options.values || CONTROL_VALUES).map((v) => ({ label: w.type === "CONTROL" ? valueName(v) : String(v), value: v })), r.x, r.y + r.h,
      (v) => { w.value = v; changed(); }, { filter: (w.options.values || []).length > 8 });
    return null;
  }
  if (w.type === "STRING") {
    promptText(ctx.rect(), String(w.value ?? ""), !!w.options.multiline, (text) => { w.value = text; changed(); }, { node, widget: w });
    return null;
  }
  if (w.type === "UPLOAD") { ctx.upload(node, w); return null; }
  if (w.type === "BUTTON") { ctx.button(node, w); return null; }
  return null;
}

/** Apply each seed's "control after generate": after a prompt was queued, or before it
 * is made when Comfy.WidgetControlMode is "before" (runner.js), so the value shown is the
 * value the run used. */
export function applyControls(graph) {
  for (const node of graph.nodes) {
    node.widgets.forEach((w, i) => {
      if (w.type !== "CONTROL") return;
      const target = node.widgets[i - 1];
      if (!target || (target.type !== "INT" && target.type !== "FLOAT")) return;
      const max = Math.min(target.options.max ?? 2 ** 50, 2 ** 50), min = target.options.min ?? 0;
      if (w.value === "increment") target.value = Math.min(max, Number(target.value) + 1);
      else if (w.value === "decrement") target.value = Math.max(min, Number(target.value) - 1);
      else if (w.value === "randomize") target.value = min + Math.floor(Math.random() * (max - min));
    });
  }
}
