"""Workflow tabs: several graphs open at once, each with its own undo history and view,
all restored after a reload; two browser tabs never write over each other's tabs; the
workflows panel saves a tab to a file (again, or under a new name), opens files in tabs,
duplicates, renames and deletes them, and the unsaved marker follows every change."""
from __future__ import annotations

import json

from tests.browser.helpers import add_node_by_search, drag, js, node_ids, point, shot
from tests.browser.test_editor_workflow_list import row, wait_listed, workflows


def tabs(page) -> list[dict]:
    return js(page, "() => window.studio.tabs")


def active(page) -> dict:
    (tab,) = [t for t in tabs(page) if t["active"]]
    return tab


def tab_el(page, index: int):
    return page.locator("#tab-bar .tab").nth(index)


def node_types(page) -> list[str]:
    return sorted(js(page, "() => window.studio.graph.nodes.map(n => n.type)"))


def reload(page) -> None:
    page.reload()
    page.wait_for_function("() => window.studio && window.studio.ready", timeout=30_000)


def new_tab_with_a_node(page, query: str, type_: str) -> int:
    page.click("#tab-bar .tab-new")
    page.wait_for_function("() => window.studio.graph.nodes.length === 0")
    return add_node_by_search(page, 500, 400, query, type_)


def test_two_tabs_keep_their_graphs_undo_and_view_across_a_reload(page):
    first = node_types(page)
    assert "KSampler" in first and len(tabs(page)) == 1 and not active(page)["modified"]
    new_tab_with_a_node(page, "empty latent", "EmptyLatentImage")
    add_node_by_search(page, 700, 300, "vae decode", "VAEDecode")
    assert len(tabs(page)) == 2 and active(page)["modified"]
    assert node_types(page) == ["EmptyLatentImage", "VAEDecode"]
    # Undo belongs to the tab: it takes back the second tab's last node only.
    page.mouse.click(900, 600)
    page.keyboard.press("Control+z")
    assert node_types(page) == ["EmptyLatentImage"]
    page.keyboard.press("Control+Shift+z")
    assert node_types(page) == ["EmptyLatentImage", "VAEDecode"]
    # Back to the first tab: its graph as it was, and Ctrl+Z there has nothing of the other's.
    tab_el(page, 0).click()
    assert node_types(page) == first
    depth = js(page, "() => window.studio.undoDepth")
    sampler = node_ids(page, "KSampler")[0]
    start = point(page, "title", sampler)
    drag(page, start, (start[0] + 60, start[1] + 40))
    assert active(page)["modified"] and js(page, "() => window.studio.undoDepth") == depth + 1
    moved = js(page, "id => window.studio.graph.getNode(id).pos", sampler)
    shot(page, "60_tabs_two")
    page.wait_for_timeout(500)  # the tabs are written after a short pause
    reload(page)
    assert [t["active"] for t in tabs(page)] == [True, False]
    assert node_types(page) == first
    assert js(page, "id => window.studio.graph.getNode(id).pos", sampler) == moved
    assert active(page)["modified"]  # still differs from what the tab opened with
    tab_el(page, 1).click()
    assert node_types(page) == ["EmptyLatentImage", "VAEDecode"]
    assert not page.js_errors


def test_two_browser_tabs_never_overwrite_each_other(page):
    """Two pages of one browser share localStorage but not sessionStorage: each reload
    brings back that page's own tabs."""
    new_tab_with_a_node(page, "empty latent", "EmptyLatentImage")
    page.wait_for_timeout(500)
    other = page.context.new_page()
    other.goto(page.url)
    other.wait_for_function("() => window.studio && window.studio.ready", timeout=30_000)
    # The second browser tab starts from a copy of the first's tabs...
    assert len(tabs(other)) == 2 and node_types(other) == ["EmptyLatentImage"]
    # ...and then each goes its own way.
    add_node_by_search(other, 600, 300, "vae decode", "VAEDecode")
    add_node_by_search(page, 600, 300, "save image", "SaveImage")
    page.wait_for_timeout(500)
    other.wait_for_timeout(500)
    reload(page)
    reload(other)
    assert node_types(page) == ["EmptyLatentImage", "SaveImage"]
    assert node_types(other) == ["EmptyLatentImage", "VAEDecode"]
    other.close()


