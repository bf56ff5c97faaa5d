"""Workflows saved on the server, in user/default/workflows/ (where ComfyUI's own editor
keeps its saved workflows): saved under a name, listed, renamed, opened in another
browser, deleted, and never overwritten without the user's say. And the editor's settings
(language, theme, minimap), kept in the user's comfy.settings.json: what one browser
chose, a fresh one shows after load; the server's value wins over the browser's copy, and
the browser's copy is used when the server cannot be asked."""
from __future__ import annotations

import json
import re
import urllib.request

import pytest

from tests.browser.conftest import VIEWPORT, forget_editor_settings
from tests.browser.helpers import js, node_ids, set_widget, shot, widget_value


def workflows(base):
    return base / "user" / "default" / "workflows"


def settings_file(base):
    return base / "user" / "default" / "comfy.settings.json"


def new_page(browser, server_url, init_script=None):
    """Another browser: its own context, so its own (empty) localStorage."""
    context = browser.new_context(viewport=VIEWPORT)
    if init_script:
        context.add_init_script(init_script)
    page = context.new_page()
    page.js_errors = []
    page.on("pageerror", lambda exc: page.js_errors.append(str(exc)))
    return context, page


def load(page, url):
    page.goto(url + "/")
    page.wait_for_function("() => window.studio && window.studio.ready", timeout=30_000)


def open_panel(page):
    page.click("#workflows-button")
    page.wait_for_selector("#workflows-panel:not([hidden])")


def listed(page) -> list[str]:
    return page.eval_on_selector_all("#workflow-list .workflow-item", "els => els.map(e => e.dataset.path)")


def wait_listed(page, present=(), absent=()):
    page.wait_for_function(
        """([present, absent]) => {
            const paths = [...document.querySelectorAll('#workflow-list .workflow-item')].map(e => e.dataset.path);
            return present.every(p => paths.includes(p)) && !absent.some(p => paths.includes(p));
        }""",
        arg=[list(present), list(absent)],
    )


def row(page, path):
    return page.locator(f"#workflow-list .workflow-item[data-path='{path}']")


def save_as(page, name):
    page.fill("#workflow-name", name)
    page.click("#workflow-save")


def graph_of(data):
    """What must survive a save and an open: nodes (type, widgets, wiring) and links."""
    nodes = sorted((n["id"], n["type"], json.dumps(n.get("widgets_values")), json.dumps(n.get("inputs"))) for n in data["nodes"])
    return nodes, sorted(tuple(l) for l in data["links"])


