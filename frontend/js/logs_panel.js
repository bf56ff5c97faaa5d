// The server log (Workspace.ToggleBottomPanelTab.logs-terminal): a panel under the canvas
// with the server's recent log lines (GET /internal/logs), re-read while it is open.

import { t } from "./i18n.js";

let panel = null;
let timer = 0;

async function refresh(app) {
  const r = await app.api.json("/internal/logs");
  if (!panel || panel.hidden) return;
  const pre = panel.querySelector("pre");
  const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  pre.textContent = !r.ok ? t("The server log could not be read.") : String(r.data ?? "") || t("Nothing logged yet.");
  if (atEnd) pre.scrollTop = pre.scrollHeight;
}

/** Show or hide the log panel. */
export function toggleLogs(app) {
  if (!panel) {
    panel = document.createElement("section");
    panel.id = "logs-panel";
    panel.hidden = true;
    const heading = document.createElement("h3");
    heading.dataset.i18n = "Server log";
    heading.textContent = t("Server log");
    panel.append(heading, document.createElement("pre"));
    document.getElementById("stage").appendChild(panel);
  }
  panel.hidden = !panel.hidden;
  clearInterval(timer);
  if (panel.hidden) return;
  refresh(app);
  timer = setInterval(() => refresh(app), 2000);
}
