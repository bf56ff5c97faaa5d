"""Editing by mouse and keyboard: typed wires (refused when wrong), undo/redo, copy/paste
(also across tabs), mute/bypass, wires dropped on empty space, groups, reroutes, collapse,
resize, rename, pan/zoom, box selection."""
from __future__ import annotations

from tests.browser.helpers import drag, js, links, node_ids, point, shot, slot, widget_value, wire


def ids(page):
    return {t: node_ids(page, t)[0] for t in ("CheckpointLoaderSimple", "KSampler", "VAEDecode", "SaveImage", "EmptyLatentImage")}


def test_wrong_type_is_refused_and_right_type_connects(page):
    n = ids(page)
    sampler, ckpt = n["KSampler"], n["CheckpointLoaderSimple"]
    # Pick the MODEL wire up from KSampler's model input and drop it on empty space: it is gone.
    drag(page, slot(page, sampler, True, 0), (700, 700))
    page.keyboard.press("Escape")  # close the node search offered for the loose wire
    assert not any(l[3] == sampler and l[4] == 0 for l in links(page))
    before = links(page)
    # MODEL -> the CONDITIONING input "positive": refused, nothing changes.
    wire(page, ckpt, 0, sampler, 1)
    assert links(page) == before
    # VAE -> LATENT input of VAE Decode: refused as well.
    wire(page, ckpt, 2, n["VAEDecode"], 0)
    assert links(page) == before
    shot(page, "04_refused_connection")
    # MODEL -> model: made.
    wire(page, ckpt, 0, sampler, 0)
    assert any(l[1] == ckpt and l[2] == 0 and l[3] == sampler and l[4] == 0 and l[5] == "MODEL" for l in links(page))


def test_undo_redo_move_delete_and_widget_edit(page):
    n = ids(page)
    decode = n["VAEDecode"]
    start = js(page, "id => [...window.studio.graph.getNode(id).pos]", decode)
    title = point(page, "title", decode)
    drag(page, title, (title[0] + 60, title[1] + 150))
    moved = js(page, "id => [...window.studio.graph.getNode(id).pos]", decode)
    scale = js(page, "() => window.studio.view.scale")
    assert moved == [start[0] + round(60 / scale), start[1] + round(150 / scale)]
    # delete it with the Delete key (it is selected after the drag)
    page.keyboard.press("Delete")
    assert node_ids(page, "VAEDecode") == []
    assert len(links(page)) == 6
    page.keyboard.press("Control+z")
    assert node_ids(page, "VAEDecode") == [decode] and len(links(page)) == 9
    page.keyboard.press("Control+z")
    assert js(page, "id => [...window.studio.graph.getNode(id).pos]", decode) == start
    page.keyboard.press("Control+Shift+z")
    assert js(page, "id => [...window.studio.graph.getNode(id).pos]", decode) == moved
    page.keyboard.press("Control+y")
    assert node_ids(page, "VAEDecode") == []
    page.keyboard.press("Control+z")
    # widget edits are undoable too: the right arrow of "steps" adds one
    sampler = n["KSampler"]
    steps = widget_value(page, sampler, "steps")
    page.mouse.click(*point(page, "widget", sampler, "steps", "right"))
    assert widget_value(page, sampler, "steps") == steps + 1
    page.keyboard.press("Control+z")
    assert widget_value(page, sampler, "steps") == steps


