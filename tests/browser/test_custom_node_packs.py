"""Node packs in the editor: a pack's web extension script loads and runs its hooks, a pack
that failed is named, and a pack node is found by search, wired and run."""
from __future__ import annotations

import pytest

from tests.browser.conftest import VIEWPORT
from tests.browser.harness import ServerThread
from tests.browser.helpers import add_node_by_search, js, set_widget, shot, wire


@pytest.fixture(scope="module")
def pack_server(tmp_path_factory):
    from comfy_compat.setup import load_into_server
    from tests.pack_support import core_registry, place_packs

    base = tmp_path_factory.mktemp("studio_packs_browser")
    place_packs(base, ["studio_v1_pack", "broken_import_pack"])
    server = ServerThread(base, registry=core_registry(),
                          prepare=lambda app: load_into_server(app, base / "custom_nodes"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def pack_page(browser, pack_server):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(pack_server.url + "/")
    page.wait_for_function("() => window.studio && window.studio.ready", timeout=30_000)
    yield page
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


def test_the_web_extension_loads_and_a_failed_pack_is_named(pack_page):
    state = js(pack_page, "() => window.__studioV1")
    assert state["imported"] is True and state["setup"] is True and state["defs"] == 27
    loaded = js(pack_page, "() => window.studio.extensions")
    assert "/extensions/studio_v1_pack/studio_v1.js" in loaded["loaded"] and not loaded["hookErrors"]
    toasts = pack_page.inner_text("#toasts")
    assert "broken_import_pack" in toasts and "studio_module_that_is_not_installed" in toasts


def test_a_pack_node_is_found_by_search_and_runs(pack_page):
    pack_page.click("#new-button")
    math = add_node_by_search(pack_page, 300, 300, "studio int math", "StudioIntMath")
    show = add_node_by_search(pack_page, 800, 300, "studio show text", "StudioShowText")
    set_widget(pack_page, math, "a", "40")
    wire(pack_page, math, 1, show, 0)
    pack_page.click("#queue-button")
    pack_page.wait_for_function("() => (window.__studioV1.events || []).length > 0", timeout=30_000)
    assert js(pack_page, "() => window.__studioV1.events[0].text") == "42"
    shot(pack_page, "custom_node_pack_run")
