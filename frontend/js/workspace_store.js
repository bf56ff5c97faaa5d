// Where the open workflow tabs are kept between reloads: one record per browser tab in
// localStorage, named by an id this browser tab keeps in sessionStorage (which survives a
// reload but is not shared with other browser tabs). So a reload brings back this browser
// tab's own workflows, and two browser tabs never write over each other. A new browser tab
// starts from a copy of the most recently saved record, under an id of its own.

const SESSION_KEY = "studio.session";
const PREFIX = "studio.workspace.";
const LEGACY_KEY = "studio.workflow"; // the single autosave slot of earlier versions
const KEEP = 8; // records kept for browser tabs closed long ago, newest first

function newId() {
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

function read(key) {
  try { const text = localStorage.getItem(key); return text ? JSON.parse(text) : null; } catch { return null; }
}

/** Every stored record as [key, record], newest first; `except` (a key) is not read. */
function records(except = null) {
  const out = [];
  try {
    for (let i = 0; i < localStorage.length; i++) {
      const key = localStorage.key(i);
      if (!key?.startsWith(PREFIX) || key === except) continue;
      const record = read(key);
      if (record && Array.isArray(record.tabs)) out.push([key, record]);
    }
  } catch { /* storage disabled */ }
  return out.sort((a, b) => (b[1].saved || 0) - (a[1].saved || 0));
}

/**
 * This browser tab's id. A tab the browser duplicated arrives with a copy of the other's
 * sessionStorage (so the same id): a lock held for the page's lifetime tells them apart,
 * and the copy takes a new id.
 */
export async function claimSession() {
  let id = null;
  try { id = sessionStorage.getItem(SESSION_KEY); } catch { /* no session storage: a fresh id each load */ }
  const mine = id;
  if (id && navigator.locks) {
    const free = await new Promise((resolve) => {
      navigator.locks.request(PREFIX + id, { ifAvailable: true }, (lock) => {
        resolve(!!lock);
        return lock ? new Promise(() => {}) : undefined; // held until the page goes away
      }).catch(() => resolve(true));
    });
    if (!free) id = null;
  }
  if (!id) {
    id = newId();
    try { sessionStorage.setItem(SESSION_KEY, id); } catch { /* see above */ }
    navigator.locks?.request(PREFIX + id, () => new Promise(() => {})).catch(() => {});
  }
  return { id, duplicated: mine != null && mine !== id };
}

/**
 * The tabs to open: this browser tab's own record, else (a new browser tab) a copy of the
 * newest one, else the legacy single autosave as one tab; null when there is nothing.
 */
export function loadWorkspace(id) {
  const own = read(PREFIX + id);
  if (own && Array.isArray(own.tabs)) return own;
  const newest = records()[0];
  if (newest) return newest[1];
  const legacy = read(LEGACY_KEY);
  if (legacy?.nodes?.length) return { active: 0, tabs: [{ title: null, path: null, graph: legacy }] };
  return null;
}

/** Keep this browser tab's record; the oldest records of other browser tabs make room. */
export function saveWorkspace(id, record) {
  const text = JSON.stringify({ ...record, saved: Date.now() });
  const others = records(PREFIX + id); // not this tab's own: parsing it would cost as much as writing it
  for (const [key] of others.slice(KEEP - 1)) localStorage.removeItem(key);
  for (;;) {
    try { localStorage.setItem(PREFIX + id, text); return true; } catch {
      const oldest = others.pop();
      if (!oldest) return false; // storage full or disabled: the tabs live on in this page only
      try { localStorage.removeItem(oldest[0]); } catch { return false; }
    }
  }
}
