"""The face swap in the editor: the shipped template opens, runs on two real photos in the
server's input folder, shows the swapped picture and the node's message."""
from __future__ import annotations

import urllib.parse
import urllib.request

import numpy as np
from PIL import Image

from tests.browser.helpers import js, shot
from tests.faceswap_support import astronaut, grace_hopper


def test_face_swap_template_runs_in_the_editor(page, server_url, studio_base):
    (studio_base / "input").mkdir(exist_ok=True)
    Image.fromarray(astronaut()).save(studio_base / "input" / "example.png")
    Image.fromarray(grace_hopper()).save(studio_base / "input" / "face.png")
    page.click("#templates-button")
    page.click(".menu-item[data-label='face swap']")
    page.wait_for_function("() => (window.studio.lastLoad || {}).source === 'face_swap.json'")
    assert js(page, "() => window.studio.graph.getNode(3).type") == "ReActorFaceSwap"
    page.click("#queue-button")
    page.wait_for_function("() => { const n = window.studio.graph.getNode(4); return n.outputs_ui && n.outputs_ui.length }",
                           timeout=90_000)
    page.wait_for_function("() => document.querySelector('#toasts').innerText.includes('face 0 swapped')")
    record = js(page, "() => window.studio.graph.getNode(4).outputs_ui[0]")
    query = urllib.parse.urlencode({"filename": record["filename"], "subfolder": record["subfolder"],
                                    "type": record["type"]})
    with urllib.request.urlopen(f"{server_url}/view?{query}") as response:
        swapped = np.asarray(Image.open(response).convert("RGB"))
    assert swapped.shape == astronaut().shape and (swapped != astronaut()).any()
    assert record["filename"].startswith("face_swap")
    shot(page, "40_face_swap")
