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

export const THEME = {
  background: "#1e1e1e", grid: "#262626", node: "#353535", nodeTitle: "#2b2b2b", text: "#dddddd",
  dimText: "#999999", selected: "#ffffff", widget: "#222222", widgetText: "#dddddd", error: "#ff3b3b",
  running: "#40e070", muted: "#666666", bypass: "#9c3fa8", placeholder: "#5a1e1e",
};
