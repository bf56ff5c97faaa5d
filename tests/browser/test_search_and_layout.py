"""Node search by input and output type, ranked by relevance and by the user's picks;
link-release suggestions by likelihood (the usual next node first, then what the user
chose before); reroutes that take the type they carry; align, distribute and pin."""
from __future__ import annotations

from tests.browser.helpers import drag, drop_json, js, node_ids, point, slot, wait_loaded
from tests.browser.workflows import txt2img_ui


def results(page) -> list[str]:
    return page.eval_on_selector_all(".search-dialog .search-item", "els => els.map(e => e.dataset.type)")


def output_types(page, type_: str) -> list:
    return js(page, "t => window.studio.graph.schema.defs[t].output", type_)


def open_search(page, at=(700, 700)):
    page.mouse.dblclick(*at)
    page.wait_for_selector(".search-dialog .search-input")


def release_from(page, node_id, out_slot: int, dy: int = 140):
    start = slot(page, node_id, False, out_slot)
    drag(page, start, (start[0] + 60, start[1] + dy))
    page.wait_for_selector(".search-dialog .search-item")
    return results(page)


def test_search_filters_by_type_and_learns_the_users_picks(page):
    open_search(page)
    page.select_option(".search-output-type", "LATENT")
    found = results(page)
    assert found and "KSampler" in found and "VAEDecode" not in found
    assert all("LATENT" in output_types(page, t) for t in found)
    page.select_option(".search-output-type", "")
    page.fill(".search-dialog .search-input", "o:IMAGE i:LATENT")
    assert results(page)[0] == "VAEDecode" and "SaveImage" not in results(page)
    # Picks lift a node in the ranking for the same words.
    page.fill(".search-dialog .search-input", "image")
    before = results(page)
    chosen = before[3]
    page.keyboard.press("Escape")
    for _ in range(3):
        open_search(page)
        page.keyboard.type("image")
        page.click(f".search-item[data-type='{chosen}']")
        page.keyboard.press("Delete")  # the new node is selected: out of the way again
    open_search(page)
    page.keyboard.type("image")
    assert results(page).index(chosen) < 3
    page.keyboard.press("Escape")


def test_link_release_suggests_the_likely_next_node_and_reroutes_are_typed(page):
    drop_json(page, txt2img_ui(), "likely.json")
    wait_loaded(page, 7)
    (sampler,) = node_ids(page, "KSampler")
    (decoder,) = node_ids(page, "VAEDecode")
    assert release_from(page, sampler, 0)[:2] == ["VAEDecode", "KSampler"]  # not A-Z
    page.keyboard.press("Escape")
    page.mouse.click(*point(page, "title", node_ids(page, "SaveImage")[0]))
    page.keyboard.press("Delete")  # it overlaps the decoder's output in this file
    assert release_from(page, decoder, 0)[0] == "SaveImage"
    page.click(".search-item[data-type='PreviewImage']")
    # What the user chose for this type comes first next time.
    assert release_from(page, decoder, 0, dy=260)[0] == "PreviewImage"
    page.keyboard.press("Escape")
    # A reroute takes the type of the wire it carries.
    page.mouse.click(800, 720, button="right")
    page.click(".menu-item[data-label='Add Reroute']")
    (reroute,) = node_ids(page, "Reroute")
    drag(page, slot(page, sampler, False, 0), slot(page, reroute, True, 0))
    assert js(page, "id => window.studio.graph.getNode(id).outputs[0].type", reroute) == "LATENT"
    assert release_from(page, reroute, 0, dy=60)[0] == "VAEDecode"
    page.keyboard.press("Escape")
    # ...so a wire from it into a MODEL input is refused.
    links = len(js(page, "() => window.studio.serialize().links"))
    drag(page, slot(page, reroute, False, 0), slot(page, sampler, True, 0))
    assert len(js(page, "() => window.studio.serialize().links")) == links


def test_align_distribute_and_pin(page):
    drop_json(page, txt2img_ui(), "arrange.json")
    wait_loaded(page, 7)
    texts = node_ids(page, "CLIPTextEncode")
    ids = [texts[0], texts[1], node_ids(page, "EmptyLatentImage")[0]]
    page.mouse.click(*point(page, "title", ids[0]))
    for other in ids[1:]:
        page.keyboard.down("Control")
        page.mouse.click(*point(page, "title", other))
        page.keyboard.up("Control")
    assert sorted(js(page, "() => window.studio.selected")) == sorted(ids)
    pos = lambda: {i: js(page, "id => window.studio.graph.getNode(id).pos", i) for i in ids}  # noqa: E731
    page.mouse.click(*point(page, "title", ids[0]), button="right")
    page.click(".menu-item[data-label='Align']")
    page.click(".menu-item[data-label='Left edges']")
    xs = {p[0] for p in pos().values()}
    assert len(xs) == 1
    page.mouse.click(*point(page, "title", ids[0]), button="right")
    page.click(".menu-item[data-label='Distribute']")
    page.click(".menu-item[data-label='Vertically']")
    boxes = sorted(js(page, """ids => ids.map(id => { const n = window.studio.graph.getNode(id); return [n.pos[1] - 26, n.size[1] + 26]; })""", ids))
    gaps = [boxes[i + 1][0] - (boxes[i][0] + boxes[i][1]) for i in range(2)]
    assert abs(gaps[0] - gaps[1]) <= 1
    page.keyboard.press("Control+z")  # one undo step takes the distribution back
    assert len({p[0] for p in pos().values()}) == 1
    # Pinned: a drag on its title leaves it where it is.
    page.mouse.click(*point(page, "title", ids[2]))
    page.mouse.click(*point(page, "title", ids[2]), button="right")
    page.click(".menu-item[data-label='Pin (P)']")
    before = js(page, "id => window.studio.graph.getNode(id).pos", ids[2])
    start = point(page, "title", ids[2])
    drag(page, start, (start[0] + 80, start[1] + 50))
    assert js(page, "id => window.studio.graph.getNode(id).pos", ids[2]) == before
