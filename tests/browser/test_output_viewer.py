"""Output viewing: every image of a batch on the node with its pixel size, the viewer
(lightbox) paged with the arrow keys and its buttons, zoomed, panned, closed; Open / Save /
Copy from the viewer and the node menu (outputs and Load Image); the queue panel's gallery;
a fully cached re-queue from a fresh tab still showing its images; and the images staying
on their nodes through undo/redo and tab switches, or reaching a tab hidden when they came."""
from __future__ import annotations

import io
import json
import urllib.request

from PIL import Image

from tests.browser.helpers import drag, drop_json, js, load_image_with_upload, point, shot, wait_loaded
from tests.browser.workflows import txt2img_ui

SAVE = 9  # Save Image in txt2img_ui
LIGHTBOX = ".lightbox"
IMAGES_LOADED = """([id, n]) => { const node = window.studio.graph.getNode(id);
  return !!node.images && node.images.length === n && node.images.every(i => i.complete && i.naturalWidth > 0) }"""


def batch_graph(batch: int, seed: int) -> dict:
    """The tiny txt2img graph, one step, `batch` images of 64 x 64, the seed kept fixed."""
    ui = txt2img_ui(steps=1, size=64)
    for node in ui["nodes"]:
        if node["type"] == "EmptyLatentImage":
            node["widgets_values"] = [64, 64, batch]
        if node["type"] == "KSampler":
            node["widgets_values"][0:2] = [seed, "fixed"]
    return ui


def run_graph(page, ui: dict, name: str, images: int) -> list[dict]:
    drop_json(page, ui, name)
    wait_loaded(page, 7)
    page.click("#queue-button")
    page.wait_for_function(IMAGES_LOADED, arg=[SAVE, images], timeout=120_000)
    return js(page, "id => window.studio.graph.getNode(id).outputs_ui", SAVE)


def counter(page) -> str:
    return page.inner_text(".lightbox-counter")


def shown_src(page) -> str:
    return page.get_attribute(".lightbox-image", "src")


def zoom(page) -> float:
    return js(page, "() => window.studio.lightbox.zoom")


def filename_in(src: str) -> str:
    from urllib.parse import parse_qs, urlparse

    return parse_qs(urlparse(src).query)["filename"][0]


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return image.size


def test_lightbox_pages_through_a_batch_of_four(page):
    outputs = run_graph(page, batch_graph(4, seed=101), "batch4.json", 4)
    names = [o["filename"] for o in outputs]
    assert len(set(names)) == 4
    assert js(page, "id => window.studio.imageLabel(id)", SAVE) == "4 images, 64 × 64"
    cells = [tuple(js(page, "([id, i]) => window.studio.imageCell(id, i)", [SAVE, i])) for i in range(4)]
    assert len(set(cells)) == 4  # four thumbnails side by side, not one image
    assert len({x for x, _ in cells}) == 2 and len({y for _, y in cells}) == 2  # a 2 x 2 grid
    shot(page, "40_batch_of_four_on_the_node")

    page.mouse.click(*cells[1])  # a real click on the second thumbnail
    page.wait_for_selector(LIGHTBOX)
    assert counter(page) == "2 / 4" and filename_in(shown_src(page)) == names[1]
    page.wait_for_function("() => document.querySelector('.lightbox-caption').textContent.includes('64 × 64')")
    page.keyboard.press("ArrowRight")
    assert counter(page) == "3 / 4" and filename_in(shown_src(page)) == names[2]
    page.keyboard.press("ArrowRight")
    assert counter(page) == "4 / 4" and filename_in(shown_src(page)) == names[3]
    page.keyboard.press("ArrowRight")  # past the last: round to the first
    assert counter(page) == "1 / 4" and filename_in(shown_src(page)) == names[0]
    page.keyboard.press("ArrowLeft")
    assert counter(page) == "4 / 4"
    page.click(".lightbox [data-action=prev]")
    assert counter(page) == "3 / 4" and filename_in(shown_src(page)) == names[2]
    page.click(".lightbox [data-action=next]")
    assert counter(page) == "4 / 4" and filename_in(shown_src(page)) == names[3]

    # Keys belong to the viewer: Delete does not remove the (selected) Save Image node behind it.
    assert js(page, "() => window.studio.selected") == [SAVE]
    page.keyboard.press("Delete")
    assert js(page, "() => window.studio.graph.nodes.length") == 7

    # Zoom: fitted first, the wheel zooms in at the cursor, the buttons step, 100% is actual pixels.
    page.wait_for_function("() => !document.querySelector('.lightbox').classList.contains('loading')")
    fitted = zoom(page)
    assert fitted > 5  # a 64 px image fitted to a 1280 x 760 stage
    box = page.locator(".lightbox-image").bounding_box()
    assert abs(box["height"] - 760) < 2  # fills the stage's height
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -400)
    page.wait_for_function("z => window.studio.lightbox.zoom > z * 1.5", arg=fitted)
    page.click(".lightbox [data-action=zoom-out]")
    after_wheel = zoom(page)
    page.click(".lightbox [data-action=zoom-in]")
    assert zoom(page) > after_wheel
    page.click(".lightbox [data-action=actual]")
    assert zoom(page) == 1 and page.inner_text(".lightbox-zoom") == "100%"
    assert round(page.locator(".lightbox-image").bounding_box()["width"]) == 64
    page.keyboard.press("0")  # fit again
    assert abs(zoom(page) - fitted) < 1e-6
    # A drag pans the image and leaves the viewer open.
    before = page.locator(".lightbox-image").bounding_box()
    drag(page, (640, 420), (540, 380))
    moved = page.locator(".lightbox-image").bounding_box()
    assert (round(moved["x"] - before["x"]), round(moved["y"] - before["y"])) == (-100, -40)
    assert page.is_visible(LIGHTBOX)
    shot(page, "41_lightbox")

    # Save downloads the shown image under its own name.
    with page.expect_download() as download:
        page.click(".lightbox [data-action=save]")
    assert download.value.suggested_filename == names[3]
    assert png_size(open(download.value.path(), "rb").read()) == (64, 64)

    page.keyboard.press("Escape")
    page.wait_for_selector(LIGHTBOX, state="detached")
    # Open again and close with a click beside the image.
    page.mouse.click(*cells[0])
    page.wait_for_selector(LIGHTBOX)
    assert counter(page) == "1 / 4"
    page.mouse.click(100, 200)
    page.wait_for_selector(LIGHTBOX, state="detached")
    assert js(page, "() => window.studio.lightbox") is None


