"""Webcam Capture in the editor: the capture button takes a frame from the camera (Chromium's
fake test camera here), uploads it to the temp folder and shows it; Queue captures again
when capture_on_queue is on, and the workflow runs on the captured picture."""
from __future__ import annotations

import urllib.request

from tests.browser.helpers import drop_json, history_entry, js, point, wait_loaded


def webcam_workflow(capture_on_queue: bool) -> dict:
    def node(id_, type_, pos, inputs, outputs, widgets):
        return {"id": id_, "type": type_, "pos": pos, "size": [240, 40], "flags": {}, "order": 0, "mode": 0,
                "inputs": [{"name": n, "type": t, "link": link} for n, t, link in inputs],
                "outputs": [{"name": n, "type": t, "links": ls, "slot_index": 0} for n, t, ls in outputs],
                "properties": {}, "widgets_values": widgets}

    return {"last_node_id": 2, "last_link_id": 1, "version": 0.4, "groups": [], "config": {}, "extra": {},
            "nodes": [node(1, "WebcamCapture", [40, 60], [], [("IMAGE", "IMAGE", [1])], ["", 64, 48, capture_on_queue]),
                      node(2, "PreviewImage", [420, 60], [("images", "IMAGE", 1)], [], [])],
            "links": [[1, 1, 0, 2, 0, "IMAGE"]]}


def image_value(page) -> str:
    return js(page, "() => window.studio.graph.getNode(1).widgets.find(w => w.name === 'image').value")


def test_capture_button_and_capture_on_queue(page, server_url):
    drop_json(page, webcam_workflow(capture_on_queue=False), "webcam.json")
    wait_loaded(page, 2)
    assert js(page, "() => window.studio.graph.getNode(1).widgets.map(w => w.name)") == \
        ["image", "width", "height", "capture_on_queue", "capture"]
    page.mouse.click(*point(page, "widget", 1, "capture"))
    page.wait_for_function("() => window.studio.graph.getNode(1).widgets[0].value.startsWith('webcam/')")
    first = image_value(page)
    assert first.endswith(".png [temp]")
    page.wait_for_function("() => window.studio.graph.getNode(1).thumbnail?.naturalWidth === 64")
    api = js(page, "() => window.studio.toApi()")
    assert api["1"]["inputs"]["image"] == first and "capture" not in api["1"]["inputs"]

    page.click("#queue-button")  # capture_on_queue is off: the captured picture is used as it is
    page.wait_for_function("() => window.studio.lastPromptId")
    entry = history_entry(page, server_url, js(page, "() => window.studio.lastPromptId"))
    assert entry["status"]["status_str"] == "success", entry["status"]
    assert image_value(page) == first

    page.mouse.click(*point(page, "widget", 1, "capture_on_queue"))  # on: Queue takes a new frame first
    before = js(page, "() => window.studio.lastPromptId")
    page.wait_for_timeout(20)  # file names carry the capture time in milliseconds
    page.click("#queue-button")
    page.wait_for_function("id => window.studio.lastPromptId && window.studio.lastPromptId !== id", arg=before)
    second = image_value(page)
    assert second != first and second.startswith("webcam/")
    entry = history_entry(page, server_url, js(page, "() => window.studio.lastPromptId"))
    assert entry["status"]["status_str"] == "success", entry["status"]
    assert entry["prompt"][2]["1"]["inputs"]["image"] == second
    with urllib.request.urlopen(f"{server_url}/view?filename={second.split('/')[1].split(' ')[0]}"
                                "&subfolder=webcam&type=temp") as response:
        assert response.read(8) == b"\x89PNG\r\n\x1a\n"
