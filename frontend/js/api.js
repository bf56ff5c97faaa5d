// The HTTP + WebSocket client for the server's ComfyUI-compatible API (the studio's own
// /studio/... routes are asked for through studio_client.js).

/** A refused request as one line: per-field messages when the server gave them. */
export function errorText(r) {
  const fields = r.data?.field_errors;
  if (fields && typeof fields === "object") return Object.entries(fields).map(([k, v]) => `${k}: ${v}`).join("; ");
  return r.data?.error?.message || `HTTP ${r.status}`;
}

export class Api {
  constructor(base = "") {
    this.base = base;
    this.clientId = sessionStorage.getItem("studio.clientId") || crypto.randomUUID?.() || String(Math.random()).slice(2);
    sessionStorage.setItem("studio.clientId", this.clientId);
    this.handlers = new Map();
    this.ws = null;
  }

  async json(path, options = {}) {
    const response = await fetch(this.base + path, options);
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = { error: { message: text } }; }
    return { ok: response.ok, status: response.status, data };
  }

  post(path, body) {
    return this.json(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  }

  async objectInfo() {
    const r = await this.json("/object_info");
    if (!r.ok) throw new Error(`GET /object_info failed (${r.status})`);
    return r.data;
  }

  queuePrompt(prompt, workflow, front = false) {
    const body = { prompt, client_id: this.clientId, extra_data: { extra_pnginfo: { workflow }, preview_method: "auto" } };
    if (front) body.front = true;
    return this.post("/prompt", body);
  }

  clearQueue() { return this.post("/queue", { clear: true }); }
  clearHistory() { return this.post("/history", { clear: true }); }

  getQueue() { return this.json("/queue"); }
  getHistory(max = 50) { return this.json(`/history?max_items=${max}`); }
  deleteQueued(ids) { return this.post("/queue", { delete: ids }); }
  interrupt(promptId) { return this.post("/interrupt", promptId ? { prompt_id: promptId } : {}); }
  systemStats() { return this.json("/system_stats"); }

  async uploadImage(file, { type = "input", subfolder = "" } = {}) {
    const form = new FormData();
    form.append("image", file, file.name);
    form.append("type", type);
    if (subfolder) form.append("subfolder", subfolder);
    form.append("overwrite", "true");
    const r = await fetch(this.base + "/upload/image", { method: "POST", body: form });
    const data = await r.json();
    if (!r.ok) throw new Error(data?.error?.message || `upload failed (${r.status})`);
    return data;
  }

  /** The mask editor's save (ComfyUI's POST /upload/mask): `blob`'s alpha becomes the alpha of a
   * new copy of the image `original` ({filename, subfolder, type}) names; never over another file. */
  async uploadMask(blob, name, original, subfolder) {
    const form = new FormData();
    form.append("image", blob, name);
    form.append("original_ref", JSON.stringify(original));
    form.append("type", "input");
    form.append("subfolder", subfolder);
    const r = await fetch(this.base + "/upload/mask", { method: "POST", body: form });
    const data = await r.json().catch(() => null);
    if (!r.ok) throw new Error(data?.error?.message || `upload failed (${r.status})`);
    return data;
  }

  viewUrl(image) {
    const q = new URLSearchParams({ filename: image.filename ?? image.name, type: image.type || "output", subfolder: image.subfolder || "" });
    return `${this.base}/view?${q}`;
  }

  /** Subscribe to a WebSocket message type ("preview" for binary preview frames). */
  on(type, fn) {
    if (!this.handlers.has(type)) this.handlers.set(type, []);
    this.handlers.get(type).push(fn);
  }

  emit(type, data) { for (const fn of this.handlers.get(type) || []) fn(data); }

  connect() {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${proto}://${location.host}${this.base}/ws?clientId=${encodeURIComponent(this.clientId)}`);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => { this.retryMs = 0; this.emit("open", null); };
    ws.onmessage = (event) => {
      if (event.data instanceof ArrayBuffer) {
        const view = new DataView(event.data);
        if (view.byteLength < 8 || view.getUint32(0) !== 1) return;
        const mime = view.getUint32(4) === 2 ? "image/png" : "image/jpeg";
        this.emit("preview", new Blob([event.data.slice(8)], { type: mime }));
        return;
      }
      let msg;
      try { msg = JSON.parse(event.data); } catch { return; }
      this.emit(msg.type, msg.data);
      this.emit("*", msg);
    };
    // Reconnect at once, then less often (up to every 5 s) while the server stays away.
    ws.onclose = () => {
      this.emit("close", null);
      this.retryMs = Math.min(5000, (this.retryMs || 250) * 2);
      setTimeout(() => this.connect(), this.retryMs);
    };
    this.ws = ws;
  }
}
