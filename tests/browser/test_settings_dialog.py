"""The settings dialog: each setting changed there takes effect at once, the list can be
searched, and the choices (kept by the server under ComfyUI's ids where they mean the
same) survive a reload and reach a second browser."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.browser.conftest import VIEWPORT, editor_page, forget_editor_settings
from tests.browser.helpers import drag, drop_json, js, node_ids, point, shot, slot, widget_value
from tests.browser.test_language_theme import ZH

EMPTY = (600, 700)
LATENT = (255, 0x9C, 0xF9)  # the LATENT wire's colour

# Two nodes far apart, one LATENT wire between them, nothing else near it.
TWO_NODES = {
    "last_node_id": 2, "last_link_id": 1, "version": 0.4, "groups": [], "config": {}, "extra": {},
    "nodes": [
        {"id": 1, "type": "EmptyLatentImage", "pos": [0, 0], "size": [200, 110], "flags": {}, "order": 0, "mode": 0,
         "inputs": [], "outputs": [{"name": "LATENT", "type": "LATENT", "links": [1], "slot_index": 0}],
         "properties": {}, "widgets_values": [64, 64, 1]},
        {"id": 2, "type": "VAEDecode", "pos": [700, 420], "size": [200, 50], "flags": {}, "order": 1, "mode": 0,
         "inputs": [{"name": "samples", "type": "LATENT", "link": 1}, {"name": "vae", "type": "VAE", "link": None}],
         "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [], "slot_index": 0}], "properties": {}, "widgets_values": []},
    ],
    "links": [[1, 1, 0, 2, 0, "LATENT"]],
}


def settings_file(base: Path) -> Path:
    return base / "user" / "default" / "comfy.settings.json"


def stored(base: Path) -> dict:
    try:
        return json.loads(settings_file(base).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}


def wait_stored(page, base: Path, expected: dict) -> None:
    for _ in range(50):
        now = stored(base)
        if all(now.get(k) == v for k, v in expected.items()):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"not stored: {expected} in {stored(base)}")


def open_dialog(page) -> None:
    if page.locator(".settings-dialog").count() == 0:
        page.click("#settings-button")
    page.wait_for_selector(".settings-dialog")


def close_dialog(page) -> None:
    page.keyboard.press("Escape")
    page.wait_for_selector(".settings-dialog", state="detached")


def row(page, setting_id: str):
    return page.locator(f".setting-row[data-setting-id='{setting_id}'] .setting-control")


def choose(page, setting_id: str, label: str) -> None:
    """Pick an option of a setting by its visible label, in the dialog, then close it."""
    open_dialog(page)
    row(page, setting_id).select_option(label=label)
    close_dialog(page)


def tick(page, setting_id: str, on: bool) -> None:
    open_dialog(page)
    row(page, setting_id).set_checked(on)
    close_dialog(page)


def type_number(page, setting_id: str, value: int) -> None:
    open_dialog(page)
    row(page, setting_id).fill(str(value))
    row(page, setting_id).press("Tab")
    close_dialog(page)


def focus_canvas(page) -> None:
    """The canvas has the keyboard and nothing is selected (the click may land on a node
    that an earlier test moved there: Escape deselects it)."""
    page.keyboard.press("Escape")
    page.mouse.click(*EMPTY)
    page.keyboard.press("Escape")
    page.wait_for_function("() => window.studio.selected.length === 0")


@pytest.fixture(scope="module")
def shared(browser, server_url, studio_base):
    """One editor for the settings' effects (each test puts back what it changed)."""
    with editor_page(browser, server_url, studio_base) as page:
        yield page
    forget_editor_settings(studio_base)


def pixels(page, x0, y0, w, h) -> list[int]:
    """The canvas's RGB values in a page-coordinate rectangle."""
    return js(page, """([x0, y0, w, h]) => {
        const c = document.getElementById('graph-canvas'), r = c.getBoundingClientRect(), k = c.width / r.width;
        const d = c.getContext('2d').getImageData(Math.round((x0 - r.left) * k), Math.round((y0 - r.top) * k), Math.round(w * k), Math.round(h * k)).data;
        return [...d].filter((_, i) => i % 4 !== 3);
    }""", [x0, y0, w, h])


def wire_at(page, x, y) -> bool:
    """Whether the LATENT wire's colour is drawn within 3 px of page (x, y)."""
    data = pixels(page, x - 3, y - 3, 7, 7)
    return any(all(abs(data[i + c] - LATENT[c]) < 40 for c in range(3)) for i in range(0, len(data), 3))


