"""Growing input lists (Batch Images' images.image0, image1, ...): the node shows its
required sockets and one spare, wiring the spare shows the next, unwiring drops the empty
tail, saved workflows bring their sockets back, and the batch runs through the server."""
from __future__ import annotations

from tests.browser.helpers import drop_json, history_entry, js, links, wait_loaded, wire


def _node(id_, type_, pos, inputs, outputs, widgets):
    return {"id": id_, "type": type_, "pos": pos, "size": [240, 40],  # under their content: fitted "flags": {}, "order": 0, "mode": 0,
            "inputs": [{"name": n, "type": t, "link": link} for n, t, link in inputs],
            "outputs": [{"name": n, "type": t, "links": ls, "slot_index": i} for i, (n, t, ls) in enumerate(outputs)],
            "properties": {}, "widgets_values": widgets}


def batch_workflow(wired: int) -> dict:
    """Four EmptyImage nodes, the first `wired` of them feeding Batch Images, then a preview."""
    colours = [0xFF0000, 0x00FF00, 0x0000FF, 0xFFFFFF]
    nodes, link_rows, batch_inputs = [], [], []
    for k in range(4):
        out_links = [k + 1] if k < wired else []
        nodes.append(_node(k + 1, "EmptyImage", [40, 40 + 150 * k], [], [("IMAGE", "IMAGE", out_links)],
                           [32, 32, 1, colours[k]]))
        if k < wired:
            link_rows.append([k + 1, k + 1, 0, 5, k, "IMAGE"])
            batch_inputs.append((f"images.image{k}", "IMAGE", k + 1))
    nodes.append(_node(5, "BatchImagesNode", [420, 120], batch_inputs, [("IMAGE", "IMAGE", [10])], []))
    nodes.append(_node(6, "PreviewImage", [760, 120], [("images", "IMAGE", 10)], [], []))
    link_rows.append([10, 5, 0, 6, 0, "IMAGE"])
    return {"last_node_id": 6, "last_link_id": 10, "nodes": nodes, "links": link_rows, "groups": [], "config": {},
            "extra": {}, "version": 0.4}


def inputs_of(page, node_id) -> list[list]:
    return js(page, "id => window.studio.graph.getNode(id).inputs.map(i => [i.name, i.link != null])", node_id)


def height_of(page, node_id) -> float:
    return js(page, "id => window.studio.graph.getNode(id).size[1]", node_id)


def test_batch_images_grows_one_socket_at_a_time_and_runs(page, server_url):
    drop_json(page, batch_workflow(2), "batch_two.json")
    wait_loaded(page, 6)
    assert inputs_of(page, 5) == [["images.image0", True], ["images.image1", True], ["images.image2", False]]
    short = height_of(page, 5)

    wire(page, 3, 0, 5, 2)  # onto the spare: the next one appears
    assert inputs_of(page, 5) == [["images.image0", True], ["images.image1", True], ["images.image2", True],
                                  ["images.image3", False]]
    assert height_of(page, 5) > short
    api = js(page, "() => window.studio.toApi()")
    assert api["5"]["inputs"] == {f"images.image{k}": [str(k + 1), 0] for k in range(3)}

    page.click("#queue-button")
    page.wait_for_function("() => window.studio.lastPromptId")
    prompt_id = js(page, "() => window.studio.lastPromptId")
    entry = history_entry(page, server_url, prompt_id)
    assert entry["status"]["status_str"] == "success", entry["status"]
    assert len(entry["outputs"]["6"]["images"]) == 3  # one image from each wired input

    into_third = next(link for link in links(page) if link[3] == 5 and link[4] == 2)
    page.mouse.click(*js(page, "id => window.studio.linkMid(id)", into_third[0]))
    page.click(".menu-item[data-label='Delete wire']")
    assert inputs_of(page, 5) == [["images.image0", True], ["images.image1", True], ["images.image2", False]]
    assert height_of(page, 5) == short
    page.keyboard.press("Control+z")  # undo brings the wire and its spare back
    assert inputs_of(page, 5)[2:] == [["images.image2", True], ["images.image3", False]]


def test_a_saved_list_comes_back_with_its_wires_and_a_spare(page, server_url):
    drop_json(page, batch_workflow(4), "batch_four.json")
    wait_loaded(page, 6)
    assert inputs_of(page, 5) == [[f"images.image{k}", True] for k in range(4)] + [["images.image4", False]]
    assert sorted(link[4] for link in links(page) if link[3] == 5) == [0, 1, 2, 3]
    assert len(js(page, "() => window.studio.toApi()")["5"]["inputs"]) == 4
