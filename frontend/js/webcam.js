// Webcam Capture: a frame from the camera, uploaded as webcam/<time>.png in the temp
// folder, becomes the node's image ("webcam/<name> [temp]", as ComfyUI's editor names it).
// The node's capture button takes one now; at Queue, nodes with capture_on_queue take a
// fresh one first.

let stream = null;

async function camera() {
  if (!stream || !stream.active) stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
  return stream;
}

/** One frame as a PNG blob, at width x height (0: the camera's own size). */
async function grabFrame(width, height) {
  const video = document.createElement("video");
  video.muted = true;
  video.playsInline = true;
  video.srcObject = await camera();
  await video.play();
  for (let i = 0; i < 100 && !video.videoWidth; i++) await new Promise((r) => setTimeout(r, 20));
  const w = Number(width) || video.videoWidth, h = Number(height) || video.videoHeight;
  const canvas = document.createElement("canvas");
  canvas.width = w;
  canvas.height = h;
  canvas.getContext("2d").drawImage(video, 0, 0, w, h);
  video.pause();
  return await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
}

function widget(node, name) { return node.widgets.find((w) => w.name === name); }

/** Capture into one Webcam Capture node: upload the frame, point its image at it, show it. */
export async function captureInto(app, node) {
  const blob = await grabFrame(widget(node, "width")?.value, widget(node, "height")?.value);
  const file = new File([blob], `${Date.now()}.png`, { type: "image/png" });
  const r = await app.api.uploadImage(file, { type: "temp", subfolder: "webcam" });
  widget(node, "image").value = `${r.subfolder ? r.subfolder + "/" : ""}${r.name} [temp]`;
  app.showThumbnail(node, { filename: r.name, subfolder: r.subfolder, type: r.type || "temp" });
  app.graph.changed();
}

/** Before a prompt is made: every active Webcam Capture node that captures on queue. */
export async function captureOnQueue(app) {
  for (const node of app.graph.nodes) {
    if (node.type !== "WebcamCapture" || node.mode !== 0 || !widget(node, "capture_on_queue")?.value) continue;
    await captureInto(app, node);
  }
}
