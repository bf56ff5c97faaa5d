"""The mask editor on a Load Image node, driven with the real mouse and keyboard: opened
from the node's menu on the shipped inpaint template, painted (brush, eraser, hardness,
size, undo/redo, invert, clear), saved through /upload/mask into a new copy of the image whose
alpha is the paint, the widget pointing at it (one undo step in the graph), and the
inpaint run on it; Escape leaves without saving and the graph takes no keys meanwhile."""
from __future__ import annotations

import io
import json
import urllib.parse
import urllib.request

from PIL import Image

from tests.browser.helpers import drag, js, point, set_widget, shot, widget_value

LOADER, SAMPLER, SAVE, CHECKPOINT = 10, 3, 9, 4  # node ids in workflows/inpaint.json


def open_inpaint_template(page) -> None:
    page.click("#templates-button")
    page.click(".menu-item[data-label='inpaint']")
    page.wait_for_function("() => (window.studio.lastLoad || {}).source === 'inpaint.json'")


def open_mask_editor(page, node: int) -> dict:
    page.mouse.click(*point(page, "title", node), button="right")
    page.click(".menu-item[data-label='Open in mask editor']")
    page.wait_for_selector(".mask-editor[data-ready='1']")
    return probe(page)


def probe(page) -> dict:
    return js(page, """() => { const m = window.studio.maskEditor;
        return m && { width: m.width, height: m.height, tool: m.tool, size: m.size, hardness: m.hardness,
                      painted: m.painted, canUndo: m.canUndo, canRedo: m.canRedo }; }""")


def mask_at(page, x: float, y: float) -> int:
    return js(page, "([x, y]) => window.studio.maskEditor.at(x, y)", [x, y])


def on_page(page, x: float, y: float) -> tuple[float, float]:
    """Where image pixel (x, y) of the open editor is on the page."""
    return tuple(js(page, "([x, y]) => window.studio.maskEditor.toPage(x, y)", [x, y]))


def view(server_url: str, name: str) -> Image.Image:
    query = urllib.parse.urlencode({"filename": name, "type": "input"})
    with urllib.request.urlopen(f"{server_url}/view?{query}") as response:
        return Image.open(io.BytesIO(response.read())).convert("RGBA")


def choose(page, node: int, widget: str, value: str) -> None:
    page.mouse.click(*point(page, "widget", node, widget))
    page.click(f".menu-item[data-label='{value}']")
    assert widget_value(page, node, widget) == value


