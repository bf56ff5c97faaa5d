"""Workflow files: UI format 0.4 and 1, PNGs with a workflow (ours) or only a prompt,
unknown node types kept as placeholders, templates, autosave across a reload."""
from __future__ import annotations

import io
import json
import urllib.request

from PIL import Image, PngImagePlugin

from tests.browser.helpers import add_node_by_search, drag, drop_file, drop_json, js, links, node_ids, point, set_widget, shot, slot, wait_loaded, widget_value
from tests.browser.workflows import as_version_1, txt2img_ui, with_primitive_seed, with_unknown_node


def check_txt2img(page):
    api = js(page, "() => window.studio.toApi()")
    assert api["3"]["inputs"] == {"model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0],
                                  "seed": 156680208700286, "steps": 2, "cfg": 8, "sampler_name": "euler", "scheduler": "normal", "denoise": 1}
    assert api["6"]["inputs"] == {"clip": ["4", 1], "text": "a blue square"}
    assert api["6"]["_meta"]["title"] == "Positive"
    assert api["9"]["inputs"] == {"images": ["8", 0], "filename_prefix": "ComfyUI"}
    assert widget_value(page, 3, "control_after_generate") == "randomize"


def test_load_ui_format_0_4_by_file_chooser_and_1_by_drop(page, tmp_path):
    path = tmp_path / "comfy_workflow.json"
    path.write_text(json.dumps(txt2img_ui()))
    with page.expect_file_chooser() as chooser:
        page.click("#load-button")
    chooser.value.set_files(str(path))
    page.wait_for_function("() => window.studio.graph.getNode(6) && window.studio.graph.getNode(6).title === 'Positive'")
    check_txt2img(page)
    assert js(page, "() => window.studio.graph.groups.map(g => g.title)") == ["Sampling"]
    saved = js(page, "() => window.studio.serialize()")
    assert saved["version"] == 0.4 and saved["last_node_id"] == 9 and len(saved["links"]) == 9
    ks = next(n for n in saved["nodes"] if n["id"] == 3)
    assert ks["widgets_values"] == [156680208700286, "randomize", 2, 8, "euler", "normal", 1]
    shot(page, "08_loaded_ui_0_4")

    page.click("#new-button")
    drop_json(page, as_version_1(txt2img_ui()), "v1.json")
    wait_loaded(page, 7)
    check_txt2img(page)
    assert sorted(tuple(l) for l in links(page)) == sorted(tuple(l) for l in txt2img_ui()["links"])


def test_png_with_workflow_from_our_server_restores_the_graph(page, server_url):
    # Make the default graph small and recognisable, queue it, then drop the saved PNG on a new graph.
    (sampler,) = node_ids(page, "KSampler")
    (latent,) = node_ids(page, "EmptyLatentImage")
    (save,) = node_ids(page, "SaveImage")
    set_widget(page, sampler, "steps", "2")
    set_widget(page, latent, "width", "64")
    set_widget(page, latent, "height", "64")
    set_widget(page, save, "filename_prefix", "pngtest")
    page.click("#queue-button")
    page.wait_for_function("id => { const n = window.studio.graph.getNode(id); return n.outputs_ui && n.outputs_ui.length }", arg=save, timeout=90_000)
    image = js(page, "id => window.studio.graph.getNode(id).outputs_ui[0]", save)
    query = urllib.parse.urlencode({"filename": image["filename"], "type": image["type"], "subfolder": image["subfolder"]})
    with urllib.request.urlopen(f"{server_url}/view?{query}") as response:
        data = response.read()
    with Image.open(io.BytesIO(data)) as png:
        assert "workflow" in png.info and "prompt" in png.info
    page.click("#new-button")
    assert js(page, "() => window.studio.graph.nodes.length") == 0
    drop_file(page, data, image["filename"], "image/png")
    wait_loaded(page, 7)
    assert widget_value(page, save, "filename_prefix") == "pngtest"
    assert widget_value(page, latent, "width") == 64
    assert len(links(page)) == 9
    shot(page, "09_restored_from_png")


def test_png_with_only_a_prompt_is_converted_to_a_graph(page):
    prompt = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "tiny.safetensors"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "only a prompt", "clip": ["1", 1]}},
        "3": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "4": {"class_type": "KSampler", "inputs": {"seed": 5, "steps": 2, "cfg": 7.5, "sampler_name": "euler", "scheduler": "karras",
                                                    "denoise": 1.0, "model": ["1", 0], "positive": ["2", 0], "negative": ["2", 0], "latent_image": ["3", 0]}},
        "5": {"class_type": "VAEDecode", "inputs": {"samples": ["4", 0], "vae": ["1", 2]}},
        "6": {"class_type": "PreviewImage", "inputs": {"images": ["5", 0]}},
    }
    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", json.dumps(prompt))
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, format="PNG", pnginfo=info)
    page.click("#new-button")
    drop_file(page, buffer.getvalue(), "comfy_prompt_only.png", "image/png")
    wait_loaded(page, 6)
    api = js(page, "() => window.studio.toApi()")
    for id_, entry in prompt.items():
        assert api[id_]["class_type"] == entry["class_type"]
        assert api[id_]["inputs"] == entry["inputs"]
    # Laid out left to right by dependency: the loader left of the sampler, the sampler left of the decoder.
    x = {i: js(page, "id => window.studio.graph.getNode(id).pos[0]", i) for i in (1, 4, 5)}
    assert x[1] < x[4] < x[5]
    shot(page, "10_prompt_only_png")


