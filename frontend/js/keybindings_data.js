// The default keybindings, kept as data. CORE_KEYBINDINGS is ComfyUI's own default table
// (its frontend's core keybindings: the same command ids and keys), so what a ComfyUI user
// presses does the same here and a binding the user changes is stored in the same shape in
// the shared settings file. STUDIO_KEYBINDINGS are the editing keys that ComfyUI's canvas
// handles itself (undo, copy, delete, ...), named as commands so they can be rebound too.
// ComfyUI's newest table also binds Ctrl+Shift+E to Comfy.Graph.ConvertToSubgraph; this
// editor has no subgraphs, so that one is left out.
//
// A combo is {key, ctrl?, alt?, shift?}: `key` is KeyboardEvent.key (letters in lower case);
// ctrl also means the Mac's Cmd key.

export const CORE_KEYBINDINGS = [
  { combo: { key: "Enter", ctrl: true }, commandId: "Comfy.QueuePrompt" },
  { combo: { key: "Enter", ctrl: true, shift: true }, commandId: "Comfy.QueuePromptFront" },
  { combo: { key: "Enter", ctrl: true, alt: true }, commandId: "Comfy.Interrupt" },
  { combo: { key: "r" }, commandId: "Comfy.RefreshNodeDefinitions" },
  { combo: { key: "q" }, commandId: "Workspace.ToggleSidebarTab.queue" },
  { combo: { key: "w" }, commandId: "Workspace.ToggleSidebarTab.workflows" },
  { combo: { key: "n" }, commandId: "Workspace.ToggleSidebarTab.node-library" },
  { combo: { key: "m" }, commandId: "Workspace.ToggleSidebarTab.model-library" },
  { combo: { key: "s", ctrl: true }, commandId: "Comfy.SaveWorkflow" },
  { combo: { key: "o", ctrl: true }, commandId: "Comfy.OpenWorkflow" },
  { combo: { key: "Backspace" }, commandId: "Comfy.ClearWorkflow" },
  { combo: { key: "g", ctrl: true }, commandId: "Comfy.Graph.GroupSelectedNodes" },
  { combo: { key: ",", ctrl: true }, commandId: "Comfy.ShowSettingsDialog" },
  { combo: { key: "=", alt: true }, commandId: "Comfy.Canvas.ZoomIn", targetElementId: "graph-canvas" },
  { combo: { key: "+", alt: true, shift: true }, commandId: "Comfy.Canvas.ZoomIn", targetElementId: "graph-canvas" },
  { combo: { key: "+", alt: true }, commandId: "Comfy.Canvas.ZoomIn", targetElementId: "graph-canvas" }, // the number pad's +
  { combo: { key: "-", alt: true }, commandId: "Comfy.Canvas.ZoomOut", targetElementId: "graph-canvas" },
  { combo: { key: "." }, commandId: "Comfy.Canvas.FitView", targetElementId: "graph-canvas" },
  { combo: { key: "p" }, commandId: "Comfy.Canvas.ToggleSelected.Pin", targetElementId: "graph-canvas" },
  { combo: { key: "c", alt: true }, commandId: "Comfy.Canvas.ToggleSelectedNodes.Collapse", targetElementId: "graph-canvas" },
  { combo: { key: "b", ctrl: true }, commandId: "Comfy.Canvas.ToggleSelectedNodes.Bypass", targetElementId: "graph-canvas" },
  { combo: { key: "m", ctrl: true }, commandId: "Comfy.Canvas.ToggleSelectedNodes.Mute", targetElementId: "graph-canvas" },
  { combo: { key: "`", ctrl: true }, commandId: "Workspace.ToggleBottomPanelTab.logs-terminal" },
  { combo: { key: "f" }, commandId: "Workspace.ToggleFocusMode" },
];

export const STUDIO_KEYBINDINGS = [
  { combo: { key: "z", ctrl: true }, commandId: "Comfy.Undo" },
  { combo: { key: "y", ctrl: true }, commandId: "Comfy.Redo" },
  { combo: { key: "z", ctrl: true, shift: true }, commandId: "Comfy.Redo" },
  { combo: { key: "c", ctrl: true }, commandId: "Comfy.Canvas.CopySelected" },
  { combo: { key: "v", ctrl: true }, commandId: "Comfy.Canvas.PasteFromClipboard" },
  { combo: { key: "a", ctrl: true }, commandId: "Comfy.Canvas.SelectAll" },
  // With nothing selected, Backspace falls through to ComfyUI's Comfy.ClearWorkflow.
  { combo: { key: "Delete" }, commandId: "Comfy.Canvas.DeleteSelectedItems" },
  { combo: { key: "Backspace" }, commandId: "Comfy.Canvas.DeleteSelectedItems" },
  { combo: { key: "Escape" }, commandId: "Studio.CloseAndDeselect" },
];
