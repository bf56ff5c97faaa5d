"""Mouse-and-keyboard helpers for the editor tests. Coordinates come from the page's
read-only `window.studio` hook; every action is a real Playwright mouse or key event."""
from __future__ import annotations

import json
import urllib.request
from pathlib import Path

SCREENSHOTS = Path(__file__).resolve().parents[1] / "output" / "screenshots"


def js(page, expr: str, *args):
    return page.evaluate(expr, *args) if args else page.evaluate(expr)


def node_ids(page, type_: str) -> list[int]:
    return js(page, "t => window.studio.nodesOfType(t)", type_)


def slot(page, node_id, is_input: bool, index: int) -> tuple[float, float]:
    return tuple(js(page, "([i, inp, k]) => window.studio.slot(i, inp, k)", [node_id, is_input, index]))


def point(page, what: str, node_id, *extra) -> tuple[float, float]:
    return tuple(js(page, f"([i, ...a]) => window.studio.{what}(i, ...a)", [node_id, *extra]))


def drag(page, start, end, steps: int = 8, modifiers: tuple[str, ...] = ()) -> None:
    for key in modifiers:
        page.keyboard.down(key)
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=steps)
    page.mouse.up()
    for key in modifiers:
        page.keyboard.up(key)


def wire(page, origin, out_slot: int, target, in_slot: int) -> None:
    drag(page, slot(page, origin, False, out_slot), slot(page, target, True, in_slot))


def add_node_by_search(page, x: float, y: float, query: str, type_: str) -> int:
    """Double-click empty canvas at page (x, y), type a query, click the result; the new node's id."""
    before = set(node_ids(page, type_))
    page.mouse.dblclick(x, y)
    page.wait_for_selector(".search-dialog .search-input")
    page.keyboard.type(query)
    page.click(f".search-item[data-type='{type_}']")
    after = set(node_ids(page, type_))
    (new,) = after - before
    return new


def set_widget(page, node_id, name: str, text: str) -> None:
    """Click a widget's middle (opens its editor), type a value, press Enter."""
    page.mouse.click(*point(page, "widget", node_id, name))
    editor = page.wait_for_selector(".overlay-editor")
    page.keyboard.press("Control+A")
    page.keyboard.type(text)
    if editor.evaluate("e => e.tagName") == "TEXTAREA":
        finish_editing(page)  # Ctrl+Enter would queue the workflow as well
    else:
        page.keyboard.press("Enter")
    page.wait_for_selector(".overlay-editor", state="detached")


def finish_editing(page) -> None:
    """Click outside the open text editor (the toolbar's name): the text is kept."""
    page.click("#toolbar .brand")
    page.wait_for_selector(".overlay-editor", state="detached")


def widget_value(page, node_id, name: str):
    return js(page, "([i, n]) => window.studio.graph.getNode(i).widgets.find(w => w.name === n).value", [node_id, name])


def links(page) -> list[list]:
    return js(page, "() => window.studio.serialize().links")


def drop_file(page, data: bytes, name: str, mime: str, at=(640, 400), loads: bool = True) -> None:
    """Drop a file on the page as a user dragging it from the desktop would; when it
    `loads` a workflow, wait until the editor has loaded that very file."""
    page.evaluate(
        """([bytes, name, mime, x, y]) => {
            const file = new File([new Uint8Array(bytes)], name, { type: mime });
            const dt = new DataTransfer();
            dt.items.add(file);
            const target = document.elementFromPoint(x, y);
            for (const type of ["dragenter", "dragover", "drop"]) {
              target.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: dt, clientX: x, clientY: y }));
            }
        }""",
        [list(data), name, mime, at[0], at[1]],
    )
    if loads:
        page.wait_for_function("name => (window.studio.lastLoad || {}).source === name", arg=name)


def drop_json(page, data: dict, name: str = "workflow.json") -> None:
    drop_file(page, json.dumps(data).encode(), name, "application/json")


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def wait_loaded(page, count: int) -> None:
    page.wait_for_function("n => window.studio.graph.nodes.length === n", arg=count)


def prompt_node(page, role: str) -> int:
    """The text-encode node wired into the sampler's `role` input ("positive"/"negative")."""
    return js(page, """role => {
        const g = window.studio.graph;
        const sampler = g.nodes.find(n => n.type === "KSampler");
        const link = g.links.get(sampler.inputs.find(i => i.name === role).link);
        return link.origin_id;
    }""", role)


def open_text_editor(page, node_id, name: str = "text"):
    """Click a prompt widget: its textarea opens with the text selected; the caret goes to the end."""
    page.mouse.click(*point(page, "widget", node_id, name))
    editor = page.wait_for_selector("textarea.overlay-editor")
    page.keyboard.press("Control+End")
    return editor


def suggestions(page) -> list[str]:
    return js(page, "() => window.studio.suggestions")


def load_image_with_upload(page, path: Path, size=(32, 24)) -> int:
    """A new tab with a Load Image node, a red picture of `size` written at `path` and
    uploaded into it through the file chooser; the node's id."""
    from PIL import Image

    page.click("#new-button")
    node = add_node_by_search(page, 200, 150, "load image", "LoadImage")
    Image.new("RGB", size, (200, 30, 30)).save(path)
    with page.expect_file_chooser() as chooser:
        page.mouse.click(*point(page, "widget", node, "upload"))
    chooser.value.set_files(str(path))
    return node


def history_entry(page, server_url: str, prompt_id: str, tries: int = 600) -> dict:
    """The prompt's /history entry once it has finished (polled every 100 ms)."""
    for _ in range(tries):
        with urllib.request.urlopen(f"{server_url}/history/{prompt_id}") as response:
            entry = json.load(response).get(prompt_id)
        if entry:
            return entry
        page.wait_for_timeout(100)
    raise AssertionError(f"prompt {prompt_id} did not finish")