def test_copy_paste_within_and_across_tabs(page):
    n = ids(page)
    latent, sampler = n["EmptyLatentImage"], n["KSampler"]
    page.mouse.click(*point(page, "title", latent))
    page.keyboard.press("Control+c")
    page.mouse.move(300, 650)
    page.keyboard.press("Control+v")
    latents = node_ids(page, "EmptyLatentImage")
    assert len(latents) == 2
    new = max(latents)
    assert widget_value(page, new, "width") == widget_value(page, latent, "width")
    # Box-select KSampler and VAE Decode (Ctrl+drag on empty space), copy, paste: the link between them comes too.
    a = js(page, "id => window.studio.toPage(window.studio.graph.getNode(id).pos[0] - 20, window.studio.graph.getNode(id).pos[1] - 40)", sampler)
    decode = n["VAEDecode"]
    b = js(page, "id => { const n = window.studio.graph.getNode(id); return window.studio.toPage(n.pos[0] + n.size[0] + 10, n.pos[1] + n.size[1] + 10) }", decode)
    b = (b[0], max(b[1], js(page, "id => { const n = window.studio.graph.getNode(id); return window.studio.toPage(0, n.pos[1] + n.size[1] + 10)[1] }", sampler)))
    drag(page, a, b, modifiers=("Control",))
    assert sorted(js(page, "() => window.studio.selected")) == sorted([sampler, decode])
    # Dragging one of the selected nodes moves both.
    p_s, p_d = (js(page, "id => [...window.studio.graph.getNode(id).pos]", i) for i in (sampler, decode))
    title = point(page, "title", sampler)
    drag(page, title, (title[0] + 20, title[1] + 30))
    assert js(page, "id => [...window.studio.graph.getNode(id).pos]", decode)[0] - p_d[0] == js(page, "id => [...window.studio.graph.getNode(id).pos]", sampler)[0] - p_s[0] != 0
    page.keyboard.press("Control+c")
    count = len(links(page))
    page.mouse.move(200, 600)
    page.keyboard.press("Control+v")
    assert len(node_ids(page, "KSampler")) == 2 and len(node_ids(page, "VAEDecode")) == 2
    assert len(links(page)) == count + 1  # only the link inside the copied pair
    shot(page, "05_pasted")
    # Another tab of the same browser profile pastes what this one copied.
    other = page.context.new_page()
    other.goto(page.url)
    other.wait_for_function("() => window.studio && window.studio.ready")
    other.click("#new-button")
    other.mouse.move(400, 300)
    other.keyboard.press("Control+v")
    assert sorted(js(other, "() => window.studio.serialize().nodes.map(n => n.type)")) == ["KSampler", "VAEDecode"]
    assert len(js(other, "() => window.studio.serialize().links")) == 1
    other.close()


def test_mute_and_bypass_change_the_api_prompt(page):
    n = ids(page)
    save, decode = n["SaveImage"], n["VAEDecode"]
    # Add an Invert Image between VAE Decode and Save Image, by dropping a wire on empty space.
    drag(page, slot(page, decode, False, 0), (900, 500))
    page.wait_for_selector(".search-dialog")
    offered = page.eval_on_selector_all(".search-item", "els => els.map(e => e.dataset.type)")
    assert offered and "KSampler" not in offered  # only nodes that take an IMAGE
    page.keyboard.type("invert")
    page.wait_for_function("() => [...document.querySelectorAll('.search-item')]"
                           ".some(e => e.dataset.type === 'ImageInvert')")
    page.keyboard.press("Enter")
    (invert,) = node_ids(page, "ImageInvert")
    wire(page, invert, 0, save, 0)
    api = js(page, "() => window.studio.toApi()")
    assert api[str(save)]["inputs"]["images"] == [str(invert), 0]
    page.mouse.click(*point(page, "title", invert))
    page.keyboard.press("Control+b")
    assert js(page, "id => window.studio.graph.getNode(id).mode", invert) == 4
    api = js(page, "() => window.studio.toApi()")
    assert str(invert) not in api and api[str(save)]["inputs"]["images"] == [str(decode), 0]
    shot(page, "06_bypassed")
    page.keyboard.press("Control+m")
    assert js(page, "id => window.studio.graph.getNode(id).mode", invert) == 2
    api = js(page, "() => window.studio.toApi()")
    assert str(invert) not in api and "images" not in api[str(save)]["inputs"]
    page.keyboard.press("Control+m")
    assert js(page, "id => window.studio.graph.getNode(id).mode", invert) == 0


