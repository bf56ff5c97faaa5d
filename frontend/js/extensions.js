// Node packs' web extensions (their WEB_DIRECTORY scripts, listed by GET /extensions) and
// the packs' load report: scripts are imported one by one, a failing one is reported and
// skipped; packs that failed to load on the server are named with their reason.

import { app as comfyApp } from "../scripts/app.js";
import { api as comfyApi } from "../scripts/api.js";
import { t } from "./i18n.js";
import { studio } from "./studio_client.js";

async function call(extension, hook, ...args) {
  if (typeof extension[hook] !== "function") return null;
  try { await extension[hook](...args); return null; } catch (err) { return `${extension.name}.${hook}: ${err?.message || err}`; }
}

/** Import every extension script, then run their hooks; returns what happened. */
export async function loadExtensions(app) {
  const state = { loaded: [], failed: [], hookErrors: [], packs: [] };
  comfyApp.studio = app;
  comfyApp.nodeDefs = Object.fromEntries(Object.entries(app.schema?.defs ?? {}).filter(([, d]) => d.python_module));
  comfyApi.clientId = app.api.clientId;
  app.api.on("*", (msg) => comfyApi.deliver(msg.type, msg.data));
  const listed = await app.api.json("/extensions");
  for (const url of listed.ok && Array.isArray(listed.data) ? listed.data : []) {
    try {
      await import(url);
      state.loaded.push(url);
    } catch (err) {
      state.failed.push({ url, reason: String(err?.message || err) });
      console.warn(`web extension ${url} failed to load`, err);
    }
  }
  const defs = comfyApp.nodeDefs;
  for (const extension of comfyApp.extensions) {
    const errors = [await call(extension, "init", comfyApp), await call(extension, "addCustomNodeDefs", defs, comfyApp)];
    for (const [name, def] of Object.entries(defs)) {
      errors.push(await call(extension, "beforeRegisterNodeDef", { comfyClass: name, title: def.display_name, prototype: {} }, def, comfyApp));
    }
    errors.push(await call(extension, "setup", comfyApp));
    state.hookErrors.push(...errors.filter(Boolean));
  }
  const packs = await studio(app.api).packs();
  state.packs = packs.ok && Array.isArray(packs.data) ? packs.data : [];
  for (const pack of state.packs.filter((p) => p.status === "failed")) {
    app.toast(`${t("Node pack failed to load")}: ${pack.name}: ${pack.reason}`, "error");
  }
  if (state.failed.length) {  // one message: scripts written for ComfyUI's own editor fail together
    const more = state.failed.length > 1 ? ` (+${state.failed.length - 1})` : "";
    app.toast(`${t("Web extension failed to load")}: ${state.failed[0].url}${more}`, "error");
  }
  return state;
}
