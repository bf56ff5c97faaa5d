import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

window.__studioV1 = { imported: true, setup: false, defs: 0, events: [] };
app.registerExtension({
  name: "studio.v1.test",
  async setup() { window.__studioV1.setup = true; },
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData.python_module === "custom_nodes.studio_v1_pack") window.__studioV1.defs += 1;
  },
});
api.addEventListener("studio_v1.event", (event) => window.__studioV1.events.push(event.detail));
