// `app` as ComfyUI frontend extensions import it ("../../scripts/app.js" from a pack's
// web folder): they register themselves here, and the editor calls their hooks once it has
// started (init, addCustomNodeDefs, beforeRegisterNodeDef, setup). Hooks that need
// ComfyUI's own canvas (LiteGraph) have nothing to act on in this editor.

import { api } from "./api.js";

export const app = {
  api,
  extensions: [],
  studio: null, // the editor, once started
  nodeDefs: {},
  registerExtension(extension) {
    if (!extension || typeof extension.name !== "string") throw new Error("an extension needs a name");
    if (this.extensions.some((e) => e.name === extension.name)) throw new Error(`extension ${extension.name} is already registered`);
    this.extensions.push(extension);
  },
  get graph() { return this.studio?.graph ?? null; },
  get canvasEl() { return this.studio?.canvas ?? null; },
  queuePrompt() { return this.studio?.queue?.(); },
};

export default app;
