// `api` as ComfyUI frontend extensions import it ("../../scripts/api.js"): server calls
// (fetchApi) and server events (addEventListener, with the message data as event.detail),
// over the editor's own WebSocket client once it is connected.

const listeners = new Map();

export const api = {
  api_base: "",
  clientId: null, // the editor's client id, set before any extension script is imported
  apiURL(route) { return `/api${route}`; },
  fileURL(route) { return route; },
  fetchApi(route, options = {}) { return fetch(this.apiURL(route), options); },
  addEventListener(type, fn) {
    if (!listeners.has(type)) listeners.set(type, new Set());
    listeners.get(type).add(fn);
  },
  removeEventListener(type, fn) { listeners.get(type)?.delete(fn); },
  dispatchEvent(event) {
    for (const fn of listeners.get(event.type) || []) {
      try { fn(event); } catch (err) { console.warn(`extension listener for ${event.type} failed`, err); }
    }
    return true;
  },
  /** Called by the editor's client for every message it receives. */
  deliver(type, data) { this.dispatchEvent(new CustomEvent(type, { detail: data })); },
};

export default api;