def test_link_render_modes_draw_the_wire_as_chosen(shared):
    page = shared
    drop_json(page, TWO_NODES, "two_nodes.json")
    page.wait_for_timeout(100)
    p, q = slot(page, 1, False, 0), slot(page, 2, True, 0)
    mid = ((p[0] + q[0]) / 2, (p[1] + q[1]) / 2)
    elbow = (mid[0], p[1] + (q[1] - p[1]) / 4)  # on the right-angled wire's upright only
    along = (p[0] + (q[0] - p[0]) / 4 + 4, p[1] + (q[1] - p[1]) / 4)  # near the straight line from end to end
    page.wait_for_timeout(100)
    assert wire_at(page, *mid) and not wire_at(page, *elbow)  # a spline by default
    choose(page, "Comfy.LinkRenderMode", "Straight")
    page.wait_for_timeout(100)
    assert wire_at(page, *mid) and wire_at(page, *elbow)
    shot(page, "61_straight_links")
    choose(page, "Comfy.LinkRenderMode", "Linear")
    page.wait_for_timeout(100)
    assert wire_at(page, *mid) and not wire_at(page, *elbow) and wire_at(page, *along)
    choose(page, "Comfy.LinkRenderMode", "Hidden")
    page.wait_for_timeout(100)
    assert not wire_at(page, *mid) and not wire_at(page, *along)
    page.mouse.click(*mid)  # no wire menu on a hidden wire
    assert page.locator(".menu").count() == 0
    choose(page, "Comfy.LinkRenderMode", "Spline")
    page.wait_for_timeout(100)
    assert wire_at(page, *mid) and not wire_at(page, *elbow)


def test_snap_to_grid_moves_and_resizes_on_the_grid(shared):
    page = shared
    tick(page, "pysssss.SnapToGrid", True)
    type_number(page, "Comfy.SnapToGrid.GridSize", 50)
    node = js(page, "() => window.studio.graph.nodes[0].id")
    title = point(page, "title", node)
    drag(page, title, (title[0] + 37, title[1] + 61))
    pos = js(page, "id => [...window.studio.graph.getNode(id).pos]", node)
    assert pos[0] % 50 == 0 and pos[1] % 50 == 0
    corner = point(page, "corner", node)
    drag(page, corner, (corner[0] + 33, corner[1] + 71))
    size = js(page, "id => [...window.studio.graph.getNode(id).size]", node)
    assert size[0] % 50 == 0 and size[1] % 50 == 0
    tick(page, "pysssss.SnapToGrid", False)
    title = point(page, "title", node)
    drag(page, title, (title[0] + 7, title[1] + 3))
    moved = js(page, "id => [...window.studio.graph.getNode(id).pos]", node)
    assert moved != pos and (moved[0] % 50, moved[1] % 50) != (0, 0)
    type_number(page, "Comfy.SnapToGrid.GridSize", 10)


def drop_wire_on_empty(page, node_id) -> None:
    drag(page, slot(page, node_id, False, 0), EMPTY)


def test_link_release_action(shared):
    page = shared
    latent = node_ids(page, "EmptyLatentImage")[0]
    drop_wire_on_empty(page, latent)  # the default: the search box
    page.wait_for_selector(".search-dialog")
    page.keyboard.press("Escape")
    choose(page, "Comfy.LinkRelease.Action", "Context menu")
    drop_wire_on_empty(page, latent)
    menu = page.wait_for_selector(".menu")
    assert menu.query_selector(".menu-item").inner_text() == "Search"
    assert page.locator(".search-dialog").count() == 0
    before = set(node_ids(page, "KSampler"))
    page.locator(".menu-filter").fill("KSampler ·")
    page.locator(".menu-item:not([hidden])", has_text="KSampler").first.click()
    (new,) = set(node_ids(page, "KSampler")) - before
    assert any(l[1] == latent and l[3] == new for l in js(page, "() => window.studio.serialize().links"))
    page.keyboard.press("Control+z")
    choose(page, "Comfy.LinkRelease.Action", "Nothing")
    drop_wire_on_empty(page, latent)
    page.wait_for_timeout(200)
    assert page.locator(".menu").count() == 0 and page.locator(".search-dialog").count() == 0
    choose(page, "Comfy.LinkRelease.Action", "Search box")


def test_node_id_badges(shared):
    page = shared
    node = node_ids(page, "VAEDecode")[0]
    x, y = point(page, "title", node)
    right = js(page, "id => window.studio.toPage(window.studio.graph.getNode(id).pos[0] + window.studio.graph.getNode(id).size[0], 0)[0]", node)
    region = (right - 60, y - 8, 52, 16)
    plain = pixels(page, *region)
    choose(page, "Comfy.NodeBadge.NodeIdBadgeMode", "Show all")
    page.wait_for_timeout(100)
    assert pixels(page, *region) != plain  # "#2" drawn on the title bar
    shot(page, "62_node_id_badges")
    choose(page, "Comfy.NodeBadge.NodeIdBadgeMode", "None")
    page.wait_for_timeout(100)
    assert pixels(page, *region) == plain


