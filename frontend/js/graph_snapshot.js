// The graph serialized once per edit and shared: the undo history keeps the text, the
// unsaved marker compares its hash, autosave writes it. The view (extra.ds) is left out,
// since panning is neither an edit to undo nor an unsaved change; autosave adds the view
// as it is when it writes.

const latest = new WeakMap(); // graph -> its last snapshot

/** A short hash of a string (53-bit, as hex): what "unsaved changes" compare. */
export function hashText(text) {
  let h1 = 0xdeadbeef, h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761); h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(16);
}

/** A serialized graph without its view (the other keys in their order). */
export function withoutView(serialized) {
  const { ds, ...extra } = serialized.extra || {};
  return { ...serialized, extra };
}

/** A serialized graph with the view `ds` (none: as it is). */
export function withView(serialized, ds) {
  return ds ? { ...serialized, extra: { ...serialized.extra, ds } } : serialized;
}

/** The hash of a serialized graph's content, view aside. */
export function contentHash(serialized) { return hashText(JSON.stringify(withoutView(serialized))); }

class Snapshot {
  constructor(graph) {
    this.data = withoutView(graph.serialize()); // never changed afterwards: shared by its readers
    this.text = JSON.stringify(this.data);
    this.revision = graph.revision;
  }

  get hash() { return (this._hash ??= hashText(this.text)); }
}

/** The graph's content as it is now: {data, text, hash}; remembered for latestSnapshot. */
export function snapshot(graph) {
  const s = new Snapshot(graph);
  latest.set(graph, s);
  return s;
}

/**
 * The last snapshot taken, when the graph's revision has not moved since (loads, clears,
 * wiring, removals and widget edits bump it), else a fresh one. An edit that leaves the
 * revision alone (a move) ends in a commit, which takes a fresh snapshot.
 */
export function latestSnapshot(graph) {
  const s = latest.get(graph);
  return s && s.revision === graph.revision ? s : snapshot(graph);
}
