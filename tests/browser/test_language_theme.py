"""The interface in Chinese, English or both (remembered), and the dark/light themes
(following the system, switchable, remembered)."""
from __future__ import annotations

import json
from pathlib import Path

from tests.browser.helpers import js, node_ids, shot

ZH = {}
for _path in sorted((Path(__file__).resolve().parents[2] / "frontend" / "locales" / "zh").glob("*.json")):
    for _key, _value in json.loads(_path.read_text(encoding="utf-8")).items():
        ZH[_key] = {**ZH.get(_key, {}), **_value} if isinstance(_value, dict) else _value


def ready(page):
    page.wait_for_function("() => window.studio && window.studio.ready")


def labels(page, node_id):
    return js(page, "id => window.studio.labels(id)", node_id)


def test_switching_the_language_changes_the_visible_labels(page):
    sampler = node_ids(page, "KSampler")[0]
    english = labels(page, sampler)
    assert english["title"] == "KSampler" and "seed" in english["widgets"]
    assert page.inner_text("#queue-button") == "Queue"
    page.select_option("#language-select", "zh")
    page.wait_for_function("() => window.studio.language === 'zh'")
    assert page.inner_text("#queue-button") == ZH["ui"]["Queue"]
    assert page.inner_text("#library-button") == ZH["ui"]["Prompt library"]
    chinese = labels(page, sampler)
    assert chinese["title"] == ZH["nodes"]["KSampler"]["display_name"]
    assert chinese["widgets"][0] == ZH["inputs"]["seed"]
    assert chinese["inputs"][0] == ZH["inputs"]["model"]
    assert chinese["outputs"][0] == ZH["outputs"]["LATENT"]
    shot(page, "33_chinese_interface")
    # The search dialog finds and shows nodes by their Chinese names and categories.
    page.mouse.dblclick(900, 650)
    page.wait_for_selector(".search-dialog .search-input")
    page.keyboard.type(ZH["nodes"]["KSampler"]["display_name"])
    first = page.locator(".search-item").first
    assert first.get_attribute("data-type") == "KSampler"
    assert first.locator(".cat").inner_text() == ZH["categories"]["sampling"]
    page.keyboard.press("Escape")
    # Remembered across a reload.
    page.reload()
    ready(page)
    assert js(page, "() => window.studio.language") == "zh"
    assert page.inner_text("#queue-button") == ZH["ui"]["Queue"]
    # Both side by side, then back to English.
    page.select_option("#language-select", "en+zh")
    page.wait_for_function("() => window.studio.language === 'en+zh'")
    assert page.inner_text("#queue-button") == f"Queue / {ZH['ui']['Queue']}"
    assert labels(page, sampler)["title"] == f"KSampler / {ZH['nodes']['KSampler']['display_name']}"
    page.select_option("#language-select", "en")
    page.wait_for_function("() => window.studio.language === 'en'")
    assert page.inner_text("#queue-button") == "Queue" and labels(page, sampler) == english


def test_a_renamed_node_keeps_its_own_title(page):
    sampler = node_ids(page, "KSampler")[0]
    page.select_option("#language-select", "zh")
    page.wait_for_function("() => window.studio.language === 'zh'")
    js(page, "id => { window.studio.graph.getNode(id).title = 'My sampler'; }", sampler)
    assert labels(page, sampler)["title"] == "My sampler"


def canvas_pixel(page):
    return js(page, """() => {
        const c = document.getElementById('graph-canvas');
        return [...c.getContext('2d').getImageData(3, c.height - 3, 1, 1).data].slice(0, 3);
    }""")


def brightness(rgb):
    return sum(rgb) / 3


def test_theme_follows_the_system_and_a_choice_is_remembered(page):
    page.emulate_media(color_scheme="dark")
    page.wait_for_function("() => document.documentElement.dataset.theme === 'dark'")
    page.wait_for_timeout(100)
    assert brightness(canvas_pixel(page)) < 80
    page.emulate_media(color_scheme="light")  # the system switches: so does the editor
    page.wait_for_function("() => document.documentElement.dataset.theme === 'light'")
    page.wait_for_timeout(100)
    assert brightness(canvas_pixel(page)) > 180
    toolbar = js(page, "() => getComputedStyle(document.getElementById('toolbar')).backgroundColor")
    shot(page, "34_light_theme")
    page.select_option("#theme-select", "dark")  # an explicit choice wins over the system
    page.wait_for_function("() => document.documentElement.dataset.theme === 'dark'")
    page.wait_for_timeout(100)
    assert brightness(canvas_pixel(page)) < 80
    assert js(page, "() => getComputedStyle(document.getElementById('toolbar')).backgroundColor") != toolbar
    page.reload()
    ready(page)
    assert js(page, "() => window.studio.theme") == {"choice": "dark", "effective": "dark", "canvasBackground": "#1e1e1e"}
    assert page.input_value("#theme-select") == "dark"
    page.select_option("#theme-select", "system")
    page.wait_for_function("() => document.documentElement.dataset.theme === 'light'")
    page.reload()
    ready(page)
    assert js(page, "() => window.studio.theme.choice") == "system"


def test_chinese_text_is_drawn_with_real_glyphs(page):
    """A CJK font is installed (scripts/setup.sh --test): two different characters in the
    canvas font draw differently, and neither as the missing-glyph box."""
    pixels = js(page, """() => {
        const draw = (text) => {
            const c = document.createElement("canvas"); c.width = 40; c.height = 40;
            const ctx = c.getContext("2d");
            ctx.font = "24px system-ui, sans-serif"; ctx.fillStyle = "#000"; ctx.textBaseline = "top";
            ctx.fillText(text, 4, 4);
            return Array.from(ctx.getImageData(0, 0, 40, 40).data.filter((_, i) => i % 4 === 3)).join(",");
        };
        return { seed: draw("种"), son: draw("子"), missing: draw("\\u{10FFFD}") };
    }""")
    assert pixels["seed"] != pixels["son"]
    assert pixels["missing"] not in (pixels["seed"], pixels["son"])
    assert any(v != "0" for v in pixels["seed"].split(","))