def test_save_rename_open_in_another_browser_and_delete(page, browser, server_url, studio_base):
    (sampler,) = node_ids(page, "KSampler")
    set_widget(page, sampler, "steps", "13")
    open_panel(page)
    page.wait_for_function("() => document.getElementById('workflow-list').textContent !== ''")
    assert "my flow.json" not in listed(page)
    if not workflows(studio_base).is_dir():  # nothing saved yet: the missing folder lists as empty
        assert page.inner_text("#workflow-list") == "No saved workflows yet."

    save_as(page, "my flow")
    wait_listed(page, present=["my flow.json"])
    saved = json.loads((workflows(studio_base) / "my flow.json").read_text(encoding="utf-8"))
    assert saved["version"] == 0.4 and isinstance(saved["nodes"], list) and isinstance(saved["links"], list)
    assert graph_of(saved) == graph_of(js(page, "() => window.studio.serialize()"))
    assert next(n for n in saved["nodes"] if n["id"] == sampler)["widgets_values"][2] == 13
    assert row(page, "my flow.json").locator(".workflow-name").inner_text() == "my flow"
    assert page.input_value("#workflow-name") == "my flow"
    shot(page, "36_workflow_list")

    # Renamed in place: the old file is gone, the new one holds the same graph.
    row(page, "my flow.json").locator(".workflow-rename").click()
    rename = row(page, "my flow.json").locator(".workflow-rename-input")
    rename.fill("renamed flow")
    rename.press("Enter")
    wait_listed(page, present=["renamed flow.json"], absent=["my flow.json"])
    assert not (workflows(studio_base) / "my flow.json").exists()
    renamed = workflows(studio_base) / "renamed flow.json"
    assert json.loads(renamed.read_text(encoding="utf-8")) == saved
    assert page.input_value("#workflow-name") == "renamed flow"

    # Opened in a fresh browser (which starts from the default graph): the same graph.
    context, other = new_page(browser, server_url)
    try:
        load(other, server_url)
        (other_sampler,) = node_ids(other, "KSampler")
        assert widget_value(other, other_sampler, "steps") != 13
        open_panel(other)
        wait_listed(other, present=["renamed flow.json"])
        row(other, "renamed flow.json").locator(".workflow-open").click()
        other.wait_for_function("() => (window.studio.lastLoad || {}).source === 'renamed flow'")
        assert graph_of(js(other, "() => window.studio.serialize()")) == graph_of(saved)
        assert widget_value(other, sampler, "steps") == 13

        # Deleted only once confirmed: Cancel keeps it, Delete removes it from disk and list.
        row(other, "renamed flow.json").locator(".workflow-delete").click()
        other.wait_for_selector("#workflow-confirm:not([hidden])")
        assert "renamed flow" in other.inner_text("#workflow-confirm")
        other.click("#workflow-confirm .workflow-confirm-no")
        other.wait_for_selector("#workflow-confirm", state="hidden")
        assert renamed.exists() and "renamed flow.json" in listed(other)
        row(other, "renamed flow.json").locator(".workflow-delete").click()
        other.click("#workflow-confirm .workflow-confirm-yes")
        wait_listed(other, absent=["renamed flow.json"])
        assert not renamed.exists()
        assert not other.js_errors, other.js_errors
    finally:
        context.close()
    # The first browser sees it gone once it lists again.
    page.click("#workflows-refresh")
    wait_listed(page, absent=["renamed flow.json"])


def test_a_taken_name_is_replaced_only_when_confirmed(page, studio_base):
    (sampler,) = node_ids(page, "KSampler")
    taken, other = workflows(studio_base) / "taken.json", workflows(studio_base) / "other.json"
    try:
        open_panel(page)
        save_as(page, "taken")
        wait_listed(page, present=["taken.json"])
        first = taken.read_text(encoding="utf-8")

        set_widget(page, sampler, "steps", "21")
        save_as(page, "taken")
        page.wait_for_selector("#workflow-confirm:not([hidden])")
        assert "taken" in page.inner_text("#workflow-confirm")
        assert taken.read_text(encoding="utf-8") == first  # asked, not written
        shot(page, "37_workflow_replace_question")
        page.click("#workflow-confirm .workflow-confirm-no")
        page.wait_for_selector("#workflow-confirm", state="hidden")
        page.wait_for_timeout(200)
        assert taken.read_text(encoding="utf-8") == first

        save_as(page, "taken.json")  # the same file, named with its extension
        page.evaluate("() => document.querySelectorAll('.toast').forEach(t => { t.dataset.seen = '1'; })")
        page.click("#workflow-confirm .workflow-confirm-yes")
        # this save's own toast: the first save's may still be showing, and the save not done yet
        page.wait_for_function(
            "() => [...document.querySelectorAll('.toast')].some(t => t.textContent === 'Saved taken' && !t.dataset.seen)")
        replaced = json.loads(taken.read_text(encoding="utf-8"))
        assert next(n for n in replaced["nodes"] if n["id"] == sampler)["widgets_values"][2] == 21

        # A rename onto a taken name is refused with a message; both files stay as they were.
        save_as(page, "other")
        wait_listed(page, present=["other.json", "taken.json"])
        kept = other.read_text(encoding="utf-8"), taken.read_text(encoding="utf-8")
        row(page, "other.json").locator(".workflow-rename").click()
        rename = row(page, "other.json").locator(".workflow-rename-input")
        rename.fill("taken")
        rename.press("Enter")
        page.wait_for_selector(".toast.error >> text=A workflow named taken already exists: choose another name.")
        assert (other.read_text(encoding="utf-8"), taken.read_text(encoding="utf-8")) == kept
        assert rename.is_visible()  # still open for another name
        rename.press("Escape")
        wait_listed(page, present=["other.json", "taken.json"])
    finally:
        for path in (taken, other):
            path.unlink(missing_ok=True)


