"""The browser editor on large graphs, in headless Chromium against the real server.

    .venv/bin/python -m bench.editor_bench [--nodes 500 1000] [--seconds 3]

For each size it drops a generated UI-format workflow on the editor (the same path a user
takes) and prints the time until the graph is built and first drawn, then runs scripted
pan and zoom from a page-side requestAnimationFrame loop (one synthetic middle-button drag
step or wheel step per frame) and prints frames per second and the mean draw time per
frame, for the whole graph in view (fit), at 50 % and at 100 % zoom; and the cost of one
full frame drawn and rasterized (synchronous redraws of a still view, which shows the
headroom when other work on the machine holds the frame rate down).
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from tests.browser.harness import CHROMIUM, CHROMIUM_ARGS, ServerThread

ROW = ["CheckpointLoaderSimple", "CLIPTextEncode", "CLIPTextEncode", "EmptyLatentImage", "KSampler", "VAEDecode"]
ROW_LEN = 25


def generated_workflow(total: int) -> dict:
    """Rows of 25 nodes: a txt2img front (loader, two prompts, latent, sampler, decode),
    a chain of image nodes, and a Save Image; every socket wired as in a real graph."""
    nodes, links = [], []

    def add(type_, col, row, inputs, outputs, widgets):
        node_id = len(nodes) + 1
        nodes.append({"id": node_id, "type": type_, "pos": [col * 280, row * 340], "size": [240, 100], "flags": {}, "order": node_id,
                      "mode": 0, "inputs": [{"name": n, "type": t, "link": None} for n, t in inputs],
                      "outputs": [{"name": t, "type": t, "links": [], "slot_index": i} for i, t in enumerate(outputs)],
                      "properties": {}, "widgets_values": widgets})
        return node_id

    def link(a, a_slot, b, b_slot):
        link_id = len(links) + 1
        type_ = nodes[a - 1]["outputs"][a_slot]["type"]
        links.append([link_id, a, a_slot, b, b_slot, type_])
        nodes[a - 1]["outputs"][a_slot]["links"].append(link_id)
        nodes[b - 1]["inputs"][b_slot]["link"] = link_id

    row = 0
    while len(nodes) < total:
        start = len(nodes)
        ckpt = add("CheckpointLoaderSimple", 0, row, [], ["MODEL", "CLIP", "VAE"], ["model.safetensors"])
        pos = add("CLIPTextEncode", 1, row, [("clip", "CLIP")], ["CONDITIONING"], [f"prompt number {row}, a red circle"])
        neg = add("CLIPTextEncode", 2, row, [("clip", "CLIP")], ["CONDITIONING"], ["blurry"])
        lat = add("EmptyLatentImage", 3, row, [], ["LATENT"], [512, 512, 1])
        ks = add("KSampler", 4, row, [("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING"), ("latent_image", "LATENT")],
                 ["LATENT"], [row, "fixed", 20, 8.0, "euler", "normal", 1.0])
        dec = add("VAEDecode", 5, row, [("samples", "LATENT"), ("vae", "VAE")], ["IMAGE"], [])
        for a, s, b, t in ((ckpt, 1, pos, 0), (ckpt, 1, neg, 0), (ckpt, 0, ks, 0), (pos, 0, ks, 1), (neg, 0, ks, 2), (lat, 0, ks, 3), (ks, 0, dec, 0), (ckpt, 2, dec, 1)):
            link(a, s, b, t)
        prev, col = dec, 6
        while len(nodes) - start < ROW_LEN - 1 and len(nodes) < total - 1:
            if col % 2:
                node = add("ImageInvert", col, row, [("image", "IMAGE")], ["IMAGE"], [])
            else:
                node = add("ImageScale", col, row, [("image", "IMAGE")], ["IMAGE"], ["nearest-exact", 512, 512, "disabled"])
            link(prev, 0, node, 0)
            prev, col = node, col + 1
        if len(nodes) < total:
            save = add("SaveImage", col, row, [("images", "IMAGE")], [], [f"row{row}"])
            link(prev, 0, save, 0)
        row += 1
    return {"last_node_id": len(nodes), "last_link_id": len(links), "nodes": nodes, "links": links, "groups": [], "config": {}, "extra": {}, "version": 0.4}


LOAD_JS = """async ([text, count]) => {
  const file = new File([text], "big.json", { type: "application/json" });
  const dt = new DataTransfer();
  dt.items.add(file);
  const canvas = document.getElementById("graph-canvas");
  const before = window.studio.lastLoad;
  const t0 = performance.now();
  canvas.dispatchEvent(new DragEvent("drop", { bubbles: true, cancelable: true, dataTransfer: dt }));
  while (window.studio.lastLoad === before) await new Promise((r) => setTimeout(r, 0));
  if (window.studio.graph.nodes.length !== count) throw new Error("wrong node count");
  const built = performance.now() - t0;
  await new Promise((r) => requestAnimationFrame(() => r()));
  return { built, firstFrame: performance.now() - t0, inApp: window.studio.lastLoad.ms };
}"""

MOTION_JS = """async ([kind, seconds]) => {
  const canvas = document.getElementById("graph-canvas");
  const r = canvas.getBoundingClientRect();
  const cx = r.left + r.width / 2, cy = r.top + r.height / 2;
  const frames0 = window.studio.frames, draw0 = window.studio.drawMs;
  let x = cx, step = 0;
  if (kind === "pan") canvas.dispatchEvent(new PointerEvent("pointerdown", { bubbles: true, button: 1, buttons: 4, clientX: x, clientY: cy }));
  const t0 = performance.now();
  await new Promise((resolve) => {
    const tick = () => {
      if (performance.now() - t0 >= seconds * 1000) return resolve();
      step++;
      if (kind === "pan") {
        x = cx + 300 * Math.sin(step / 20);
        window.dispatchEvent(new PointerEvent("pointermove", { bubbles: true, buttons: 4, clientX: x, clientY: cy + 100 * Math.cos(step / 25) }));
      } else {
        // 30 steps in, 30 steps out: back to the starting scale every 60 frames.
        const dy = Math.floor((step - 1) / 30) % 2 ? 12 : -12;
        canvas.dispatchEvent(new WheelEvent("wheel", { bubbles: true, cancelable: true, deltaY: dy, clientX: cx, clientY: cy }));
      }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
  const elapsed = (performance.now() - t0) / 1000;
  if (kind === "pan") {
    window.dispatchEvent(new PointerEvent("pointermove", { bubbles: true, buttons: 4, clientX: cx, clientY: cy }));
    window.dispatchEvent(new PointerEvent("pointerup", { bubbles: true, button: 1, clientX: cx, clientY: cy }));
  }
  const frames = window.studio.frames - frames0;
  const drawn = window.studio.drawn;
  await new Promise((r) => setTimeout(r, 200));  // let the view settle before the next run
  return { fps: frames / elapsed, drawMs: (window.studio.drawMs - draw0) / Math.max(1, frames), drawn };
}"""


def zoom_to(page, scale: float) -> None:
    """Wheel at the centre until the view reaches about `scale` (synthetic wheel events)."""
    page.evaluate("""(target) => {
      const c = document.getElementById("graph-canvas"), r = c.getBoundingClientRect();
      for (let i = 0; i < 200 && Math.abs(Math.log(window.studio.view.scale / target)) > 0.05; i++) {
        const dy = window.studio.view.scale > target ? 30 : -30;
        c.dispatchEvent(new WheelEvent("wheel", { bubbles: true, cancelable: true, deltaY: dy, clientX: r.left + r.width / 2, clientY: r.top + r.height / 2 }));
      }
    }""", scale)


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, nargs="+", default=[500, 1000])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerThread(Path(tmp)).start()
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.goto(server.url + "/")
                page.wait_for_function("() => window.studio && window.studio.ready", timeout=60_000)
                print(f"editor at {server.url}, viewport 1280x800, Chromium headless (software rendering)")
                for count in args.nodes:
                    text = json.dumps(generated_workflow(count))
                    loads = [page.evaluate(LOAD_JS, [text, count]) for _ in range(3)]
                    best = min(loads, key=lambda r: r["firstFrame"])
                    print(f"\n{count} nodes, {len(json.loads(text)['links'])} links ({len(text) / 1e6:.2f} MB JSON)")
                    print(f"  open (drop -> built, median of 3): {sorted(r['built'] for r in loads)[1]:.0f} ms; to first frame {sorted(r['firstFrame'] for r in loads)[1]:.0f} ms"
                          f" (best {best['firstFrame']:.0f} ms; parse+build+layout+draw inside the app {sorted(r['inApp'] for r in loads)[1]:.0f} ms)")
                    for label, scale in (("whole graph in view", None), ("50% zoom", 0.5), ("100% zoom", 1.0)):
                        if scale is not None:
                            zoom_to(page, scale)
                        scale_now = page.evaluate("() => window.studio.view.scale")
                        cost = page.evaluate("() => window.studio.frameCostMs(20)")
                        print(f"  {label:<20} (scale {scale_now:.2f}) one full frame, drawn and rasterized: {cost:.2f} ms (room for {1000 / cost:.0f} fps)")
                        for kind in ("pan", "zoom"):
                            r = page.evaluate(MOTION_JS, [kind, args.seconds])
                            print(f"  {label:<20} (scale {scale_now:.2f}) {kind:<4}: {r['fps']:5.1f} fps, draw {r['drawMs']:.2f} ms/frame, {r['drawn']} nodes drawn in the last frame")
                browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
