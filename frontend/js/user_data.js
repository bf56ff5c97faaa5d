// ComfyUI's user-data API: the user's settings (GET/POST /settings) and files
// (/userdata/...), which both this editor and ComfyUI's own frontend read and write, so
// saved workflows and settings are shared between them and between browsers. Every call
// answers the Api's {ok, status, data}; a server that cannot be reached answers status 0.

// A file's path below the user's folder travels as ONE path segment ("workflows/a.json"
// -> "workflows%2Fa.json"), as ComfyUI's routes expect.
const segment = encodeURIComponent;

async function call(request) {
  try { return await request(); } catch (err) { return { ok: false, status: 0, data: { error: { message: err.message } } }; }
}

export class UserDataClient {
  constructor(api) { this.api = api; }

  settings() { return call(() => this.api.json("/settings")); }
  setSetting(id, value) { return call(() => this.api.post(`/settings/${segment(id)}`, value)); }

  /** The files below a folder as [{path, size, modified, created}], paths relative to it;
   * a folder not made yet lists as empty. */
  async list(dir) {
    const q = new URLSearchParams({ dir, recurse: "true", full_info: "true" });
    const r = await call(() => this.api.json(`/userdata?${q}`));
    if (r.status === 404) return { ok: true, status: 200, data: [] };
    return r;
  }

  /** A JSON file's content (as data). */
  read(path) { return call(() => this.api.json(`/userdata/${segment(path)}`, { cache: "no-store" })); }

  /** Write text; with overwrite false an existing file is left alone and 409 comes back. */
  write(path, text, { overwrite = true } = {}) {
    return call(() => this.api.json(`/userdata/${segment(path)}?overwrite=${overwrite}`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: text,
    }));
  }

  remove(path) { return call(() => this.api.json(`/userdata/${segment(path)}`, { method: "DELETE" })); }

  /** Rename; with overwrite false a taken destination answers 409. */
  move(path, dest, { overwrite = false } = {}) {
    return call(() => this.api.json(`/userdata/${segment(path)}/move/${segment(dest)}?overwrite=${overwrite}`, { method: "POST" }));
  }
}

const clients = new WeakMap();

/** The UserDataClient of an Api, made on first use (the editor has one Api). */
export function userData(api) {
  let client = clients.get(api);
  if (!client) clients.set(api, (client = new UserDataClient(api)));
  return client;
}