def test_unknown_node_types_are_kept_and_round_trip(page):
    workflow = with_unknown_node(txt2img_ui())
    drop_json(page, workflow, "with_unknown.json")
    wait_loaded(page, 8)
    node = js(page, "() => { const n = window.studio.graph.getNode(10); return {placeholder: n.placeholder, title: n.title} }")
    assert node == {"placeholder": True, "title": "FancyUpscaler"}
    assert js(page, "() => window.studio.unknownTypes") == ["FancyUpscaler"]
    assert "FancyUpscaler" in page.inner_text("#toasts")
    shot(page, "11_unknown_node_placeholder")
    saved = js(page, "() => window.studio.serialize()")
    fancy = next(n for n in saved["nodes"] if n["id"] == 10)
    assert fancy["type"] == "FancyUpscaler" and fancy["widgets_values"] == [2, "lanczos"]
    assert fancy["inputs"][0]["link"] == 9 and fancy["outputs"][0]["links"] == [10]
    assert sorted(tuple(l) for l in saved["links"]) == sorted(tuple(l) for l in workflow["links"])
    # Downloaded through the Download button, the file is the same graph.
    with page.expect_download() as download:
        page.click("#download-button")
    data = json.loads(open(download.value.path()).read())
    assert next(n for n in data["nodes"] if n["id"] == 10)["widgets_values"] == [2, "lanczos"]
    # Queueing it: the server names the unknown node.
    page.click("#queue-button")
    page.wait_for_function("() => (window.studio.graph.getNode(10).errors || []).length > 0")


def test_templates_menu_and_autosave_across_reload(page):
    page.click("#templates-button")
    page.wait_for_selector(".menu-item[data-label='img2img']")
    labels = page.eval_on_selector_all(".menu-item", "els => els.map(e => e.dataset.label)")
    assert "txt2img" in labels and "img2img" in labels
    page.click(".menu-item[data-label='img2img']")
    page.wait_for_function("() => window.studio.nodesOfType('LoadImage').length === 1")
    (sampler,) = node_ids(page, "KSampler")
    set_widget(page, sampler, "steps", "7")
    page.mouse.dblclick(*point(page, "title", sampler))
    page.keyboard.press("Control+A")
    page.keyboard.type("Kept across reload")
    page.keyboard.press("Enter")
    page.wait_for_timeout(600)  # autosave is debounced
    before = js(page, "() => window.studio.serialize()")
    page.reload()
    page.wait_for_function("() => window.studio && window.studio.ready")
    after = js(page, "() => window.studio.serialize()")
    assert js(page, "id => window.studio.graph.getNode(id).title", sampler) == "Kept across reload"
    assert widget_value(page, sampler, "steps") == 7
    assert [n["type"] for n in after["nodes"]] == [n["type"] for n in before["nodes"]]
    assert after["links"] == before["links"]


def test_comfyui_primitive_node_feeds_its_value(page):
    drop_json(page, with_primitive_seed(txt2img_ui(), 42), "primitive.json")
    wait_loaded(page, 8)
    assert js(page, "() => window.studio.unknownTypes") == []
    api = js(page, "() => window.studio.toApi()")
    assert "10" not in api and api["3"]["inputs"]["seed"] == 42
    # Its value is a widget like any other: the right arrow adds one.
    page.mouse.click(*point(page, "widget", 10, "value", "right"))
    assert js(page, "() => window.studio.toApi()")["3"]["inputs"]["seed"] == 43
    saved = js(page, "() => window.studio.serialize()")
    assert next(n for n in saved["nodes"] if n["id"] == 10)["widgets_values"] == [43, "fixed"]
    assert [11, 10, 0, 3, 4, "INT"] in saved["links"]


def test_widget_converted_to_input_and_fed_by_a_new_primitive(page):
    (sampler,) = node_ids(page, "KSampler")
    seed = widget_value(page, sampler, "seed")
    page.mouse.click(*point(page, "title", sampler), button="right")
    page.click(".menu-item[data-label='Widget inputs']")
    page.click(".menu-item[data-label='Convert to input: seed']")
    inputs = js(page, "id => window.studio.graph.getNode(id).inputs.map(i => i.name)", sampler)
    assert inputs[-1] == "seed"
    primitive = add_node_by_search(page, 640, 740, "primitive", "PrimitiveNode")
    drag(page, slot(page, primitive, False, 0), slot(page, sampler, True, len(inputs) - 1))
    assert js(page, "id => window.studio.graph.getNode(id).widgets.map(w => [w.name, w.value])", primitive)[0] == ["value", seed]
    page.mouse.click(*point(page, "widget", primitive, "value", "right"))
    api = js(page, "() => window.studio.toApi()")
    assert api[str(sampler)]["inputs"]["seed"] == seed + 1 and str(primitive) not in api
    shot(page, "17_primitive_feeds_seed")