def post_setting(server_url, setting_id, value):
    request = urllib.request.Request(f"{server_url}/settings/{setting_id}", data=json.dumps(value).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request) as response:
        assert response.status == 200


def stored_settings(base) -> dict:
    try:
        return json.loads(settings_file(base).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}


def wait_stored(page, base, expected: dict):
    for _ in range(50):
        settings = stored_settings(base)
        if all(settings.get(k) == v for k, v in expected.items()):
            return settings
        page.wait_for_timeout(100)
    pytest.fail(f"settings file has {stored_settings(base)}, expected {expected}")


def test_settings_follow_the_user_to_a_fresh_browser(page, browser, server_url, studio_base):
    page.emulate_media(color_scheme="dark")
    page.select_option("#language-select", "zh")
    page.wait_for_function("() => window.studio.language === 'zh'")
    page.select_option("#theme-select", "light")
    page.wait_for_function("() => document.documentElement.dataset.theme === 'light'")
    assert js(page, "() => document.getElementById('minimap').hidden") is False
    page.click("#minimap-button")
    settings = wait_stored(page, studio_base, {"Studio.Language": "zh", "Studio.Theme": "light", "Studio.Minimap": False})
    assert not any(k.startswith("Comfy.") for k in settings)  # ComfyUI's own ids are left to ComfyUI's editor
    chinese_queue = page.inner_text("#queue-button")
    assert chinese_queue != "Queue"

    # A fresh browser (empty localStorage, dark system theme) shows all three after load.
    context, other = new_page(browser, server_url)
    try:
        other.emulate_media(color_scheme="dark")
        load(other, server_url)
        assert js(other, "() => window.studio.language") == "zh"
        assert js(other, "() => window.studio.theme") == {"choice": "light", "effective": "light", "canvasBackground": js(page, "() => window.studio.theme.canvasBackground")}
        assert other.input_value("#theme-select") == "light" and other.input_value("#language-select") == "zh"
        assert other.inner_text("#queue-button") == chinese_queue
        assert js(other, "() => document.getElementById('minimap').hidden") is True

        # The server's value wins over the copy this browser now keeps.
        post_setting(server_url, "Studio.Language", "en")
        post_setting(server_url, "Studio.Theme", "dark")
        other.reload()
        other.wait_for_function("() => window.studio && window.studio.ready")
        assert js(other, "() => window.studio.language") == "en"
        assert js(other, "() => window.studio.theme.choice") == "dark"
        assert other.inner_text("#queue-button") == "Queue"
        assert not other.js_errors, other.js_errors
    finally:
        context.close()


def test_without_the_server_settings_the_browser_copy_is_used(browser, server_url, studio_base):
    forget_editor_settings(studio_base)
    post_setting(server_url, "Studio.Theme", "dark")  # the server would say dark, if asked
    # This browser's copies: the language as the editor kept it before the server did (a bare string).
    cached = "localStorage.setItem('studio.language', 'zh'); localStorage.setItem('studio.theme', JSON.stringify('light'));"
    context, page = new_page(browser, server_url, init_script=cached)
    try:
        page.route(re.compile(r".*/settings$"), lambda route: route.abort())
        load(page, server_url)
        assert js(page, "() => window.studio.language") == "zh"
        assert js(page, "() => window.studio.theme.choice") == "light"
        assert "设置" in page.wait_for_selector(".toast.warn").inner_text()  # says the server's settings were not read
        # A change is still made and kept in this browser.
        page.select_option("#theme-select", "system")
        page.wait_for_function("() => localStorage.getItem('studio.theme') === JSON.stringify('system')")
        wait_stored(page, studio_base, {"Studio.Theme": "system"})  # the one-setting route still reaches the server
        assert not page.js_errors, page.js_errors
    finally:
        context.close()
        forget_editor_settings(studio_base)
