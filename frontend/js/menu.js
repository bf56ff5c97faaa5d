// Context menus: a list of items, nested submenus, optional filter box for long lists.

let open = [];

export function closeMenus() {
  for (const el of open) el.remove();
  open = [];
}

/**
 * items: [{label, value?, submenu?: items | () => items, action?: () => void, disabled?}]
 * pick(value) is called for items with a value and no action.
 */
export function showMenu(items, x, y, pick, { filter = false, level = 0 } = {}) {
  while (open.length > level) open.pop().remove();
  const el = document.createElement("div");
  el.className = "menu";
  el.style.left = `${x}px`;
  el.style.top = `${y}px`;
  let input = null;
  if (filter) {
    input = document.createElement("input");
    input.className = "menu-filter";
    input.placeholder = "filter";
    el.appendChild(input);
  }
  const rows = [];
  for (const item of items) {
    const row = document.createElement("div");
    row.className = "menu-item" + (item.submenu ? " has-sub" : "") + (item.disabled ? " disabled" : "");
    row.textContent = item.label;
    row.dataset.label = item.label;
    row.addEventListener("mousedown", (e) => e.stopPropagation());
    row.addEventListener("click", (e) => {
      e.stopPropagation();
      if (item.disabled) return;
      if (item.submenu) {
        const sub = typeof item.submenu === "function" ? item.submenu() : item.submenu;
        const r = row.getBoundingClientRect();
        showMenu(sub, r.right, r.top, pick, { level: level + 1, filter: sub.length > 12 });
        return;
      }
      closeMenus();
      if (item.action) item.action(); else pick?.(item.value);
    });
    el.appendChild(row);
    rows.push(row);
  }
  if (input) {
    input.addEventListener("input", () => {
      const q = input.value.toLowerCase();
      for (const row of rows) row.hidden = !row.dataset.label.toLowerCase().includes(q);
    });
    input.addEventListener("keydown", (e) => {
      e.stopPropagation();
      if (e.key === "Escape") closeMenus();
      if (e.key === "Enter") rows.find((r) => !r.hidden)?.click();
    });
  }
  el.addEventListener("mousedown", (e) => e.stopPropagation());
  document.body.appendChild(el);
  const r = el.getBoundingClientRect();
  if (r.bottom > innerHeight) el.style.top = `${Math.max(0, innerHeight - r.height)}px`;
  if (r.right > innerWidth) el.style.left = `${Math.max(0, x - r.width)}px`;
  open.push(el);
  input?.focus();
  return el;
}

document.addEventListener("mousedown", () => closeMenus());