def test_widget_control_mode_changes_seeds_before_or_after_queueing(shared, studio_base):
    page = shared
    page.click("#default-button")
    page.wait_for_function("() => window.studio.nodesOfType('KSampler').length === 1 && window.studio.graph.nodes.length === 7")
    sampler = node_ids(page, "KSampler")[0]
    page.mouse.click(*point(page, "widget", sampler, "control_after_generate"))
    page.locator(".menu-item", has_text="increment").click()
    assert widget_value(page, sampler, "control_after_generate") == "increment"

    def queued_seed():
        focus_canvas(page)
        with page.expect_request(lambda r: r.url.endswith("/prompt") and r.method == "POST") as request:
            page.keyboard.press("Control+Enter")
        page.wait_for_selector(".toast.info >> text=Queued 1 prompt")
        return request.value.post_data_json["prompt"][str(sampler)]["inputs"]["seed"]

    seed = widget_value(page, sampler, "seed")
    assert queued_seed() == seed and widget_value(page, sampler, "seed") == seed + 1  # after: the default
    choose(page, "Comfy.WidgetControlMode", "Before queueing")
    assert queued_seed() == seed + 2 and widget_value(page, sampler, "seed") == seed + 2  # before: the run used what is shown
    choose(page, "Comfy.WidgetControlMode", "After queueing")
    js(page, "() => fetch('/queue', {method: 'POST', body: JSON.stringify({clear: true})}).then(() => fetch('/interrupt', {method: 'POST'}))")


def test_confirm_before_clearing(shared):
    page = shared
    count = js(page, "() => window.studio.graph.nodes.length")
    focus_canvas(page)
    page.keyboard.press("Backspace")
    page.click(".confirm-dialog .dialog-no")  # asked, and kept
    assert js(page, "() => window.studio.graph.nodes.length") == count
    tick(page, "Comfy.ConfirmClear", False)
    focus_canvas(page)
    page.keyboard.press("Backspace")
    page.wait_for_function("() => window.studio.graph.nodes.length === 0")  # cleared without asking
    assert page.locator(".confirm-dialog").count() == 0
    page.keyboard.press("Control+z")
    tick(page, "Comfy.ConfirmClear", True)


def test_autosave_off_keeps_the_open_tabs_out_of_the_browser(shared):
    page = shared
    stored_tabs = "() => Object.keys(localStorage).filter(k => k.startsWith('studio.workspace.')).map(k => localStorage.getItem(k)).join('')"
    tick(page, "Studio.Autosave", False)
    js(page, "() => Object.keys(localStorage).filter(k => k.startsWith('studio.workspace.')).forEach(k => localStorage.removeItem(k))")
    focus_canvas(page)
    page.keyboard.press("Control+a")
    page.keyboard.press("Control+m")  # an edit
    page.wait_for_timeout(600)  # longer than the autosave pause
    assert js(page, stored_tabs) == ""
    tick(page, "Studio.Autosave", True)
    page.keyboard.press("Control+a")
    page.keyboard.press("Control+m")
    page.wait_for_function(stored_tabs.replace("join('')", "join('').length > 0"))
    focus_canvas(page)


def test_minimap_theme_and_language_follow_the_dialog_and_the_toolbar(shared):
    page = shared
    tick(page, "Studio.Minimap", False)
    assert js(page, "() => document.getElementById('minimap').hidden") is True
    page.click("#minimap-button")  # the toolbar's button and the dialog show the same setting
    open_dialog(page)
    assert row(page, "Studio.Minimap").is_checked()
    close_dialog(page)
    choose(page, "Studio.Theme", "Light")
    assert js(page, "() => window.studio.theme.choice") == "light" and page.input_value("#theme-select") == "light"
    choose(page, "Studio.Theme", "Dark")
    assert js(page, "() => document.documentElement.dataset.theme") == "dark"
    page.select_option("#theme-select", "system")
    open_dialog(page)
    assert row(page, "Studio.Theme").evaluate("s => s.options[s.selectedIndex].text") == "System theme"
    close_dialog(page)
    choose(page, "Studio.Language", "中文")
    page.wait_for_function("() => window.studio.language === 'zh'")
    assert page.inner_text("#queue-button") == ZH["ui"]["Queue"] and page.input_value("#language-select") == "zh"
    # Every label of the dialog is translated.
    open_dialog(page)
    names = page.locator(".setting-name, .keybinding-name, .settings-group h3").all_inner_texts()
    english = js(page, "() => [...document.querySelectorAll('.setting-name, .settings-group h3')].map(e => e.dataset.i18n)")
    assert all(name in ZH["ui"].values() for name in names), [n for n in names if n not in ZH["ui"].values()]
    assert all(ZH["ui"].get(e) for e in english)
    shot(page, "63_settings_dialog_chinese")
    row(page, "Studio.Language").select_option(label="English")
    page.wait_for_function("() => window.studio.language === 'en'")
    close_dialog(page)