def test_workflows_panel_saves_opens_duplicates_renames_and_deletes_tabs(page, studio_base):
    folder = workflows(studio_base)
    for leftover in folder.glob("tabbed*.json"):
        leftover.unlink()
    # Save as: the tab takes the file's name and loses its unsaved marker.
    tab_el(page, 0).click(button="right")
    page.click(".menu-item:has-text('Save as')")
    page.wait_for_selector("#workflows-panel:not([hidden])")
    assert page.eval_on_selector("#workflow-name", "e => e === document.activeElement")
    page.keyboard.press("Control+A")
    page.keyboard.type("tabbed")
    page.keyboard.press("Enter")
    wait_listed(page, present=["tabbed.json"])
    assert active(page) == {"title": "tabbed", "path": "tabbed.json", "modified": False, "active": True}
    assert row(page, "tabbed.json").get_attribute("class").split() == ["workflow-item", "open"]
    # An edit marks the tab and its row; Save (tab menu) writes the same file again.
    add_node_by_search(page, 900, 500, "vae decode", "VAEDecode")
    page.wait_for_selector("#tab-bar .tab.active.modified")
    page.wait_for_selector("#workflow-list .workflow-item.open.modified")
    tab_el(page, 0).click(button="right")
    page.click(".menu-item:has-text('Save')")
    page.wait_for_selector("#tab-bar .tab.active:not(.modified)")
    saved = json.loads((folder / "tabbed.json").read_text(encoding="utf-8"))
    assert "VAEDecode" in {n["type"] for n in saved["nodes"]}
    # Duplicate: a new file, opened in a tab of its own.
    row(page, "tabbed.json").locator(".workflow-duplicate").click()
    page.wait_for_function("() => window.studio.tabs.some(t => t.path === 'tabbed (copy).json' && t.active)")
    assert (folder / "tabbed (copy).json").is_file() and len(tabs(page)) == 2
    # Opening a file already open shows its tab instead of a second one.
    row(page, "tabbed.json").locator(".workflow-open").click()
    page.wait_for_function("() => window.studio.tabs.find(t => t.active).path === 'tabbed.json'")
    assert len(tabs(page)) == 2
    # Rename: the tab follows the file.
    row(page, "tabbed (copy).json").locator(".workflow-rename").click()
    page.fill(".workflow-rename-input", "tabbed two")
    page.keyboard.press("Enter")
    wait_listed(page, present=["tabbed two.json"], absent=["tabbed (copy).json"])
    assert [t["title"] for t in tabs(page)] == ["tabbed", "tabbed two"]
    # Delete: the open tab keeps the graph, now unsaved.
    row(page, "tabbed two.json").locator(".workflow-delete").click()
    page.click(".workflow-confirm-yes")
    wait_listed(page, absent=["tabbed two.json"])
    second = tabs(page)[1]
    assert second["path"] is None and second["modified"]
    shot(page, "61_tabs_workflows_panel")
    # Closing a tab with unsaved changes asks first; Cancel keeps it.
    tab_el(page, 1).locator(".tab-close").click()
    page.wait_for_selector(".confirm-dialog")
    page.click(".confirm-dialog .dialog-no")
    assert len(tabs(page)) == 2
    tab_el(page, 1).locator(".tab-close").click()
    page.click(".confirm-dialog .dialog-yes")
    page.wait_for_function("() => window.studio.tabs.length === 1")
    # Closing the last tab leaves a blank one.
    tab_el(page, 0).locator(".tab-close").click()
    page.wait_for_function("() => window.studio.tabs.length === 1 && window.studio.graph.nodes.length === 0")
    for leftover in folder.glob("tabbed*.json"):
        leftover.unlink()
