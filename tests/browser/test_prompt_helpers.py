"""Tag autocomplete in prompt editors (English prefix, Chinese through an IME, aliases,
insertion rules, keyboard, ranking by use) and the prompt library panel."""
from __future__ import annotations

import pytest

from tests.browser.helpers import finish_editing, js, open_text_editor, prompt_node, shot, suggestions, widget_value


def type_and_wait(page, text: str) -> list[str]:
    page.keyboard.type(text)
    page.wait_for_selector(".tag-complete .tag-item")
    return suggestions(page)


def popup_open(page) -> bool:
    return page.locator(".tag-complete").count() > 0


@pytest.fixture
def user_tags(studio_base):
    """A user's own tag and translation files, beside the shipped ones."""
    folder = studio_base / "user" / "tags"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "my_tags.csv").write_text(
        'name,category,count,aliases\nstar_(symbol),general,5,"starsign,star_mark"\nzz_test_tag,meta,1,\n', encoding="utf-8")
    (folder / "my_tags_zh.csv").write_text("tag,translation\nstar_(symbol),星形符号|星标\n", encoding="utf-8")
    yield folder


def test_english_prefix_then_substring_and_keyboard(page):
    positive = prompt_node(page, "positive")
    editor = open_text_editor(page, positive)
    items = type_and_wait(page, ", red")
    assert items[0] == "red"  # the exact tag leads
    prefix = [name.startswith("red") for name in items]
    assert prefix[:3] == [True] * 3 and sorted(prefix, reverse=True) == prefix  # prefix matches before substring ones
    # a second entry and its details (translation, category, count) are shown
    row = page.locator(".tag-complete .tag-item").nth(0)
    assert row.locator(".tag-translation").inner_text() and row.locator(".tag-count").inner_text()
    shot(page, "30_autocomplete_english")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowUp")
    active = page.locator(".tag-complete .tag-item.active").get_attribute("data-tag")
    assert active == items[1]
    page.keyboard.press("Enter")
    assert not popup_open(page)
    value = editor.input_value()
    assert value.endswith(", " + items[1].replace("_", " ") + ", ")
    # Escape closes only the list; the editor stays open with its text
    type_and_wait(page, "sun")
    page.keyboard.press("Escape")
    assert not popup_open(page) and page.locator("textarea.overlay-editor").count() == 1
    page.keyboard.press("Backspace")
    page.keyboard.press("Backspace")
    page.keyboard.press("Backspace")
    # Tab inserts too; underscores become spaces
    items = type_and_wait(page, "long_h")
    assert "long_hair" in items
    while page.locator(".tag-complete .tag-item.active").get_attribute("data-tag") != "long_hair":
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Tab")
    assert editor.input_value().endswith("long hair, ")
    finish_editing(page)
    assert widget_value(page, positive, "text").endswith(", long hair, ")


def test_chinese_after_ime_composition_finds_the_english_tag(page):
    editor = open_text_editor(page, prompt_node(page, "positive"))
    page.keyboard.type(", ")
    cdp = page.context.new_cdp_session(page)
    # While the IME is composing (Latin pinyin on screen) nothing is looked up.
    cdp.send("Input.imeSetComposition", {"text": "hong", "selectionStart": 4, "selectionEnd": 4})
    page.wait_for_timeout(300)
    assert not popup_open(page)
    cdp.send("Input.insertText", {"text": "红"})
    page.wait_for_selector(".tag-complete .tag-item")
    items = suggestions(page)
    assert items[0] == "red", items
    assert all("红" in t for t in js(page, "() => [...document.querySelectorAll('.tag-complete .tag-translation')].map(e => e.textContent)"))
    shot(page, "31_autocomplete_chinese")
    page.keyboard.press("Enter")
    assert editor.input_value().endswith(", red, ")
    cdp.send("Input.insertText", {"text": "日落"})
    page.wait_for_selector(".tag-complete .tag-item")
    assert "sunset" in suggestions(page)[:3]


def test_completes_the_word_at_the_caret_inside_a_sentence(page):
    """After a space (not only after a comma) the word being typed is completed, in
    Chinese as in English, and a multi-word tag is still found from its words."""
    positive = prompt_node(page, "positive")
    editor = open_text_editor(page, positive)
    page.keyboard.press("Control+A")
    page.keyboard.type("a red circle on a blue background ")
    page.keyboard.insert_text("红")
    page.wait_for_selector(".tag-complete .tag-item")
    assert suggestions(page)[0] == "red"
    page.keyboard.press("Enter")
    assert editor.input_value() == "a red circle on a blue background red, "
    items = type_and_wait(page, "a girl with long hai")
    assert items[0] == "long_hair", items
    page.keyboard.press("Enter")
    assert editor.input_value().endswith("background red, a girl with long hair, ")
    # Inside a sentence that matches nothing, nothing is offered.
    page.keyboard.type("zzqx")
    page.wait_for_timeout(200)
    assert not popup_open(page)


