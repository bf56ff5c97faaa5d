"""Model presets in the editor: saved from the graph for one checkpoint (the server keys
them by the file's hash), not offered for another, applied to a fresh graph in one click."""
from __future__ import annotations

import pytest

from tests.browser.helpers import node_ids, prompt_node, set_widget, shot, widget_value


@pytest.fixture
def second_model(studio_base):
    """A second checkpoint file (different bytes, so a different hash), listed last."""
    path = studio_base / "models" / "checkpoints" / "zz-second.safetensors"
    path.write_bytes(b"not the same file" * 64)
    yield path.name
    path.unlink()


def test_preset_saved_for_one_model_and_applied_to_a_fresh_graph(page, second_model, server_url):
    page.click("#refresh-button")  # the new file appears in the model lists
    page.wait_for_function("m => window.studio.graph.nodes.some(n => (n.widgets.find(w => w.name === 'ckpt_name') || {options: {values: []}}).options.values.includes(m))", arg=second_model)
    sampler, latent = node_ids(page, "KSampler")[0], node_ids(page, "EmptyLatentImage")[0]
    set_widget(page, sampler, "steps", "7")
    set_widget(page, sampler, "cfg", "4.5")
    set_widget(page, latent, "width", "96")
    set_widget(page, prompt_node(page, "negative"), "text", "blurry, ugly")
    page.click("#presets-button")
    page.wait_for_selector("#preset-list")
    assert page.input_value("#preset-model") == "tiny.safetensors"
    page.fill("#preset-name", "quick")
    page.fill("#preset-triggers", "shapes style")
    page.click("#preset-save")
    page.wait_for_selector(".preset[data-name='quick']")
    saved = page.request.get(f"{server_url}/studio/presets?model=tiny.safetensors").json()
    (preset,) = saved["presets"]
    assert preset["name"] == "quick" and preset["steps"] == 7 and preset["cfg"] == 4.5 and preset["width"] == 96
    assert preset["trigger_words"] == "shapes style" and preset["negative_prompt"] == "blurry, ugly"
    shot(page, "35_model_presets")
    # Not offered for another model.
    page.select_option("#preset-model", second_model)
    page.wait_for_function("() => !document.querySelector(\".preset[data-name='quick']\")")
    # A fresh graph: the default workflow again, with its own settings.
    page.evaluate("() => { window.previousLoad = window.studio.lastLoad; }")
    page.click("#default-button")
    page.wait_for_function("() => window.studio.lastLoad !== window.previousLoad")
    sampler, latent = node_ids(page, "KSampler")[0], node_ids(page, "EmptyLatentImage")[0]
    assert widget_value(page, sampler, "steps") != 7
    page.click("#presets-button")
    page.click("#presets-button")
    assert page.input_value("#preset-model") == "tiny.safetensors"
    page.click(".preset[data-name='quick'] .preset-apply")
    assert widget_value(page, sampler, "steps") == 7 and widget_value(page, sampler, "cfg") == 4.5
    assert widget_value(page, latent, "width") == 96
    assert widget_value(page, prompt_node(page, "positive"), "text").startswith("shapes style, ")
    assert widget_value(page, prompt_node(page, "negative"), "text") == "blurry, ugly"
    # Saving under the same name asks before replacing; deleting removes it.
    page.click("#preset-save")
    page.wait_for_selector(".toast.warn")
    page.click(".preset[data-name='quick'] .preset-delete")
    page.wait_for_selector(".preset[data-name='quick']", state="detached")
    assert page.request.get(f"{server_url}/studio/presets?model=tiny.safetensors").json()["presets"] == []
