"""Running: server-side validation errors shown on the right node and widget, image
upload on Load Image, batch count with the running node, progress and previews, the
queue/history panel (cancel, interrupt, reload a past workflow), export, category menu."""
from __future__ import annotations

import io
import json
import time
import urllib.request

from PIL import Image

from tests.browser.helpers import drag, drop_file, drop_json, js, load_image_with_upload, node_ids, point, shot, slot, wait_loaded, widget_value
from tests.browser.workflows import txt2img_ui


def get_json(url: str):
    with urllib.request.urlopen(url) as response:
        return json.load(response)


def test_missing_required_link_is_shown_on_the_sampler(page):
    (sampler,) = node_ids(page, "KSampler")
    drag(page, slot(page, sampler, True, 1), (700, 760))  # pull the positive wire off
    page.keyboard.press("Escape")
    page.click("#queue-button")
    page.wait_for_function("id => (window.studio.graph.getNode(id).errors || []).length > 0", arg=sampler)
    errors = js(page, "id => window.studio.graph.getNode(id).errors", sampler)
    assert any("Required input is missing" in e and "positive" in e for e in errors)
    assert js(page, "id => !!window.studio.graph.getNode(id).inputs[1].error", sampler)
    others = js(page, "() => window.studio.graph.nodes.filter(n => n.errors).map(n => n.type)")
    assert others == ["KSampler"]
    assert "Prompt outputs failed validation" in page.inner_text("#toasts")
    shot(page, "12_missing_link_error")


def test_steps_zero_is_shown_on_the_steps_widget(page):
    drop_json(page, txt2img_ui(steps=0), "steps0.json")
    wait_loaded(page, 7)
    page.click("#queue-button")
    page.wait_for_function("() => (window.studio.graph.getNode(3).errors || []).length > 0")
    widgets = js(page, "() => window.studio.graph.getNode(3).widgets.filter(w => w.error).map(w => w.name)")
    assert widgets == ["steps"]
    assert js(page, "() => window.studio.graph.nodes.filter(n => n.errors).map(n => n.id)") == [3]
    shot(page, "13_steps_zero_error")
    # Fixing the value by its arrow clears the widget's mark.
    page.mouse.click(*point(page, "widget", 3, "steps", "right"))
    assert widget_value(page, 3, "steps") == 1
    assert js(page, "() => window.studio.graph.getNode(3).widgets.filter(w => w.error).length") == 0


def test_load_image_upload_shows_a_thumbnail(page, tmp_path):
    node = load_image_with_upload(page, tmp_path / "red_dot.png")
    page.wait_for_function("id => { const n = window.studio.graph.getNode(id); return n.thumbnail && n.thumbnail.complete && n.thumbnail.naturalWidth === 32 }", arg=node)
    assert widget_value(page, node, "image") == "red_dot.png"
    assert js(page, "() => window.studio.toApi()")[str(node)]["inputs"] == {"image": "red_dot.png"}
    # An image dropped on the node is uploaded into it.
    other = io.BytesIO()
    Image.new("RGB", (16, 16), (30, 200, 30)).save(other, format="PNG")
    drop_file(page, other.getvalue(), "green.png", "image/png", at=point(page, "title", node), loads=False)
    page.wait_for_function("id => window.studio.graph.getNode(id).widgets[0].value === 'green.png' && window.studio.graph.getNode(id).thumbnail.naturalWidth === 16", arg=node)
    # The image list now offers it: pick it from the combo menu after a Refresh.
    page.click("#refresh-button")
    page.mouse.click(*point(page, "widget", node, "image"))
    page.wait_for_selector(".menu-item[data-label='red_dot.png']")
    page.keyboard.press("Escape")
    shot(page, "14_load_image_thumbnail")


def test_history_panel_reloads_a_past_workflow(page):
    drop_json(page, txt2img_ui(steps=1, size=64), "small.json")
    wait_loaded(page, 7)
    page.click("#queue-button")
    page.wait_for_function("() => { const n = window.studio.graph.getNode(9); return n.outputs_ui && n.outputs_ui.length }", timeout=90_000)
    page.click("#new-button")
    page.click("#panel-button")
    page.wait_for_selector(".history-item button")
    page.click(".history-item:first-child button")
    wait_loaded(page, 7)
    assert js(page, "() => window.studio.graph.getNode(6).title") == "Positive"
    shot(page, "15_history_panel")
    page.click("#clear-history-button")
    page.wait_for_function("() => document.querySelector('#history-list').textContent === 'No history yet.'")