def test_copy_puts_a_png_on_the_clipboard(page, server_url):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server_url)
    run_graph(page, batch_graph(1, seed=202), "one.json", 1)
    assert js(page, "id => window.studio.imageLabel(id)", SAVE) == "64 × 64"
    page.mouse.click(*js(page, "([id, i]) => window.studio.imageCell(id, i)", [SAVE, 0]))
    page.wait_for_selector(LIGHTBOX)
    assert counter(page) == "1 / 1"
    assert not page.is_visible(".lightbox [data-action=next]")  # nothing to page through
    page.click(".lightbox [data-action=copy]")
    page.wait_for_function("() => document.querySelector('#toasts').textContent.includes('Image copied to the clipboard')")
    pasted = js(page, """async () => {
        const [item] = await navigator.clipboard.read();
        const blob = await item.getType("image/png");
        const bitmap = await createImageBitmap(blob);
        return [item.types, bitmap.width, bitmap.height];
    }""")
    assert pasted == [["image/png"], 64, 64]


def test_copy_refused_by_the_browser_says_so(page, server_url):
    """A site whose clipboard permission the user blocked: the refusal is shown, not lost."""
    cdp = page.context.new_cdp_session(page)
    context_id = cdp.send("Target.getTargetInfo")["targetInfo"]["browserContextId"]
    for name in ("clipboard-write", "clipboard-read"):
        cdp.send("Browser.setPermission", {"permission": {"name": name}, "setting": "denied", "origin": server_url, "browserContextId": context_id})
    assert js(page, "async () => (await navigator.permissions.query({ name: 'clipboard-write' })).state") == "denied"
    run_graph(page, batch_graph(1, seed=202), "one.json", 1)
    page.mouse.click(*js(page, "([id, i]) => window.studio.imageCell(id, i)", [SAVE, 0]))
    page.wait_for_selector(LIGHTBOX)
    page.keyboard.press("Control+C")  # the viewer's own shortcut for Copy
    page.wait_for_function("() => document.querySelector('#toasts').textContent.includes('The browser refused to copy the image: ') && document.querySelector('#toasts').textContent.includes('Write permission denied.')")
    assert "Image copied" not in page.inner_text("#toasts")


