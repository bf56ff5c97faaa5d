// The tag search behind prompt autocomplete: tags from GET /studio/tags (the shipped CSVs
// and the user's own), matched by prefix, then substring, on names, aliases and
// translations (so typing 红 finds "red"); ties go to tags the user picks often, then to
// popular ones.

const CJK = /[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uac00-\ud7af]/;
const USAGE_KEY = "studio.tagUsage";

// Match kinds, best first.
const NAME_PREFIX = 0, ALIAS_PREFIX = 1, WORD_PREFIX = 2, TRANSLATION_PREFIX = 0, NAME_SUBSTRING = 3, ALIAS_SUBSTRING = 4, TRANSLATION_SUBSTRING = 3;

/** Lower case, spaces as underscores, escaped brackets unescaped: how a typed fragment
 * compares with tag names. */
export function normaliseQuery(text) {
  return String(text).trim().toLowerCase().replace(/\\([()[\]])/g, "$1").replace(/\s+/g, "_");
}

/** How a tag goes into a prompt: underscores as spaces, brackets escaped (a bare "("
 * would be read as attention weighting). */
export function formatTag(name) {
  return String(name).replace(/_/g, " ").replace(/([()[\]])/g, "\\$1");
}

export function formatCount(n) {
  if (n >= 1e6) return `${(n / 1e6).toFixed(n >= 1e7 ? 0 : 1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(n >= 1e4 ? 0 : 1)}k`;
  return String(n);
}

export class TagUsage {
  constructor(storage = localStorage) {
    this.storage = storage;
    try { this.counts = JSON.parse(storage.getItem(USAGE_KEY) || "{}") || {}; } catch { this.counts = {}; }
  }

  get(name) { return this.counts[name] || 0; }

  add(name) {
    this.counts[name] = this.get(name) + 1;
    try { this.storage.setItem(USAGE_KEY, JSON.stringify(this.counts)); } catch { /* storage full: ranking only */ }
  }
}

export class TagIndex {
  /** data: {tags: [[name, category, count, aliases]], translations: {name: [text]}} */
  constructor(data, usage = new TagUsage()) {
    this.usage = usage;
    this.tags = (data?.tags || []).map(([name, category, count, aliases]) => ({
      name: String(name), key: String(name).toLowerCase(), category: category || "general",
      count: Number(count) || 0, aliases: (aliases || []).map((a) => String(a).toLowerCase().replace(/\s+/g, "_")),
      translations: (data.translations?.[name] || []).map(String),
    }));
    this.byName = new Map(this.tags.map((t) => [t.key, t]));
    // Translations of tags missing from the tag list still find their tag by name.
    for (const [name, texts] of Object.entries(data?.translations || {})) {
      if (!this.byName.has(name.toLowerCase())) {
        const tag = { name, key: name.toLowerCase(), category: "general", count: 0, aliases: [], translations: texts.map(String) };
        this.tags.push(tag);
        this.byName.set(tag.key, tag);
      }
    }
  }

  get size() { return this.tags.length; }

  /** How `tag` matches `q` (a kind above, lower is better) and on what, or null. */
  match(tag, q, cjk) {
    if (cjk) {
      let best = null;
      for (const text of tag.translations) {
        const at = text.indexOf(q);
        if (at < 0) continue;
        const kind = at === 0 ? TRANSLATION_PREFIX : TRANSLATION_SUBSTRING;
        if (!best || kind < best.kind || (kind === best.kind && text.length < best.via.length)) best = { kind, via: text };
      }
      return best;
    }
    if (tag.key.startsWith(q)) return { kind: NAME_PREFIX, via: null };
    for (const a of tag.aliases) if (a.startsWith(q)) return { kind: ALIAS_PREFIX, via: a };
    const at = tag.key.indexOf(q);
    if (at > 0) return { kind: tag.key[at - 1] === "_" ? WORD_PREFIX : NAME_SUBSTRING, via: null };
    for (const a of tag.aliases) if (a.includes(q)) return { kind: ALIAS_SUBSTRING, via: a };
    return null;
  }

  /** The best `limit` tags for a typed fragment. */
  search(text, limit = 15) {
    const q = normaliseQuery(text);
    if (!q) return [];
    const cjk = CJK.test(q);
    const hits = [];
    for (const tag of this.tags) {
      const m = this.match(tag, q, cjk);
      if (!m) continue;
      const exact = tag.key === q || m.via === q ? 1 : 0;
      // Picks by this user lift a tag well above raw popularity; an exact match leads its kind.
      const rank = exact * 100 + Math.log2(1 + this.usage.get(tag.name)) * 4 + Math.log10(1 + tag.count);
      hits.push({ tag, kind: m.kind, via: m.via, rank });
    }
    hits.sort((a, b) => a.kind - b.kind || b.rank - a.rank || a.tag.key.length - b.tag.key.length || a.tag.key.localeCompare(b.tag.key));
    return hits.slice(0, limit).map((h) => ({
      name: h.tag.name, category: h.tag.category, count: h.tag.count, via: h.via,
      translation: (cjk && h.via) || h.tag.translations[0] || "", kind: h.kind,
    }));
  }
}