def test_reroute_group_collapse_resize_rename_pan_zoom(page):
    n = ids(page)
    decode, save = n["VAEDecode"], n["SaveImage"]
    # Reroute from the right-click menu, wired in between decode and save.
    page.mouse.click(900, 600, button="right")
    page.click(".menu-item[data-label='Add Reroute']")
    (reroute,) = node_ids(page, "Reroute")
    wire(page, decode, 0, reroute, 0)
    wire(page, reroute, 0, save, 0)
    api = js(page, "() => window.studio.toApi()")
    assert api[str(save)]["inputs"]["images"] == [str(decode), 0] and str(reroute) not in api
    # Collapse by the title dot; expand again.
    sampler = n["KSampler"]
    x, y = js(page, "id => { const n = window.studio.graph.getNode(id); return window.studio.toPage(n.pos[0] + 12, n.pos[1] - 13) }", sampler)
    page.mouse.click(x, y)
    assert js(page, "id => !!window.studio.graph.getNode(id).flags.collapsed", sampler)
    page.mouse.click(x, y)
    assert not js(page, "id => !!window.studio.graph.getNode(id).flags.collapsed", sampler)
    # Resize from the bottom-right corner.
    w0 = js(page, "id => window.studio.graph.getNode(id).size[0]", save)
    corner = point(page, "corner", save)
    drag(page, corner, (corner[0] + 60, corner[1] + 40))
    assert js(page, "id => window.studio.graph.getNode(id).size[0]", save) > w0 + 30
    # Rename by double-clicking the title.
    page.mouse.dblclick(*point(page, "title", decode))
    page.wait_for_selector(".overlay-editor")
    page.keyboard.press("Control+A")
    page.keyboard.type("Decoder")
    page.keyboard.press("Enter")
    assert js(page, "id => window.studio.graph.getNode(id).title", decode) == "Decoder"
    # Group around the selection (Ctrl+G), then drag the group by its title: its nodes move with it.
    page.mouse.click(*point(page, "title", decode))
    page.keyboard.press("Control+g")
    group = js(page, "() => window.studio.graph.groups[0].bounding")
    pos = js(page, "id => [...window.studio.graph.getNode(id).pos]", decode)
    gx, gy = js(page, "([x, y]) => window.studio.toPage(x + 40, y + 10)", group[:2])
    drag(page, (gx, gy), (gx + 30, gy + 50))
    scale = js(page, "() => window.studio.view.scale")
    moved = js(page, "id => [...window.studio.graph.getNode(id).pos]", decode)
    assert all(abs(m - (p + d / scale)) <= 1 for m, p, d in zip(moved, pos, (30, 50)))
    # Pan by dragging empty space, zoom with the wheel (and a pinch = wheel with Ctrl).
    view = js(page, "() => window.studio.view")
    drag(page, (640, 740), (540, 690))
    v2 = js(page, "() => window.studio.view")
    assert (round(v2["x"] - view["x"]), round(v2["y"] - view["y"])) == (-100, -50)
    page.mouse.move(640, 400)
    page.mouse.wheel(0, -200)
    page.wait_for_function("s => window.studio.view.scale > s", arg=v2["scale"])
    v3 = js(page, "() => window.studio.view")
    page.keyboard.down("Control")
    page.mouse.wheel(0, 30)
    page.keyboard.up("Control")
    page.wait_for_function("s => window.studio.view.scale < s", arg=v3["scale"])
    # Space + drag pans even over a node.
    v4 = js(page, "() => window.studio.view")
    title = point(page, "title", n["KSampler"])
    page.keyboard.down(" ")
    drag(page, title, (title[0] + 40, title[1]))
    page.keyboard.up(" ")
    assert round(js(page, "() => window.studio.view")["x"] - v4["x"]) == 40
    shot(page, "07_group_reroute_zoom")