RECORDER = """() => {
  const seen = { running: [], progressMax: 0, progressValue: 0, previewNodes: [] };
  window.__seen = seen;
  setInterval(() => {
    const s = window.studio;
    if (s.running != null && seen.running[seen.running.length - 1] !== s.running) seen.running.push(s.running);
    const p = s.progress;
    if (p) { seen.progressMax = Math.max(seen.progressMax, p.max); seen.progressValue = Math.max(seen.progressValue, p.value); }
    if (s.previewNode != null && !seen.previewNodes.includes(s.previewNode)) seen.previewNodes.push(s.previewNode);
  }, 2);
}"""


def test_batch_count_running_highlight_progress_and_preview(page, server_url):
    drop_json(page, txt2img_ui(steps=4, size=64), "four_steps.json")
    wait_loaded(page, 7)
    page.evaluate(RECORDER)
    seeds_before = widget_value(page, 3, "seed")
    known = set(get_json(f"{server_url}/history"))
    page.fill("#batch-count", "2")
    page.click("#queue-button")
    deadline = time.monotonic() + 90
    while True:
        new = {k: v for k, v in get_json(f"{server_url}/history").items() if k not in known}
        if len(new) == 2 and all(v["status"]["completed"] for v in new.values()):
            break
        assert time.monotonic() < deadline, "the two prompts did not finish"
        time.sleep(0.2)
    page.wait_for_function("() => window.studio.running === null && window.studio.graph.getNode(9).outputs_ui")
    seen = page.evaluate("() => window.__seen")
    assert 3 in seen["running"]  # the sampler runs long enough to be seen highlighted; Save Image may not
    assert seen["progressMax"] == 4 and seen["progressValue"] >= 1
    assert 3 in seen["previewNodes"]  # live latent previews were drawn on the sampler
    assert widget_value(page, 3, "seed") != seeds_before  # "randomize" ran after each queueing
    seeds = {entry["prompt"][2]["3"]["inputs"]["seed"] for entry in new.values()}
    assert len(seeds) == 2 and seeds_before in seeds
    for entry in new.values():
        assert entry["prompt"][3]["client_id"] and entry["prompt"][3]["extra_pnginfo"]["workflow"]["version"] == 0.4


def test_cancel_pending_and_interrupt_running_from_the_panel(page, server_url):
    drop_json(page, txt2img_ui(steps=10000, size=64), "long.json")
    wait_loaded(page, 7)
    page.click("#panel-button")
    page.fill("#batch-count", "2")
    page.click("#queue-button")
    page.wait_for_selector(".queue-item.pending button")
    pending = page.get_attribute(".queue-item.pending", "data-prompt-id")
    page.click(".queue-item.pending button")
    page.wait_for_selector(".queue-item.pending", state="detached")
    page.wait_for_selector(".queue-item.running button")
    running = page.get_attribute(".queue-item.running", "data-prompt-id")
    page.wait_for_function("() => window.studio.running === 3", timeout=60_000)
    shot(page, "16_running_with_queue_panel")
    page.click(".queue-item.running button")
    page.wait_for_function("() => window.studio.running === null", timeout=60_000)
    with urllib.request.urlopen(f"{server_url}/queue") as response:
        assert json.load(response) == {"queue_running": [], "queue_pending": []}
    with urllib.request.urlopen(f"{server_url}/history/{running}") as response:
        entry = json.load(response)[running]
    assert entry["status"]["completed"] is False
    with urllib.request.urlopen(f"{server_url}/history/{pending}") as response:
        assert json.load(response) == {}


def test_export_api_and_add_node_from_the_category_menu(page):
    page.click("#new-button")
    page.mouse.click(300, 100, button="right")
    page.click(".menu-item[data-label='Add Node']")
    page.click(".menu-item[data-label='sampling']")
    page.click(".menu-item[data-label='KSampler (Advanced)']")
    (advanced,) = node_ids(page, "KSamplerAdvanced")
    # Drag the "steps" number to the right: it grows by its step, within its bounds.
    steps = widget_value(page, advanced, "steps")
    x, y = point(page, "widget", advanced, "steps")
    drag(page, (x, y), (x + 60, y), steps=6)
    assert widget_value(page, advanced, "steps") == steps + 10
    drag(page, (x, y), (x - 3000, y), steps=6)
    assert widget_value(page, advanced, "steps") == 1  # its minimum
    with page.expect_download() as download:
        page.click("#export-button")
    api = json.loads(open(download.value.path()).read())
    assert list(api) == [str(advanced)]
    assert api[str(advanced)]["class_type"] == "KSamplerAdvanced" and api[str(advanced)]["inputs"]["steps"] == 1
