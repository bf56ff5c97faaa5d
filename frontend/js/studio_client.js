// The studio's own server routes (/studio/...): shipped workflow templates, autocomplete
// tags, node-pack load reports, UI locales, the prompt library and model presets. They are
// not part of ComfyUI's API, so they are asked for here only, through the editor's Api;
// every call answers the Api's {ok, status, data}.

const path = encodeURIComponent;

export class StudioClient {
  constructor(api) { this.api = api; }

  templates() { return this.api.json("/studio/workflows"); }
  template(name) { return this.api.json(`/studio/workflows/${path(name)}`); }

  tags() { return this.api.json("/studio/tags"); }
  packs() { return this.api.json("/studio/packs"); }

  locales() { return this.api.json("/studio/locales"); }
  locale(code) { return this.api.json(`/studio/locales/${path(code)}`); }

  promptLibrary() { return this.api.json("/studio/prompt_library"); }
  addSnippet(snippet) { return this.api.post("/studio/prompt_library", snippet); }
  deleteSnippet(id) { return this.api.json(`/studio/prompt_library/${path(id)}`, { method: "DELETE" }); }

  presets(model) { return this.api.json(`/studio/presets?${new URLSearchParams({ model })}`); }
  /** body: {model, preset, replace?}; a 409 answer means the name is taken. */
  savePreset(body) { return this.api.post("/studio/presets", body); }
  deletePreset(model, name) { return this.api.json(`/studio/presets?${new URLSearchParams({ model, name })}`, { method: "DELETE" }); }
}

const clients = new WeakMap();

/** The StudioClient of an Api, made on first use (the editor has one Api). */
export function studio(api) {
  let client = clients.get(api);
  if (!client) clients.set(api, (client = new StudioClient(api)));
  return client;
}
