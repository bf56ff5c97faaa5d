// The node search dialog: fuzzy match on name, display name and category.

import { typesCompatible } from "./graph.js";
import { categoryName, nodeName, t } from "./i18n.js";

/** Score a candidate against a query: higher is better, -1 is no match. */
export function fuzzyScore(query, text) {
  const q = query.toLowerCase(), t = text.toLowerCase();
  if (!q) return 0;
  const at = t.indexOf(q);
  if (at >= 0) return 1000 - at * 2 - (t.length - q.length) * 0.1 + (at === 0 ? 200 : 0);
  let score = 0, ti = 0, run = 0;
  for (const ch of q) {
    const k = t.indexOf(ch, ti);
    if (k < 0) return -1;
    run = k === ti ? run + 1 : 0;
    score += 10 + run * 5 - (k - ti);
    ti = k + 1;
  }
  return score;
}

export function searchDefs(defs, query) {
  const scored = [];
  for (const def of defs) {
    const shown = nodeName(def.name, def.display_name || def.name);
    const fields = [def.display_name || def.name, def.name, `${def.category}/${def.display_name || def.name}`, shown, `${categoryName(def.category)}/${shown}`];
    const best = Math.max(...fields.map((f, i) => fuzzyScore(query, f || "") - i * 50));
    if (best >= 0 || !query) scored.push([best, def]);
  }
  scored.sort((a, b) => b[0] - a[0] || (a[1].display_name || a[1].name).localeCompare(b[1].display_name || b[1].name));
  return scored.map((s) => s[1]);
}

/** Node defs that can take a wire of `type` (as input) or give one (as output). */
export function compatibleDefs(schema, type, wantInput) {
  return schema.list().filter((def) => {
    if (wantInput) return schema.inputsOf(def).some(([, spec]) => !Array.isArray(spec[0]) && typesCompatible(type, spec[0]));
    return (def.output || []).some((t) => typesCompatible(t, type));
  });
}

let dialog = null;

export function closeSearch() { dialog?.remove(); dialog = null; }

/** Open the dialog at screen (x, y); `choose(def)` when a node is picked. */
export function openSearch(defs, x, y, choose) {
  closeSearch();
  const el = document.createElement("div");
  el.className = "search-dialog";
  el.style.left = `${Math.min(x, innerWidth - 320)}px`;
  el.style.top = `${Math.min(y, innerHeight - 320)}px`;
  const input = document.createElement("input");
  input.className = "search-input";
  input.placeholder = t("Search nodes");
  const list = document.createElement("div");
  list.className = "search-results";
  el.append(input, list);
  let results = [], active = 0;
  const render = () => {
    results = searchDefs(defs, input.value).slice(0, 30);
    active = Math.min(active, Math.max(0, results.length - 1));
    list.replaceChildren(...results.map((def, i) => {
      const row = document.createElement("div");
      row.className = "search-item" + (i === active ? " active" : "");
      row.dataset.type = def.name;
      row.innerHTML = `<span class="name"></span><span class="cat"></span>`;
      row.firstChild.textContent = nodeName(def.name, def.display_name || def.name);
      row.lastChild.textContent = categoryName(def.category || "");
      row.addEventListener("mousedown", (e) => { e.stopPropagation(); e.preventDefault(); closeSearch(); choose(def); });
      return row;
    }));
  };
  input.addEventListener("input", () => { active = 0; render(); });
  input.addEventListener("keydown", (e) => {
    e.stopPropagation();
    if (e.key === "ArrowDown") { active = Math.min(results.length - 1, active + 1); render(); e.preventDefault(); }
    else if (e.key === "ArrowUp") { active = Math.max(0, active - 1); render(); e.preventDefault(); }
    else if (e.key === "Escape") closeSearch();
    else if (e.key === "Enter") { const def = results[active]; closeSearch(); if (def) choose(def); }
  });
  el.addEventListener("mousedown", (e) => e.stopPropagation());
  document.body.appendChild(el);
  dialog = el;
  render();
  input.focus();
  return el;
}

document.addEventListener("mousedown", () => closeSearch());
