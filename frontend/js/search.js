// The node search dialog: fuzzy match on name, display name and category, narrowed by
// input and output type (the two lists, or "i:LATENT" / "o:IMAGE" in the query), ranked
// by relevance and by how often the user picks each node (search_ranking.js).

import { typesCompatible } from "./graph.js";
import { categoryName, nodeName, t } from "./i18n.js";
import { notePick, usageBoosts } from "./search_ranking.js";

const TYPE_TOKEN = /(?:^|\s)(i|in|input|o|out|output):(\S+)/gi;

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

/** The query's type filters: {text, input, output} ("i:LATENT o:IMAGE vae" -> text "vae"). */
export function parseQuery(query) {
  const out = { text: "", input: null, output: null };
  out.text = String(query).replace(TYPE_TOKEN, (_, kind, type) => {
    out[kind[0].toLowerCase() === "i" ? "input" : "output"] = type.toUpperCase();
    return " ";
  }).trim();
  return out;
}

/** A socket type names `wanted` ("IMAGE", or one of "IMAGE,MASK"); "*" sockets do not count. */
function names(type, wanted) { return typeof type === "string" && type.split(",").includes(wanted); }

/** Whether a def takes (`input`) and gives (`output`) the given types; null matches anything. */
export function fitsTypes(schema, def, input, output) {
  if (input && !schema.inputsOf(def).some(([, spec]) => names(spec[0], input))) return false;
  if (output && !(def.output || []).some((type) => names(type, output))) return false;
  return true;
}

/**
 * Defs matching the query text, best first: text relevance plus the user's habit. With
 * `keepOrder`, an empty query keeps the order given (a wire's likely nodes).
 */
export function searchDefs(defs, query, { keepOrder = false } = {}) {
  const boost = usageBoosts();
  const scored = [];
  defs.forEach((def, order) => {
    const shown = nodeName(def.name, def.display_name || def.name);
    const fields = [def.display_name || def.name, def.name, `${def.category}/${def.display_name || def.name}`, shown, `${categoryName(def.category)}/${shown}`];
    const best = Math.max(...fields.map((f, i) => fuzzyScore(query, f || "") - i * 50));
    if (best < 0 && query) return;
    const score = query ? best + boost(def.name) : keepOrder ? -order : boost(def.name);
    scored.push([score, def]);
  });
  scored.sort((a, b) => b[0] - a[0] || (a[1].display_name || a[1].name).localeCompare(b[1].display_name || b[1].name));
  return scored.map((s) => s[1]);
}

/** Every socket type the defs use, for the type lists. */
function allTypes(schema, defs) {
  const types = new Set();
  for (const def of defs) {
    for (const type of def.output || []) if (typeof type === "string") types.add(type);
    for (const [, spec] of schema.inputsOf(def)) if (typeof spec[0] === "string") types.add(spec[0]);
  }
  types.delete("*");
  return [...types].sort();
}

function typeSelect(className, label, types) {
  const select = document.createElement("select");
  select.className = className;
  select.title = label;
  select.append(new Option(label, ""), ...types.map((type) => new Option(type, type)));
  return select;
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

/**
 * Open the dialog at screen (x, y); `choose(def)` when a node is picked. `schema` enables
 * the type lists; `wire` ({type, fromOutput}) marks a search for a released wire, whose
 * defs come already in their likely order.
 */
export function openSearch(defs, x, y, choose, { schema = null, wire = null } = {}) {
  closeSearch();
  const picked = (def) => { notePick(def.name, wire); choose(def); };
  const el = document.createElement("div");
  el.className = "search-dialog";
  el.style.left = `${Math.min(x, innerWidth - 320)}px`;
  el.style.top = `${Math.min(y, innerHeight - 320)}px`;
  const input = document.createElement("input");
  input.className = "search-input";
  input.placeholder = t("Search nodes");
  const list = document.createElement("div");
  list.className = "search-results";
  const types = schema && !wire ? allTypes(schema, defs) : [];
  const inputType = typeSelect("search-input-type", t("Input type"), types);
  const outputType = typeSelect("search-output-type", t("Output type"), types);
  const filters = document.createElement("div");
  filters.className = "search-filters";
  if (types.length) filters.append(inputType, outputType);
  el.append(input, filters, list);
  let results = [], active = 0;
  const render = () => {
    const q = parseQuery(input.value);
    const wanted = schema ? defs.filter((def) => fitsTypes(schema, def, q.input || inputType.value || null, q.output || outputType.value || null)) : defs;
    results = searchDefs(wanted, q.text, { keepOrder: !!wire }).slice(0, 30);
    active = Math.min(active, Math.max(0, results.length - 1));
    list.replaceChildren(...results.map((def, i) => {
      const row = document.createElement("div");
      row.className = "search-item" + (i === active ? " active" : "");
      row.dataset.type = def.name;
      row.innerHTML = `<span class="name"></span><span class="cat"></span>`;
      row.firstChild.textContent = nodeName(def.name, def.display_name || def.name);
      row.lastChild.textContent = categoryName(def.category || "");
      row.addEventListener("mousedown", (e) => { e.stopPropagation(); e.preventDefault(); closeSearch(); picked(def); });
      return row;
    }));
  };
  input.addEventListener("input", () => { active = 0; render(); });
  input.addEventListener("keydown", (e) => {
    e.stopPropagation();
    if (e.key === "ArrowDown") { active = Math.min(results.length - 1, active + 1); render(); e.preventDefault(); }
    else if (e.key === "ArrowUp") { active = Math.max(0, active - 1); render(); e.preventDefault(); }
    else if (e.key === "Escape") closeSearch();
    else if (e.key === "Enter") { const def = results[active]; closeSearch(); if (def) picked(def); }
  });
  for (const select of [inputType, outputType]) select.addEventListener("change", () => { active = 0; render(); input.focus(); });
  el.addEventListener("mousedown", (e) => e.stopPropagation());
  document.body.appendChild(el);
  dialog = el;
  render();
  input.focus();
  return el;
}

document.addEventListener("mousedown", () => closeSearch());