def test_node_menu_views_opens_and_saves_the_image_under_the_cursor(page, tmp_path):
    outputs = run_graph(page, batch_graph(4, seed=101), "batch4.json", 4)
    third = js(page, "([id, i]) => window.studio.imageCell(id, i)", [SAVE, 2])
    page.mouse.click(*third, button="right")
    labels = page.eval_on_selector_all(".menu-item", "els => els.map(e => e.dataset.label)")
    assert labels[:4] == ["View image", "Open image", "Save image", "Copy image"]
    with page.expect_download() as download:
        page.click(".menu-item[data-label='Save image']")
    assert download.value.suggested_filename == outputs[2]["filename"]
    page.mouse.click(*third, button="right")
    with page.context.expect_page() as opened:
        page.click(".menu-item[data-label='Open image']")
    tab = opened.value
    tab.wait_for_load_state()
    assert "/view?" in tab.url and filename_in(tab.url) == outputs[2]["filename"]
    tab.close()
    page.mouse.click(*third, button="right")
    page.click(".menu-item[data-label='View image']")
    page.wait_for_selector(LIGHTBOX)
    assert counter(page) == "3 / 4"
    page.keyboard.press("Escape")
    # Nodes without images offer none of it.
    page.mouse.click(*point(page, "title", 3), button="right")
    assert not page.query_selector(".menu-item[data-label='Save image']")
    page.keyboard.press("Escape")

    # Load Image: its picture, with its size, from the same menu.
    node = load_image_with_upload(page, tmp_path / "wide_dot.png")
    page.wait_for_function("id => window.studio.imageLabel(id) === '32 × 24'", arg=node)
    picture = js(page, "([id, i]) => window.studio.imageCell(id, i)", [node, 0])
    page.mouse.click(*picture, button="right")
    with page.expect_download() as download:
        page.click(".menu-item[data-label='Save image']")
    assert download.value.suggested_filename == "wide_dot.png"
    assert png_size(open(download.value.path(), "rb").read()) == (32, 24)
    page.mouse.click(*picture)  # a click on the picture opens the viewer too
    page.wait_for_selector(LIGHTBOX)
    assert counter(page) == "1 / 1" and filename_in(shown_src(page)) == "wide_dot.png"
    page.wait_for_function("() => document.querySelector('.lightbox-caption').textContent === 'wide_dot.png · 32 × 24'")
    page.keyboard.press("Escape")


def test_queue_panel_gallery_opens_every_history_image(page, server_url):
    outputs = run_graph(page, batch_graph(4, seed=303), "batch4.json", 4)
    page.click("#panel-button")
    page.wait_for_function("name => document.querySelector('.history-item .history-images img')?.title === name", arg=outputs[0]["filename"])
    thumbs = page.locator(".history-item").first.locator(".history-images img")
    assert thumbs.count() == 4
    with urllib.request.urlopen(f"{server_url}/history?max_items=30") as response:
        history = json.load(response)
    every = [im["filename"] for entry in reversed(list(history.values())) for o in entry["outputs"].values() for im in o.get("images", [])]
    assert every[:4] == [o["filename"] for o in outputs]
    shot(page, "42_history_gallery")
    thumbs.nth(1).click()
    page.wait_for_selector(LIGHTBOX)
    assert counter(page) == f"2 / {len(every)}" and filename_in(shown_src(page)) == every[1]
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert counter(page) == f"4 / {len(every)}" and filename_in(shown_src(page)) == every[3]
    page.keyboard.press("End")  # the oldest output in the history, reached from the newest row
    assert counter(page) == f"{len(every)} / {len(every)}" and filename_in(shown_src(page)) == every[-1]
    page.keyboard.press("Escape")
    page.wait_for_selector(LIGHTBOX, state="detached")


def test_fully_cached_requeue_from_a_fresh_tab_shows_the_images(page, browser, server_url):
    ui = batch_graph(2, seed=404)
    first = run_graph(page, ui, "cached.json", 2)
    with urllib.request.urlopen(f"{server_url}/history?max_items=100") as response:
        known = set(json.load(response))

    context = browser.new_context(viewport={"width": 1280, "height": 800})
    fresh = context.new_page()
    errors: list[str] = []
    fresh.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        fresh.goto(server_url + "/")
        fresh.wait_for_function("() => window.studio && window.studio.ready", timeout=30_000)
        again = run_graph(fresh, ui, "cached.json", 2)
        assert again == first  # the first run's images, sent for the cached Save Image
        with urllib.request.urlopen(f"{server_url}/history?max_items=100") as response:
            (entry,) = [v for k, v in json.load(response).items() if k not in known]
        messages = dict((kind, data) for kind, data in entry["status"]["messages"])
        assert set(messages["execution_cached"]["nodes"]) == {"3", "4", "5", "6", "7", "8", "9"}  # nothing ran
        assert js(fresh, "id => window.studio.imageLabel(id)", SAVE) == "2 images, 64 × 64"
        shot(fresh, "43_cached_requeue_fresh_tab")
    finally:
        context.close()
    assert not errors, errors