def test_user_tag_file_aliases_and_escaped_brackets(page, user_tags):
    editor = open_text_editor(page, prompt_node(page, "positive"))
    items = type_and_wait(page, ", starsi")  # an alias from the user's file
    assert items[0] == "star_(symbol)"
    assert "starsign" in page.locator(".tag-complete .tag-item").first.inner_text()
    page.keyboard.press("Enter")
    assert editor.input_value().endswith(", star \\(symbol\\), ")
    page.keyboard.insert_text("星标")  # the user's translation file
    page.wait_for_selector(".tag-complete .tag-item")
    assert suggestions(page)[0] == "star_(symbol)"


def test_tags_used_often_rank_higher(page):
    positive = prompt_node(page, "positive")
    open_text_editor(page, positive)
    items = type_and_wait(page, ", blu")
    pick = items[3]
    for _ in range(3):  # pick the fourth suggestion a few times
        while page.locator(".tag-complete .tag-item.active").get_attribute("data-tag") != pick:
            page.keyboard.press("ArrowDown")
        page.keyboard.press("Enter")
        type_and_wait(page, "blu")
    assert suggestions(page)[0] == pick
    page.keyboard.press("Escape")
    finish_editing(page)
    page.reload()
    page.wait_for_function("() => window.studio && window.studio.ready")
    open_text_editor(page, positive)
    assert type_and_wait(page, ", blu")[0] == pick  # remembered across sessions


def snippet_text(page, category: str, index: int = 0) -> str:
    return page.locator(f".snippets[data-category='{category}'] .snippet").nth(index).get_attribute("title")


def test_library_snippets_go_to_the_positive_or_negative_prompt(page):
    positive, negative = prompt_node(page, "positive"), prompt_node(page, "negative")
    page.click("#library-button")
    page.wait_for_selector(".snippets[data-category='quality'] .snippet")
    before_pos, before_neg = widget_value(page, positive, "text"), widget_value(page, negative, "text")
    quality = snippet_text(page, "quality")
    page.locator(".snippets[data-category='quality'] .snippet").first.click()
    assert widget_value(page, positive, "text") == f"{before_pos.rstrip(', ')}, {quality}"
    assert widget_value(page, negative, "text") == before_neg
    bad = snippet_text(page, "negative")
    page.locator(".snippets[data-category='negative'] .snippet").first.click(button="right")
    assert widget_value(page, negative, "text").endswith(f", {bad}") or widget_value(page, negative, "text") == bad
    lighting = snippet_text(page, "lighting", 1)
    page.locator(".snippets[data-category='lighting'] .snippet").nth(1).click(modifiers=["Shift"])
    assert widget_value(page, negative, "text").endswith(f", {lighting}")
    # With the positive prompt open, a snippet goes in at the caret.
    editor = open_text_editor(page, positive)
    page.keyboard.press("Control+Home")
    style = snippet_text(page, "style")
    page.locator(".snippets[data-category='style'] .snippet").first.click()
    assert editor.input_value().startswith(f"{style}, ")
    finish_editing(page)
    assert widget_value(page, positive, "text").startswith(f"{style}, ")
    shot(page, "32_prompt_library")
    page.keyboard.press("Control+z")  # an ordinary, undoable edit
    assert not widget_value(page, positive, "text").startswith(f"{style}, ")


def test_user_snippets_are_added_kept_and_deleted(page):
    page.click("#library-button")
    page.wait_for_selector(".snippets[data-category='lighting'] .snippet")
    page.select_option("#snippet-category", "lighting")
    page.fill("#snippet-label", "我的雾光")
    page.fill("#snippet-text", "volumetric fog, god rays")
    page.click("#snippet-add")
    mine = page.locator(".snippets[data-category='lighting'] .snippet.user", has_text="我的雾光")
    mine.wait_for()
    page.reload()
    page.wait_for_function("() => window.studio && window.studio.ready")
    page.click("#library-button")
    mine.wait_for()
    assert mine.get_attribute("title") == "volumetric fog, god rays"
    positive = prompt_node(page, "positive")
    mine.click()
    assert widget_value(page, positive, "text").endswith(", volumetric fog, god rays")
    mine.locator(".remove").click()
    mine.wait_for(state="detached")
    # an empty text is refused with a message, nothing is added
    page.fill("#snippet-text", "")
    page.click("#snippet-add")
    page.wait_for_selector(".toast.error")
