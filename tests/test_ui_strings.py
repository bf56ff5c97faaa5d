"""The editor's own strings: every text the frontend translates has a Chinese entry."""
from __future__ import annotations

from scripts.ui_strings import missing, tag_categories, ui_strings


def test_strings_are_found_in_scripts_and_the_page():
    keys = ui_strings()
    assert {"Queue", "Add Node", "Search nodes", "Queue: {n}", "Prompt library", "Model presets"} <= keys
    assert "Queue & history" in keys  # an HTML entity in index.html, unescaped
    assert "Mute (Ctrl+M)" in keys and "Unmute" in keys  # both sides of a t(cond ? a : b)


def test_every_editor_string_and_tag_category_has_a_chinese_translation():
    assert {"quality", "hair", "negative"} <= set(tag_categories())
    assert missing("zh") == []