def test_undo_redo_and_tab_switches_keep_the_node_outputs(page):
    """Undo rebuilds the graph from a snapshot: the images of the last run, and their
    references (outputs_ui), stay on the nodes, as they do when a tab comes back."""
    outputs = run_graph(page, batch_graph(2, seed=505), "keep.json", 2)
    shown = lambda: js(page, "id => window.studio.imageLabel(id)", SAVE)  # noqa: E731
    assert shown() == "2 images, 64 × 64"
    sampler = 3
    start = js(page, "id => [...window.studio.graph.getNode(id).pos]", sampler)
    title = point(page, "title", sampler)
    drag(page, title, (title[0] + 40, title[1] + 60))
    moved = js(page, "id => [...window.studio.graph.getNode(id).pos]", sampler)
    assert moved != start

    page.keyboard.press("Control+z")
    assert js(page, "id => window.studio.graph.getNode(id).pos", sampler) == start
    assert js(page, "id => window.studio.graph.getNode(id).outputs_ui", SAVE) == outputs
    page.wait_for_function(IMAGES_LOADED, arg=[SAVE, 2])
    assert shown() == "2 images, 64 × 64"
    page.keyboard.press("Control+Shift+z")
    assert js(page, "id => window.studio.graph.getNode(id).pos", sampler) == moved
    assert js(page, "id => window.studio.graph.getNode(id).outputs_ui", SAVE) == outputs

    # Away to a new tab and back, then undo there: still the same images.
    index = [t["active"] for t in js(page, "() => window.studio.tabs")].index(True)
    page.click("#tab-bar .tab-new")
    page.wait_for_function("() => window.studio.graph.nodes.length === 0")
    page.locator("#tab-bar .tab").nth(index).click()
    wait_loaded(page, 7)
    assert js(page, "id => window.studio.graph.getNode(id).outputs_ui", SAVE) == outputs
    page.keyboard.press("Control+z")
    assert js(page, "id => window.studio.graph.getNode(id).pos", sampler) == start
    assert js(page, "id => window.studio.graph.getNode(id).outputs_ui", SAVE) == outputs
    page.wait_for_function(IMAGES_LOADED, arg=[SAVE, 2])
    # They open in the viewer as before.
    page.mouse.click(*js(page, "([id, i]) => window.studio.imageCell(id, i)", [SAVE, 1]))
    page.wait_for_selector(LIGHTBOX)
    assert counter(page) == "2 / 2" and filename_in(shown_src(page)) == outputs[1]["filename"]
    page.keyboard.press("Escape")


def test_a_run_that_ends_while_its_tab_is_hidden_shows_its_images_there(page, server_url):
    ui = batch_graph(2, seed=606)
    next(n for n in ui["nodes"] if n["type"] == "KSampler")["widgets_values"][2] = 40  # long enough to leave during it
    drop_json(page, ui, "hidden.json")
    wait_loaded(page, 7)
    index = [t["active"] for t in js(page, "() => window.studio.tabs")].index(True)
    page.click("#queue-button")
    page.wait_for_function("() => window.studio.running === 3", timeout=60_000)  # sampling: Save Image has not run
    page.click("#tab-bar .tab-new")
    page.wait_for_function("() => window.studio.graph.nodes.length === 0")
    prompt = js(page, "() => window.studio.lastPromptId")

    def finished():
        with urllib.request.urlopen(f"{server_url}/history/{prompt}") as response:
            return json.load(response).get(prompt, {}).get("outputs", {}).get(str(SAVE))

    for _ in range(600):  # the run goes on on the server; the editor shows the other tab
        saved = finished()
        if saved:
            break
        page.wait_for_timeout(200)
    page.wait_for_timeout(300)  # its "executed" message, sent before the history is written, has arrived
    assert saved and len(saved["images"]) == 2
    assert js(page, "() => window.studio.graph.nodes.length") == 0  # still the other tab

    page.locator("#tab-bar .tab").nth(index).click()
    wait_loaded(page, 7)
    page.wait_for_function(IMAGES_LOADED, arg=[SAVE, 2])
    assert js(page, "id => window.studio.graph.getNode(id).outputs_ui", SAVE) == saved["images"]
    assert js(page, "id => window.studio.imageLabel(id)", SAVE) == "2 images, 64 × 64"
