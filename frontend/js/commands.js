// The commands keys are bound to, by ComfyUI's command ids: what each does in this editor.
// `when` (optional) says whether a command applies now; a key bound to one that does not
// goes on to the next command on that key (Backspace deletes the selection, or with
// nothing selected clears the workflow, as in ComfyUI).

import { MODE_BYPASS, MODE_MUTED } from "./graph.js";
import { closeMenus } from "./menu.js";
import { closeSearch } from "./search.js";
import { confirmBox } from "./dialog.js";
import { t } from "./i18n.js";
import { CONFIRM_CLEAR, setting } from "./settings.js";
import { openSettingsDialog } from "./settings_dialog.js";
import { toggleLogs } from "./logs_panel.js";
import { toggleNodeLibrary } from "./node_library.js";
import { toggleModelLibrary } from "./model_library.js";

const click = (id) => () => document.getElementById(id)?.click();
const selected = (app) => [...app.state.selected];
const hasSelection = (app) => app.state.selected.size > 0;

/** Flip a flag on the selected nodes: all on if any is off, else all off. */
function toggleFlag(app, flag) {
  const nodes = selected(app);
  if (!nodes.length) return;
  const on = !nodes.every((n) => n.flags?.[flag]);
  for (const n of nodes) { n.flags ||= {}; if (on) n.flags[flag] = true; else delete n.flags[flag]; }
  app.graph.changed();
  app.commit();
}

/** Empty the canvas, asking first when Comfy.ConfirmClear is on and there is something to lose. */
export async function clearCanvas(app) {
  if (setting(CONFIRM_CLEAR) && app.graph.nodes.length && !(await confirmBox(t("Clear the workflow?"), t("Clear")))) return false;
  app.newGraph();
  return true;
}

function zoom(app, k) { app.zoomAt(app.renderer.width / 2, app.renderer.height / 2, k); }

function batchCount() { return Math.max(1, Math.min(100, Number(document.getElementById("batch-count")?.value) || 1)); }

/** Focus mode: only the canvas (toolbar and panels hidden); the canvas follows the window. */
function toggleFocusMode() { document.body.classList.toggle("focus-mode"); }

/** id -> {label, run(app), when?(app)}; labels are English (shown through t()). */
export const COMMANDS = {
  "Comfy.QueuePrompt": { label: "Queue the workflow", run: (app) => app.queue(batchCount(), false) },
  "Comfy.QueuePromptFront": { label: "Queue the workflow at the front", run: (app) => app.queue(batchCount(), true) },
  "Comfy.Interrupt": { label: "Interrupt the running prompt", run: (app) => app.api.interrupt() },
  "Comfy.RefreshNodeDefinitions": { label: "Refresh node definitions", run: (app) => app.refreshDefs(true) },
  "Workspace.ToggleSidebarTab.queue": { label: "Show or hide the queue", run: click("panel-button") },
  "Workspace.ToggleSidebarTab.workflows": { label: "Show or hide the saved workflows", run: click("workflows-button") },
  "Workspace.ToggleSidebarTab.node-library": { label: "Show or hide the node library", run: (app) => toggleNodeLibrary(app) },
  "Workspace.ToggleSidebarTab.model-library": { label: "Show or hide the model library", run: (app) => toggleModelLibrary(app) },
  "Workspace.ToggleBottomPanelTab.logs-terminal": { label: "Show or hide the server log", run: (app) => toggleLogs(app) },
  "Workspace.ToggleFocusMode": { label: "Focus mode (canvas only)", run: toggleFocusMode },
  "Comfy.SaveWorkflow": { label: "Save the workflow", run: (app) => app.workflows.saveCurrent() },
  "Comfy.SaveWorkflowAs": { label: "Save the workflow under a new name", run: (app) => app.workflows.saveAs() },
  "Comfy.ExportWorkflow": { label: "Download the workflow as a file", run: click("download-button") },
  "Comfy.OpenWorkflow": { label: "Open a workflow file", run: click("load-button") },
  "Comfy.NewBlankWorkflow": { label: "New blank workflow", run: (app) => (app.newTab ? app.newTab() : clearCanvas(app)) },
  "Comfy.ClearWorkflow": { label: "Clear the workflow", run: (app) => clearCanvas(app) },
  "Comfy.ShowSettingsDialog": { label: "Settings", run: (app) => openSettingsDialog(app) },
  "Comfy.Graph.GroupSelectedNodes": { label: "Group the selected nodes", run: (app) => app.groupSelection() },
  "Comfy.Canvas.ZoomIn": { label: "Zoom in", run: (app) => zoom(app, 1.1) },
  "Comfy.Canvas.ZoomOut": { label: "Zoom out", run: (app) => zoom(app, 1 / 1.1) },
  "Comfy.Canvas.FitView": { label: "Fit the view to the selection (or everything)", run: (app) => app.fitView(hasSelection(app) ? selected(app) : undefined) },
  "Comfy.Canvas.ToggleSelected.Pin": { label: "Pin or unpin the selected nodes", run: (app) => toggleFlag(app, "pinned") },
  "Comfy.Canvas.ToggleSelectedNodes.Collapse": { label: "Collapse or expand the selected nodes", run: (app) => toggleFlag(app, "collapsed") },
  "Comfy.Canvas.ToggleSelectedNodes.Bypass": { label: "Bypass the selected nodes", run: (app) => app.toggleMode(selected(app), MODE_BYPASS) },
  "Comfy.Canvas.ToggleSelectedNodes.Mute": { label: "Mute the selected nodes", run: (app) => app.toggleMode(selected(app), MODE_MUTED) },
  "Comfy.Undo": { label: "Undo", run: (app) => app.undo() },
  "Comfy.Redo": { label: "Redo", run: (app) => app.redo() },
  "Comfy.Canvas.CopySelected": { label: "Copy the selected nodes", run: (app) => app.copy() },
  "Comfy.Canvas.PasteFromClipboard": { label: "Paste", run: (app) => app.paste(app.interaction.mouse) },
  "Comfy.Canvas.SelectAll": { label: "Select all nodes", run: (app) => { app.graph.nodes.forEach((n) => app.state.selected.add(n)); app.redraw(); } },
  "Comfy.Canvas.DeleteSelectedItems": { label: "Delete the selected nodes", when: hasSelection, run: (app) => app.removeNodes(selected(app)) },
  "Studio.CloseAndDeselect": { label: "Close menus, leave focus mode, deselect", run: (app) => {
    closeMenus(); closeSearch(); document.body.classList.remove("focus-mode"); app.interaction.select(null, false);
  } },
};

/** Run a command by id; false if there is none of that id or it does not apply now. */
export function runCommand(app, id) {
  const command = COMMANDS[id];
  if (!command || (command.when && !command.when(app))) return false;
  command.run(app);
  return true;
}
