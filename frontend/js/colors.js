// Socket and wire colours by type; unknown types get a stable colour from their name.

const KNOWN = {
  MODEL: "#b39ddb", CLIP: "#ffd500", VAE: "#ff6e6e", CONDITIONING: "#ffa931", LATENT: "#ff9cf9",
  IMAGE: "#64b5f6", MASK: "#81c784", INT: "#a0a0a0", FLOAT: "#a0a0a0", STRING: "#a0a0a0", "*": "#dddddd",
};
const cache = new Map();

export function typeColor(type) {
  let c = KNOWN[type] ?? cache.get(type);
  if (c) return c;
  let h = 0;
  for (const ch of String(type)) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  c = `hsl(${h % 360}, 60%, 65%)`;
  cache.set(type, c);
  return c;
}

/** Canvas colours of the dark and light themes; THEME holds the one in use (theme.js swaps it). */
export const PALETTES = {
  dark: {
    background: "#1e1e1e", grid: "#262626", node: "#353535", nodeTitle: "#2b2b2b", text: "#dddddd",
    dimText: "#999999", selected: "#ffffff", widget: "#222222", widgetText: "#dddddd", widgetEdge: "#555555",
    error: "#ff3b3b", running: "#40e070", muted: "#666666", bypass: "#9c3fa8", placeholder: "#5a1e1e", groupText: "#dddddd", minimap: "rgba(20,20,20,0.85)",
  },
  light: {
    background: "#f4f4f4", grid: "#e4e4e4", node: "#ffffff", nodeTitle: "#dfe3ea", text: "#1e1e1e",
    dimText: "#5a5a5a", selected: "#1a5fb4", widget: "#f1f3f6", widgetText: "#1e1e1e", widgetEdge: "#b9bec7",
    error: "#d01c1c", running: "#1f9d48", muted: "#9a9a9a", bypass: "#c99bd0", placeholder: "#f5c6c6", groupText: "#1e1e1e", minimap: "rgba(235,235,235,0.92)",
  },
};

export const THEME = { ...PALETTES.dark };