def test_search_by_category_middle_button_pan_minimap_and_notes(page):
    # The search matches categories too: "latent" offers the latent nodes.
    page.mouse.dblclick(640, 740)
    page.wait_for_selector(".search-dialog")
    page.keyboard.type("latent")
    offered = page.eval_on_selector_all(".search-item", "els => els.map(e => e.dataset.type)")
    assert {"EmptyLatentImage", "LatentUpscale", "VAEDecode"} <= set(offered)  # VAE Decode is in category "latent"
    page.keyboard.press("Escape")
    # A Note (frontend-only, as in ComfyUI) is saved with the graph but never sent to the server.
    page.mouse.dblclick(640, 740)
    page.keyboard.type("note")
    page.click(".search-item[data-type='Note']")
    (note,) = node_ids(page, "Note")
    assert str(note) not in js(page, "() => window.studio.toApi()")
    assert any(n["type"] == "Note" for n in js(page, "() => window.studio.serialize().nodes"))
    # Middle-button drag pans, even when it starts on a node.
    view = js(page, "() => window.studio.view")
    (sampler,) = node_ids(page, "KSampler")
    title = point(page, "title", sampler)
    page.mouse.move(*title)
    page.mouse.down(button="middle")
    page.mouse.move(title[0] - 70, title[1] + 20, steps=4)
    page.mouse.up(button="middle")
    v2 = js(page, "() => window.studio.view")
    assert (round(v2["x"] - view["x"]), round(v2["y"] - view["y"])) == (-70, 20)
    # A click on the minimap centres the view there.
    box = page.locator("#minimap").bounding_box()
    page.mouse.click(box["x"] + 5, box["y"] + 5)
    v3 = js(page, "() => window.studio.view")
    assert (v3["x"], v3["y"]) != (v2["x"], v2["y"])


def test_wire_midpoint_menu_inserts_a_reroute_and_deletes_a_wire(page):
    n = ids(page)
    save, decode = n["SaveImage"], n["VAEDecode"]
    into_save = next(l for l in links(page) if l[3] == save)
    before = js(page, "() => window.studio.toApi()")
    page.mouse.click(*js(page, "id => window.studio.linkMid(id)", into_save[0]))
    page.click(".menu-item[data-label='Insert Reroute']")
    (reroute,) = node_ids(page, "Reroute")
    assert any(l[1] == reroute and l[3] == save for l in links(page))
    assert js(page, "() => window.studio.toApi()") == before  # the reroute is resolved away
    into_decode = next(l for l in links(page) if l[3] == decode and l[4] == 0)
    page.mouse.click(*js(page, "id => window.studio.linkMid(id)", into_decode[0]))
    page.click(".menu-item[data-label='Delete wire']")
    assert not any(l[3] == decode and l[4] == 0 for l in links(page))
    page.keyboard.press("Control+z")
    assert any(l[3] == decode and l[4] == 0 for l in links(page))


def test_hover_shows_the_schema_tooltip(page, server_url):
    import json
    import urllib.request

    with urllib.request.urlopen(f"{server_url}/object_info/KSampler") as response:
        tip = json.load(response)["KSampler"]["input"]["required"]["steps"][1]["tooltip"]
    n = ids(page)
    page.mouse.move(*point(page, "widget", n["KSampler"], "steps"))
    page.wait_for_selector(".tooltip:not([hidden])")
    assert page.inner_text(".tooltip") == tip
    page.mouse.move(5, 700)
    page.wait_for_selector(".tooltip", state="hidden")


def test_undo_after_panning_takes_back_the_edit_and_keeps_the_view(page):
    """The view is not part of the undo history: after a move and a pan, one Ctrl+Z puts
    the node back and leaves the view (and the view autosave keeps) where it is."""
    decode = ids(page)["VAEDecode"]
    start = js(page, "id => [...window.studio.graph.getNode(id).pos]", decode)
    title = point(page, "title", decode)
    drag(page, title, (title[0] + 50, title[1] + 80))
    page.mouse.move(1200, 760)
    page.mouse.down(button="middle")
    page.mouse.move(1100, 700, steps=5)
    page.mouse.up(button="middle")
    view = js(page, "() => window.studio.view")
    page.keyboard.press("Control+z")
    assert js(page, "id => [...window.studio.graph.getNode(id).pos]", decode) == start
    assert js(page, "() => window.studio.view") == view
    extra = js(page, "() => window.studio.serialize().extra")
    assert extra["ds"] == {"offset": [view["x"], view["y"]], "scale": view["scale"]}
    assert not js(page, "() => window.studio.tabs[0].modified")
