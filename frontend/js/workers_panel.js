// The queue panel's workers list: shown when prompts run on a pool of workers (Ray), from
// GET /system_stats `workers`: each worker's state, device, host, loaded models, prompt.
import { t } from "./i18n.js";

/** Fill `box` (and show it, with its heading) when the server has more than its own worker. */
export async function refreshWorkers(api, box, heading, numbers = new Map()) {
  const r = await api.systemStats();
  const workers = r.ok && Array.isArray(r.data?.workers) ? r.data.workers : [];
  const pool = workers.some((w) => w.id !== "local");
  box.hidden = heading.hidden = !pool;
  box.replaceChildren();
  if (!pool) return;
  for (const w of workers) {
    const row = document.createElement("div");
    row.className = `worker-item ${w.state || ""}`;
    row.dataset.workerId = w.id;
    const title = document.createElement("b");
    title.textContent = w.id;
    const state = document.createElement("span");
    state.className = "worker-state";
    const doing = w.prompt_id ? t("running #{n}", { n: numbers.get(w.prompt_id) ?? "?" }) : t("idle");
    state.textContent = w.state === "ready" ? doing : t(w.state || "starting");
    const where = document.createElement("span");
    where.className = "worker-where";
    where.textContent = [w.device, w.host].filter(Boolean).join(" @ ");
    const done = document.createElement("span");
    done.textContent = t("{n} done", { n: w.prompts_run ?? 0 });
    row.append(title, state, where, done);
    if (w.models?.length) {
      const models = document.createElement("div");
      models.className = "worker-models";
      models.textContent = w.models.join(", ");
      models.title = t("Models loaded on this worker");
      row.appendChild(models);
    }
    box.appendChild(row);
  }
}
