// Growing input lists (ComfyUI's autogrow inputs, e.g. Batch Images' images.image0,
// images.image1, ...): a node shows its required sockets of such a list plus one empty
// spare; wiring the spare shows the next one, unwiring drops the empty ones at the end.
// The sockets not shown wait in node.growHidden; they are the schema's own inputs, so
// saved workflows and API prompts name them as ComfyUI does.

const NUMBERED = /^(.*?)(\d+)$/;
const MIN_LIST = 3; // a stem with fewer numbered optional sockets is not a growing list

function stemOf(name) {
  const m = NUMBERED.exec(name);
  return m ? { stem: m[1], index: Number(m[2]) } : null;
}

/** At creation: keep each list's required sockets and its first optional one. */
export function hideGrowingTails(node) {
  const lists = new Map();
  for (const inp of node.inputs) {
    const at = !inp.widget && stemOf(inp.name);
    if (!at) continue;
    if (!lists.has(at.stem)) lists.set(at.stem, []);
    lists.get(at.stem).push(inp);
  }
  const hidden = {};
  for (const [stem, members] of lists) {
    const optional = members.filter((m) => m.optional);
    if (optional.length < MIN_LIST) continue;
    for (const m of members) m.grow = stem;
    hidden[stem] = optional.slice(1);
  }
  if (!Object.keys(hidden).length) return;
  const drop = new Set(Object.values(hidden).flat());
  node.inputs = node.inputs.filter((i) => !drop.has(i));
  node.growHidden = hidden;
}

function lastIndexOf(node, stem) {
  for (let i = node.inputs.length - 1; i >= 0; i--) if (node.inputs[i].grow === stem) return i;
  return -1;
}

/** Shift the slots of this node's incoming links at or after `from` by `by`. */
function shiftLinks(graph, node, from, by) {
  for (const inp of node.inputs.slice(from)) {
    const link = inp.link != null ? graph?.links.get(inp.link) : null;
    if (link) link.target_slot += by;
  }
}

function showNext(graph, node, stem) {
  const next = node.growHidden?.[stem]?.shift();
  if (!next) return false;
  const at = lastIndexOf(node, stem) + 1;
  shiftLinks(graph, node, at, 1);
  node.inputs.splice(at, 0, { ...next, link: null });
  return true;
}

/** On restore: show every hidden socket a saved node names (and those before it). */
export function revealNamed(node, names) {
  if (!node.growHidden) return;
  for (const name of names) {
    const at = stemOf(name);
    const queue = at && node.growHidden[at.stem];
    if (!queue || !queue.some((i) => i.name === name)) continue;
    while (queue.length && node.inputs.every((i) => i.name !== name)) showNext(null, node, at.stem);
  }
}

/** After a wire is connected (or a graph loaded): a list whose last socket is wired grows a spare. */
export function keepSpare(graph, node) {
  if (!node?.growHidden) return false;
  let grew = false;
  for (const stem of Object.keys(node.growHidden)) {
    const last = node.inputs[lastIndexOf(node, stem)];
    if (last && last.link != null) grew = showNext(graph, node, stem) || grew;
  }
  return grew;
}

/** After a wire is removed: the list ends in one empty spare (never below its required sockets). */
export function dropExtraSpares(graph, node) {
  if (!node?.growHidden) return false;
  let shrank = false;
  for (const stem of Object.keys(node.growHidden)) {
    for (;;) {
      const last = lastIndexOf(node, stem);
      const before = node.inputs[last - 1];
      const tail = node.inputs[last];
      if (!tail?.optional || tail.link != null || before?.grow !== stem || !before.optional || before.link != null) break;
      node.inputs.splice(last, 1);
      shiftLinks(graph, node, last, -1);
      node.growHidden[stem].unshift({ ...tail, link: null });
      shrank = true;
    }
  }
  return shrank;
}
