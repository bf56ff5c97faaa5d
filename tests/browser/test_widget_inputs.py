"""Widgets as inputs: a Primitive made from a converted input dragged to empty canvas
configures itself and the graph queues; a wire dropped on a widget converts it; a widget
fed by a wire leaves no blank row; nodes are wide enough for their labels and the sampler
gives back the room of its preview once it is done."""
from __future__ import annotations


from tests.browser.helpers import (
    drag,
    drop_json,
    history_entry,
    js,
    node_ids,
    point,
    shot,
    slot,
    wait_loaded,
    widget_value,
)
from tests.browser.workflows import txt2img_ui


def node(page, node_id) -> dict:
    return js(page, """id => { const n = window.studio.graph.getNode(id);
        return { size: [...n.size], inputs: n.inputs.map(i => [i.name, i.link]), widgets: n.widgets.map(w => [w.name, w.value]),
                 title: n.title, out: n.outputs.map(o => o.type) }; }""", node_id)


def convert(page, node_id, name) -> None:
    page.mouse.click(*point(page, "title", node_id), button="right")
    page.click(".menu-item[data-label='Widget inputs']")
    page.click(f".menu-item[data-label='Convert to input: {name}']")


def test_primitive_from_a_dragged_input_configures_itself_and_queues(page, server_url):
    drop_json(page, txt2img_ui(steps=1, size=64), "primitive_drag.json")
    wait_loaded(page, 7)
    (sampler,) = node_ids(page, "KSampler")
    seed = widget_value(page, sampler, "seed")
    steps_y = point(page, "widget", sampler, "steps")[1]
    convert(page, sampler, "seed")
    index = [n for n, _ in node(page, sampler)["inputs"]].index("seed")
    start = slot(page, sampler, True, index)
    drag(page, start, (start[0] - 260, start[1] + 330))  # to empty canvas, below the graph
    page.wait_for_selector(".search-dialog .search-input")
    page.keyboard.type("primitive")
    page.click(".search-item[data-type='PrimitiveNode']")
    (primitive,) = node_ids(page, "PrimitiveNode")
    made = node(page, primitive)
    assert made["widgets"][0] == ["value", seed] and made["out"] == ["INT"] and made["title"] == "seed"
    # The seed row is gone from the sampler (its socket carries the value now): the rows
    # below move up, though the new socket took a row of its own.
    assert point(page, "widget", sampler, "steps")[1] < steps_y
    shot(page, "64_primitive_from_dragged_input")
    api = js(page, "() => window.studio.toApi()")
    assert api[str(sampler)]["inputs"]["seed"] == seed and str(primitive) not in api
    page.click("#queue-button")
    page.wait_for_function("() => window.studio.lastPromptId")
    prompt_id = js(page, "() => window.studio.lastPromptId")
    entry = history_entry(page, server_url, prompt_id)
    assert entry["status"]["status_str"] == "success", entry["status"]


def test_a_wire_dropped_on_a_widget_converts_it_and_nodes_fit_their_labels(page):
    drop_json(page, txt2img_ui(steps=1, size=64), "wire_on_widget.json")
    wait_loaded(page, 7)
    (sampler,) = node_ids(page, "KSampler")
    (latent,) = node_ids(page, "EmptyLatentImage")
    convert(page, latent, "batch_size")
    batch_input = [n for n, _ in node(page, latent)["inputs"]].index("batch_size")
    # A Primitive made from that input, then its wire dropped on the sampler's steps widget.
    start = slot(page, latent, True, batch_input)
    drag(page, start, (start[0] - 120, start[1] + 110))
    page.wait_for_selector(".search-dialog .search-input")
    page.keyboard.type("primitive")
    page.click(".search-item[data-type='PrimitiveNode']")
    (primitive,) = node_ids(page, "PrimitiveNode")
    height = node(page, sampler)["size"][1]
    drag(page, slot(page, primitive, False, 0), point(page, "widget", sampler, "steps"))
    inputs = dict(node(page, sampler)["inputs"])
    assert inputs.get("steps") is not None  # converted and wired
    assert node(page, sampler)["size"][1] < height  # its row is given back
    # An output of the wrong type dropped on a widget is refused and leaves no socket behind.
    (decoder,) = node_ids(page, "VAEDecode")
    drag(page, slot(page, decoder, False, 0), point(page, "widget", sampler, "cfg"))
    assert "cfg" not in dict(node(page, sampler)["inputs"])
    # Nodes are wide enough for their labels: a long model name widens its loader.
    (loader,) = node_ids(page, "CheckpointLoaderSimple")
    width = node(page, loader)["size"][0]
    js(page, """id => { const n = window.studio.graph.getNode(id); n.widgets[0].options.values.push('a-very-long-checkpoint-name-for-testing-v1-5-pruned-emaonly.safetensors'); }""", loader)
    page.mouse.click(*point(page, "widget", loader, "ckpt_name", "right"))
    assert widget_value(page, loader, "ckpt_name").startswith("a-very-long")
    assert node(page, loader)["size"][0] > width
    shot(page, "65_wire_on_widget")


def test_the_sampler_gives_back_its_preview_room(page):
    drop_json(page, txt2img_ui(steps=9, size=72), "preview_room.json")  # a prompt no other test ran (not cached)
    wait_loaded(page, 7)
    (sampler,) = node_ids(page, "KSampler")
    height = node(page, sampler)["size"][1]
    page.click("#queue-button")
    page.wait_for_function("id => window.studio.previewNode === id", arg=sampler, timeout=60_000)
    assert node(page, sampler)["size"][1] > height
    page.wait_for_function("() => window.studio.running === null", timeout=60_000)
    page.wait_for_function("([id, h]) => window.studio.graph.getNode(id).size[1] === h", arg=[sampler, height])