def test_mask_painted_saved_and_inpainted(page, server_url):
    open_inpaint_template(page)
    assert widget_value(page, LOADER, "image") == "example.png"
    original = view(server_url, "example.png")
    state = open_mask_editor(page, LOADER)
    w, h = state["width"], state["height"]
    assert (w, h) == original.size and state["painted"] == 0 and state["tool"] == "brush"
    cy, left, right, mid = h // 2, w // 5, w * 4 // 5, w // 2

    # A brush stroke across the middle.
    drag(page, on_page(page, left, cy), on_page(page, right, cy), steps=12)
    assert mask_at(page, mid, cy) == 255 and mask_at(page, left + 2, cy) == 255
    assert mask_at(page, mid, h // 10) == 0
    # The eraser cuts through it; Ctrl+Z brings it back, Ctrl+Y cuts again, the Undo button back.
    page.click(".mask-tool[data-tool='eraser']")
    drag(page, on_page(page, mid, h * 3 // 10), on_page(page, mid, h * 7 // 10), steps=8)
    assert mask_at(page, mid, cy) == 0 and mask_at(page, left + 2, cy) == 255
    page.keyboard.press("Control+z")
    assert mask_at(page, mid, cy) == 255
    page.keyboard.press("Control+y")
    assert mask_at(page, mid, cy) == 0
    page.click(".mask-undo")
    assert mask_at(page, mid, cy) == 255 and probe(page)["canRedo"]
    # Invert paints everything else; undone again.
    page.click(".mask-invert")
    assert mask_at(page, mid, cy) == 0 and mask_at(page, mid, h // 10) == 255
    page.keyboard.press("Control+z")
    assert mask_at(page, mid, cy) == 255 and mask_at(page, mid, h // 10) == 0
    # Clear takes all paint away; undone too.
    painted = probe(page)["painted"]
    page.click(".mask-clear")
    assert probe(page)["painted"] == 0
    page.keyboard.press("Control+z")
    assert probe(page)["painted"] == painted
    # A soft dab (hardness 0 from the keyboard on its slider) fades out towards its edge;
    # "]" makes the brush bigger.
    page.keyboard.press("b")
    page.focus(".mask-slider input[name='hardness']")
    page.keyboard.press("Home")
    size = probe(page)["size"]
    assert probe(page)["hardness"] == 0 and probe(page)["tool"] == "brush"
    dab_x, dab_y = w // 2, h * 17 // 20
    page.mouse.click(*on_page(page, dab_x, dab_y))
    assert mask_at(page, dab_x, dab_y) > 240
    soft = mask_at(page, dab_x + round(size * 0.35), dab_y)
    assert 0 < soft < 200
    page.keyboard.press("]")
    assert probe(page)["size"] > size
    shot(page, "50_mask_editor_painted")

    page.click(".mask-save")
    page.wait_for_selector(".mask-editor", state="detached")
    name = widget_value(page, LOADER, "image")
    assert name.startswith("clipspace/") and name.endswith("-mask.png")
    saved = view(server_url, name)
    assert saved.size == original.size
    assert saved.getpixel((mid, cy))[3] == 0 and saved.getpixel((left + 2, cy))[3] == 0  # painted: transparent
    assert saved.getpixel((mid, h // 10))[3] == 255  # unpainted: opaque
    assert 0 < saved.getpixel((dab_x + round(size * 0.35), dab_y))[3] < 255  # the soft edge
    assert saved.getpixel((mid, cy))[:3] == original.getpixel((mid, cy))[:3]  # the colours are kept
    assert view(server_url, "example.png").getpixel((mid, cy))[3] == 255  # the original is untouched
    page.wait_for_function("([id, n]) => window.studio.graph.getNode(id).thumbnail?.dataset.value === n", arg=[LOADER, name])

    # Opened again, the editor shows the saved mask; Escape closes it.
    assert open_mask_editor(page, LOADER)["painted"] > 0
    assert mask_at(page, mid, cy) == 255 and mask_at(page, mid, h // 10) == 0
    page.keyboard.press("Escape")
    page.wait_for_selector(".mask-editor", state="detached")

    # Choosing the mask is one step of the graph's undo history.
    page.mouse.click(*point(page, "title", SAVE))
    page.keyboard.press("Control+z")
    assert widget_value(page, LOADER, "image") == "example.png"
    page.keyboard.press("Control+y")
    assert widget_value(page, LOADER, "image") == name

    # The inpaint template runs on the mask (the test server has only the tiny checkpoint).
    choose(page, CHECKPOINT, "ckpt_name", "tiny.safetensors")
    set_widget(page, SAMPLER, "steps", "2")
    assert js(page, "() => window.studio.toApi()")[str(LOADER)]["inputs"]["image"] == name
    page.click("#queue-button")
    page.wait_for_function("id => { const n = window.studio.graph.getNode(id); return n.outputs_ui && n.outputs_ui.length }",
                           arg=SAVE, timeout=120_000)
    with urllib.request.urlopen(f"{server_url}/history?max_items=1") as response:
        (entry,) = json.load(response).values()
    assert entry["status"]["status_str"] == "success"
    assert entry["prompt"][2][str(LOADER)]["inputs"]["image"] == name  # the run read the masked copy
    record = js(page, "id => window.studio.graph.getNode(id).outputs_ui[0]", SAVE)
    query = urllib.parse.urlencode({"filename": record["filename"], "subfolder": record["subfolder"], "type": record["type"]})
    with urllib.request.urlopen(f"{server_url}/view?{query}") as response:
        assert Image.open(io.BytesIO(response.read())).size == original.size
    shot(page, "51_inpainted_with_mask")


def test_escape_leaves_without_saving_and_the_graph_takes_no_keys(page, studio_base):
    open_inpaint_template(page)
    clipspace = studio_base / "input" / "clipspace"
    before = sorted(p.name for p in clipspace.iterdir()) if clipspace.is_dir() else []
    nodes = js(page, "() => window.studio.graph.nodes.length")
    state = open_mask_editor(page, LOADER)
    w, h = state["width"], state["height"]
    drag(page, on_page(page, w // 4, h // 4), on_page(page, w * 3 // 4, h * 3 // 4), steps=6)
    assert probe(page)["painted"] > 0
    page.keyboard.press("Delete")  # would remove the selected node in the graph
    page.keyboard.press("Control+a")
    page.keyboard.press("Escape")
    page.wait_for_selector(".mask-editor", state="detached")
    assert js(page, "() => window.studio.graph.nodes.length") == nodes
    assert widget_value(page, LOADER, "image") == "example.png"
    after = sorted(p.name for p in clipspace.iterdir()) if clipspace.is_dir() else []
    assert after == before