def test_tooltips_can_be_turned_off(shared):
    page = shared
    sampler = node_ids(page, "KSampler")[0]
    focus_canvas(page)
    page.mouse.move(*point(page, "widget", sampler, "seed"))
    page.wait_for_selector(".tooltip", state="visible")
    tick(page, "Comfy.EnableTooltips", False)
    page.mouse.move(*EMPTY)
    page.mouse.move(*point(page, "widget", sampler, "steps"))
    page.wait_for_timeout(900)
    assert not page.locator(".tooltip").is_visible()
    tick(page, "Comfy.EnableTooltips", True)


def test_the_list_can_be_searched(shared):
    page = shared
    open_dialog(page)
    page.fill(".settings-search", "grid")
    shown = page.locator(".setting-row:visible").evaluate_all("rows => rows.map(r => r.dataset.settingId)")
    assert shown == ["pysssss.SnapToGrid", "Comfy.SnapToGrid.GridSize"]
    assert page.locator(".keybinding-row:visible").count() == 0
    page.fill(".settings-search", "ctrl+enter")  # commands by their keys too
    assert page.locator(".keybinding-row:visible").evaluate_all("rows => rows.map(r => r.dataset.command)") == ["Comfy.QueuePrompt"]
    close_dialog(page)


CHOICES = {  # setting id -> (how it is changed in the dialog, the stored value)
    "Comfy.LinkRenderMode": (("choose", "Straight"), 0),
    "pysssss.SnapToGrid": (("tick", True), True),
    "Comfy.SnapToGrid.GridSize": (("number", 25), 25),
    "Comfy.LinkRelease.Action": (("choose", "Nothing"), "no action"),
    "Comfy.WidgetControlMode": (("choose", "Before queueing"), "before"),
    "Comfy.NodeBadge.NodeIdBadgeMode": (("choose", "Show all"), "Show all"),
    "Comfy.ConfirmClear": (("tick", False), False),
    "Studio.Autosave": (("tick", False), False),
    "Studio.Minimap": (("tick", False), False),
    "Comfy.EnableTooltips": (("tick", False), False),
    "Studio.Theme": (("choose", "Light"), "light"),
    "Studio.Language": (("choose", "English + 中文"), "en+zh"),
}


def shown_value(page, setting_id):
    control = row(page, setting_id)
    if control.get_attribute("type") == "checkbox":
        return control.is_checked()
    if control.get_attribute("type") == "number":
        return int(control.input_value())
    return control.evaluate("s => s.options[s.selectedIndex].text")


def test_settings_survive_a_reload_and_reach_a_second_browser(page, browser, server_url, studio_base):
    for setting_id, ((how, value), _) in CHOICES.items():
        {"choose": choose, "tick": tick, "number": type_number}[how](page, setting_id, value)
    wait_stored(page, studio_base, {k: v for k, (_, v) in CHOICES.items()})
    # Shown in English and Chinese side by side now.
    both = lambda v: f"{v} / {ZH['ui'][v]}" if isinstance(v, str) and v in ZH["ui"] else v  # noqa: E731
    expected = {k: both(how[1]) for k, (how, _) in CHOICES.items()}

    def check(p):
        open_dialog(p)
        assert {k: shown_value(p, k) for k in CHOICES} == expected
        close_dialog(p)
        assert js(p, "() => window.studio.language") == "en+zh" and js(p, "() => window.studio.theme.choice") == "light"
        assert js(p, "() => document.getElementById('minimap').hidden") is True
        focus_canvas(p)
        p.keyboard.press("Backspace")  # Comfy.ConfirmClear off: cleared without asking
        p.wait_for_function("() => window.studio.graph.nodes.length === 0")
        assert p.locator(".confirm-dialog").count() == 0
        p.keyboard.press("Control+z")

    page.reload()
    page.wait_for_function("() => window.studio && window.studio.ready")
    check(page)
    other = browser.new_context(viewport=VIEWPORT)
    try:
        second = other.new_page()
        second.goto(server_url + "/")
        second.wait_for_function("() => window.studio && window.studio.ready", timeout=30_000)
        check(second)
    finally:
        other.close()
