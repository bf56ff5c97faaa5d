"""ComfyUI's default keybindings (and the editor's own editing keys), each pressed with the
real keyboard on the canvas; Ctrl+Enter from inside a prompt; a key changed in the
keybinding editor working after a reload."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.browser.conftest import editor_page
from tests.browser.helpers import drag, js, node_ids, open_text_editor, point, prompt_node, shot, widget_value

DATA = Path(__file__).resolve().parents[2] / "frontend" / "js" / "keybindings_data.js"
EMPTY = (600, 700)  # empty canvas below the default workflow
DEFAULT_TYPES = sorted(["CheckpointLoaderSimple", "EmptyLatentImage", "CLIPTextEncode", "CLIPTextEncode", "KSampler", "VAEDecode", "SaveImage"])
_ROW = re.compile(r'\{ combo: \{ ([^}]*) \}, commandId: "([^"]+)"')


def table(name: str) -> list[tuple[dict, str]]:
    """A default table from keybindings_data.js as [(combo, command id)]."""
    text = DATA.read_text(encoding="utf-8").split(f"export const {name} = [", 1)[1].split("];", 1)[0]
    rows = []
    for fields, command in _ROW.findall(text):
        combo = {}
        for part in fields.split(", "):
            key, value = part.split(": ", 1)
            combo[key] = json.loads(value)
        rows.append((combo, command))
    return rows


CORE = table("CORE_KEYBINDINGS")
STUDIO = table("STUDIO_KEYBINDINGS")


def combo_name(combo: dict) -> str:
    return "+".join([m for m in ("ctrl", "alt", "shift") if combo.get(m)] + [combo["key"]])


def press(page, combo: dict) -> None:
    """The combo on the real keyboard (modifiers held around the key)."""
    mods = [name for flag, name in (("ctrl", "Control"), ("alt", "Alt"), ("shift", "Shift")) if combo.get(flag)]
    key = combo["key"]
    if key == "+" and not combo.get("shift"):
        key = "NumpadAdd"  # the number pad's plus
    for m in mods:
        page.keyboard.down(m)
    page.keyboard.press(key)
    for m in reversed(mods):
        page.keyboard.up(m)


def focus_canvas(page) -> None:
    """Click empty canvas: the canvas has the keyboard and nothing is selected."""
    page.keyboard.press("Escape")
    page.mouse.click(*EMPTY)


def select(page, node_id) -> None:
    focus_canvas(page)
    page.mouse.click(*point(page, "title", node_id))
    assert js(page, "() => window.studio.selected") == [node_id]


def node(page, node_id, expr: str):
    return js(page, f"id => {{ const n = window.studio.graph.getNode(id); return {expr}; }}", node_id)


def sampler(page) -> int:
    return node_ids(page, "KSampler")[0]


def visible(page, selector: str) -> bool:
    return page.locator(selector).count() > 0 and page.locator(selector).first.is_visible()


class Requests:
    """The page's requests to one path, as they are sent."""

    def __init__(self, page, path: str, method: str = "POST"):
        self.items = []
        page.on("request", lambda r: self.items.append(r) if r.method == method and r.url.split("?")[0].endswith(path) else None)

    def bodies(self):
        return [r.post_data_json for r in self.items]


# ---- one check per command: press the combo, see it do its job --------------------------

def check_queue(page, combo, front=False):
    prompts = Requests(page, "/prompt")
    with page.expect_response(lambda r: r.url.endswith("/prompt") and r.request.method == "POST") as response:
        press(page, combo)
    body = prompts.bodies()[0]
    assert str(sampler(page)) in body["prompt"] and bool(body.get("front")) is front
    page.wait_for_selector(".toast.info >> text=Queued 1 prompt")
    wait_shown(page, response.value.json()["prompt_id"])


def wait_shown(page, prompt_id: str) -> None:
    """Until the run's image is on the Save Image node (the image makes the node taller,
    which the next key's undo would otherwise see)."""
    page.wait_for_function("""async id => {
        const h = await (await fetch('/history/' + id)).json();
        const image = Object.values(h[id]?.outputs || {})[0]?.images?.[0];
        const save = window.studio.graph.nodes.find(n => n.type === 'SaveImage');
        return !!image && save.outputs_ui?.[0]?.filename === image.filename && window.studio.running === null;
    }""", arg=prompt_id, polling=200, timeout=60_000)


def check_interrupt(page, combo):
    prompts, interrupts = Requests(page, "/prompt"), Requests(page, "/interrupt")
    with page.expect_response(lambda r: r.url.endswith("/interrupt")):
        press(page, combo)
    page.wait_for_timeout(200)
    assert len(interrupts.items) == 1 and prompts.items == []  # interrupts, does not queue


def check_refresh(page, combo):
    with page.expect_response(lambda r: r.url.endswith("/object_info")):
        press(page, combo)
    page.wait_for_selector(".toast >> text=Node definitions refreshed")


def check_toggle(selector):
    def check(page, combo):
        assert not visible(page, selector)
        press(page, combo)
        page.wait_for_selector(selector, state="visible")
        focus_canvas(page)
        press(page, combo)
        page.wait_for_selector(selector, state="hidden")
    return check


def check_node_library(page, combo):
    check_toggle("#node-library-panel")(page, combo)
    press(page, combo)
    before = len(node_ids(page, "VAELoader"))
    page.fill(".library-filter", "VAELoader")
    page.click(".library-node[data-type='VAELoader']")  # a click adds the node
    assert len(node_ids(page, "VAELoader")) == before + 1
    focus_canvas(page)
    page.keyboard.press("Control+z")
    press(page, combo)


def check_model_library(page, combo):
    press(page, combo)
    page.wait_for_selector("#model-library-panel .library-model[data-name='tiny.safetensors']")
    before = set(node_ids(page, "CheckpointLoaderSimple"))
    page.click("#model-library-panel .library-model[data-name='tiny.safetensors']")  # adds its loader
    (new,) = set(node_ids(page, "CheckpointLoaderSimple")) - before
    assert widget_value(page, new, "ckpt_name") == "tiny.safetensors"
    focus_canvas(page)
    page.keyboard.press("Control+z")
    press(page, combo)
    page.wait_for_selector("#model-library-panel", state="hidden")


def check_save(page, combo):
    """Saves on the server: a tab without a file asks for a name first, then Ctrl+S saves
    that file again at once."""
    press(page, combo)
    page.wait_for_selector("#workflows-panel:not([hidden])")
    assert page.eval_on_selector("#workflow-name", "e => e === document.activeElement")
    page.keyboard.press("Control+A")
    page.keyboard.type("keybinding save")
    page.keyboard.press("Enter")
    page.wait_for_function("() => window.studio.tabs.find(t => t.active).path === 'keybinding save.json'")
    focus_canvas(page)
    page.keyboard.press("Control+a")
    page.keyboard.press("Control+m")  # an edit: everything muted
    page.wait_for_function("() => window.studio.tabs.find(t => t.active).modified")
    press(page, combo)
    page.wait_for_function("() => !window.studio.tabs.find(t => t.active).modified")
    saved = js(page, "() => fetch('/userdata/workflows%2Fkeybinding%20save.json').then(r => r.json())")
    assert all(n["mode"] == 2 for n in saved["nodes"])
    page.keyboard.press("Control+m")
    press(page, combo)
    page.wait_for_function("() => !window.studio.tabs.find(t => t.active).modified")
    js(page, "() => fetch('/userdata/workflows%2Fkeybinding%20save.json', { method: 'DELETE' })")
    page.click("#workflows-button")  # the panel closes again


def check_open(page, combo):
    with page.expect_file_chooser() as chooser:
        press(page, combo)
    assert ".json" in chooser.value.element.get_attribute("accept")


def check_clear(page, combo):
    count = js(page, "() => window.studio.graph.nodes.length")
    press(page, combo)  # Comfy.ConfirmClear asks first
    page.wait_for_selector(".confirm-dialog")
    page.keyboard.press("Escape")
    assert js(page, "() => window.studio.graph.nodes.length") == count
    press(page, combo)
    page.click(".confirm-dialog .dialog-yes")
    page.wait_for_function("() => window.studio.graph.nodes.length === 0")
    page.keyboard.press("Control+z")
    assert js(page, "() => window.studio.graph.nodes.length") == count


def check_group(page, combo):
    select(page, sampler(page))
    groups = js(page, "() => window.studio.graph.groups.length")
    press(page, combo)
    assert js(page, "() => window.studio.graph.groups.length") == groups + 1
    page.keyboard.press("Control+z")
    assert js(page, "() => window.studio.graph.groups.length") == groups


def check_settings(page, combo):
    press(page, combo)
    page.wait_for_selector(".settings-dialog .settings-search:focus")
    page.keyboard.press("Escape")
    page.wait_for_selector(".settings-dialog", state="detached")


def scale(page) -> float:
    return js(page, "() => window.studio.view.scale")


def check_zoom(factor):
    def check(page, combo):
        before = scale(page)
        press(page, combo)
        assert scale(page) == pytest.approx(before * factor, rel=1e-6)
        page.keyboard.press("Alt+Minus" if factor > 1 else "Alt+Equal")
        assert scale(page) == pytest.approx(before, rel=1e-6)
    return check


def all_in_view(page) -> bool:
    return js(page, """() => window.studio.graph.nodes.every(n => {
        const [x0, y0] = window.studio.toPage(n.pos[0], n.pos[1] - 26), [x1, y1] = window.studio.toPage(n.pos[0] + n.size[0], n.pos[1] + n.size[1]);
        const r = document.getElementById('graph-canvas').getBoundingClientRect();
        return x0 >= r.left && y0 >= r.top && x1 <= r.right && y1 <= r.bottom;
    })""")


def check_fit(page, combo):
    drag(page, EMPTY, (EMPTY[0] + 500, EMPTY[1] - 300))  # pan most of the graph off screen
    assert not all_in_view(page)
    press(page, combo)
    assert all_in_view(page)


def check_pin(page, combo):
    s = sampler(page)
    select(page, s)
    press(page, combo)
    assert node(page, s, "!!n.flags.pinned")
    pos = node(page, s, "[...n.pos]")
    title = point(page, "title", s)
    drag(page, title, (title[0] + 80, title[1] + 60))  # pinned: stays put
    assert node(page, s, "[...n.pos]") == pos
    corner = point(page, "corner", s)
    size = node(page, s, "[...n.size]")
    drag(page, corner, (corner[0] + 50, corner[1] + 50))  # and keeps its size
    assert node(page, s, "[...n.size]") == size
    press(page, combo)
    assert not node(page, s, "!!n.flags.pinned")
    drag(page, point(page, "title", s), (title[0] + 80, title[1] + 60))
    assert node(page, s, "[...n.pos]") != pos
    page.keyboard.press("Control+z")


def check_collapse(page, combo):
    s = sampler(page)
    select(page, s)
    press(page, combo)
    assert node(page, s, "!!n.flags.collapsed")
    press(page, combo)
    assert not node(page, s, "!!n.flags.collapsed")


def check_mode(mode):
    def check(page, combo):
        s = sampler(page)
        select(page, s)
        press(page, combo)
        assert node(page, s, "n.mode") == mode
        press(page, combo)
        assert node(page, s, "n.mode") == 0
    return check


def check_logs(page, combo):
    press(page, combo)
    page.wait_for_selector("#logs-panel", state="visible")
    logged = js(page, "() => fetch('/internal/logs').then(r => r.json())")
    page.wait_for_function("text => document.querySelector('#logs-panel pre').textContent === text", arg=logged or "Nothing logged yet.")
    press(page, combo)
    page.wait_for_selector("#logs-panel", state="hidden")


def check_focus_mode(page, combo):
    assert visible(page, "#toolbar")
    press(page, combo)
    page.wait_for_selector("#toolbar", state="hidden")
    assert js(page, "() => document.getElementById('graph-canvas').getBoundingClientRect().top") == 0
    press(page, combo)
    page.wait_for_selector("#toolbar", state="visible")


def check_undo(page, combo):
    s = sampler(page)
    select(page, s)
    page.keyboard.press("Control+b")
    assert node(page, s, "n.mode") == 4
    press(page, combo)
    assert node(page, s, "n.mode") == 0


def check_redo(page, combo):
    s = sampler(page)
    select(page, s)
    page.keyboard.press("Control+b")
    page.keyboard.press("Control+z")
    press(page, combo)
    assert node(page, s, "n.mode") == 4
    page.keyboard.press("Control+z")
    assert node(page, s, "n.mode") == 0


def check_copy(page, combo):
    select(page, sampler(page))
    js(page, "() => localStorage.removeItem('studio.clipboard')")
    press(page, combo)
    assert [n["type"] for n in json.loads(js(page, "() => localStorage.getItem('studio.clipboard')"))["nodes"]] == ["KSampler"]


def check_paste(page, combo):
    select(page, sampler(page))
    page.keyboard.press("Control+c")
    page.mouse.move(*EMPTY)
    press(page, combo)
    assert len(node_ids(page, "KSampler")) == 2
    page.keyboard.press("Control+z")
    assert len(node_ids(page, "KSampler")) == 1


def check_select_all(page, combo):
    focus_canvas(page)
    press(page, combo)
    assert sorted(js(page, "() => window.studio.selected")) == sorted(js(page, "() => window.studio.graph.nodes.map(n => n.id)"))


def check_delete(page, combo):
    decode = node_ids(page, "VAEDecode")[0]
    select(page, decode)
    press(page, combo)
    assert node_ids(page, "VAEDecode") == []
    page.keyboard.press("Control+z")
    assert node_ids(page, "VAEDecode") == [decode]


def check_escape(page, combo):
    select(page, sampler(page))
    page.mouse.click(*EMPTY, button="right")
    page.wait_for_selector(".menu")
    press(page, combo)
    assert page.locator(".menu").count() == 0 and js(page, "() => window.studio.selected") == []


CHECKS = {
    "Comfy.QueuePrompt": check_queue,
    "Comfy.QueuePromptFront": lambda page, combo: check_queue(page, combo, front=True),
    "Comfy.Interrupt": check_interrupt,
    "Comfy.RefreshNodeDefinitions": check_refresh,
    "Workspace.ToggleSidebarTab.queue": check_toggle("#queue-panel"),
    "Workspace.ToggleSidebarTab.workflows": check_toggle("#workflows-panel"),
    "Workspace.ToggleSidebarTab.node-library": check_node_library,
    "Workspace.ToggleSidebarTab.model-library": check_model_library,
    "Comfy.SaveWorkflow": check_save,
    "Comfy.OpenWorkflow": check_open,
    "Comfy.ClearWorkflow": check_clear,
    "Comfy.Graph.GroupSelectedNodes": check_group,
    "Comfy.ShowSettingsDialog": check_settings,
    "Comfy.Canvas.ZoomIn": check_zoom(1.1),
    "Comfy.Canvas.ZoomOut": check_zoom(1 / 1.1),
    "Comfy.Canvas.FitView": check_fit,
    "Comfy.Canvas.ToggleSelected.Pin": check_pin,
    "Comfy.Canvas.ToggleSelectedNodes.Collapse": check_collapse,
    "Comfy.Canvas.ToggleSelectedNodes.Bypass": check_mode(4),
    "Comfy.Canvas.ToggleSelectedNodes.Mute": check_mode(2),
    "Workspace.ToggleBottomPanelTab.logs-terminal": check_logs,
    "Workspace.ToggleFocusMode": check_focus_mode,
    "Comfy.Undo": check_undo,
    "Comfy.Redo": check_redo,
    "Comfy.Canvas.CopySelected": check_copy,
    "Comfy.Canvas.PasteFromClipboard": check_paste,
    "Comfy.Canvas.SelectAll": check_select_all,
    "Comfy.Canvas.DeleteSelectedItems": check_delete,
    "Studio.CloseAndDeselect": check_escape,
}


@pytest.fixture(scope="module")
def keys_page(browser, server_url, studio_base):
    """One editor for every key (each check leaves the workflow as it found it)."""
    with editor_page(browser, server_url, studio_base) as page:
        yield page


def test_the_tables_hold_comfyuis_defaults_and_every_command_has_a_check():
    core = {(combo_name(c), cmd) for c, cmd in CORE}
    assert ("ctrl+alt+Enter", "Comfy.Interrupt") in core and ("ctrl+Enter", "Comfy.QueuePrompt") in core
    assert ("alt+c", "Comfy.Canvas.ToggleSelectedNodes.Collapse") in core and (".", "Comfy.Canvas.FitView") in core
    assert len(CORE) == 24  # ComfyUI's table but its subgraph command
    assert {cmd for _, cmd in CORE + STUDIO} == set(CHECKS)


# The keys that queue go last: a run's image arriving later changes the Save Image node,
# which an undo in another key's check would take along.
QUEUEING = ("Comfy.QueuePrompt", "Comfy.QueuePromptFront", "Comfy.Interrupt")
ORDER = sorted(CORE + STUDIO, key=lambda row: row[1] in QUEUEING)


@pytest.mark.parametrize("combo, command", ORDER, ids=[f"{cmd}[{combo_name(c)}]" for c, cmd in ORDER])
def test_each_default_keybinding_does_its_job(keys_page, combo, command):
    page = keys_page
    focus_canvas(page)  # nothing selected: Backspace clears the workflow (with a selection it deletes)
    CHECKS[command](page, combo)
    page.keyboard.press("Escape")
    types = sorted(js(page, "() => window.studio.graph.nodes.map(n => n.type)"))
    assert types == DEFAULT_TYPES  # the workflow is as it was for the next key


def test_ctrl_enter_queues_from_inside_a_prompt_and_ctrl_alt_enter_interrupts(keys_page):
    page = keys_page
    focus_canvas(page)
    positive = prompt_node(page, "positive")
    open_text_editor(page, positive)
    page.keyboard.type(", a lighthouse")
    prompts = Requests(page, "/prompt")
    with page.expect_response(lambda r: r.url.endswith("/prompt") and r.request.method == "POST"):
        page.keyboard.press("Control+Enter")
    assert page.locator(".overlay-editor").count() == 0  # the text went in first
    assert widget_value(page, positive, "text").endswith(", a lighthouse")
    assert prompts.bodies()[0]["prompt"][str(positive)]["inputs"]["text"].endswith(", a lighthouse")
    # From inside the tag suggestions too (Ctrl+Shift+Enter: at the front).
    open_text_editor(page, positive)
    page.keyboard.type(", blu")
    page.wait_for_selector(".tag-complete .tag-item")
    with page.expect_response(lambda r: r.url.endswith("/prompt") and r.request.method == "POST"):
        page.keyboard.press("Control+Shift+Enter")
    assert page.locator(".tag-complete").count() == 0 and page.locator(".overlay-editor").count() == 0
    assert prompts.bodies()[1]["front"] is True and prompts.bodies()[1]["prompt"][str(positive)]["inputs"]["text"].endswith(", blu")
    # Ctrl+Alt+Enter in a prompt interrupts and queues nothing.
    open_text_editor(page, positive)
    interrupts = Requests(page, "/interrupt")
    with page.expect_response(lambda r: r.url.endswith("/interrupt")):
        page.keyboard.press("Control+Alt+Enter")
    page.wait_for_timeout(200)
    assert len(interrupts.items) == 1 and len(prompts.items) == 2
    # Plain keys stay text: "q" typed in a prompt opens no panel.
    open_text_editor(page, positive)
    page.keyboard.type("q")
    assert not visible(page, "#queue-panel")
    page.keyboard.press("Escape")
    js(page, "() => fetch('/queue', {method: 'POST', body: JSON.stringify({clear: true})}).then(() => fetch('/interrupt', {method: 'POST'}))")


def keybinding_row(page, command: str):
    return page.locator(f".keybinding-row[data-command='{command}']")


def stored(base: Path) -> dict:
    return json.loads((base / "user" / "default" / "comfy.settings.json").read_text(encoding="utf-8"))


def wait_stored(page, base: Path, ready, tries: int = 50) -> dict:
    """The server's settings file once `ready(settings)` holds (saving is asynchronous)."""
    for _ in range(tries):
        settings = stored(base)
        if ready(settings):
            return settings
        page.wait_for_timeout(100)
    raise AssertionError(f"settings never got there: {settings}")


def test_a_key_changed_in_the_editor_works_after_a_reload(page, studio_base):
    focus_canvas(page)
    page.keyboard.press("Control+,")
    page.fill(".settings-search", "fit the view")
    row = keybinding_row(page, "Comfy.Canvas.FitView")
    assert row.locator("kbd").all_inner_texts() == ["."]
    row.locator(".keybinding-change").click()
    page.keyboard.press("k")
    page.wait_for_function("() => document.querySelector(\".keybinding-row[data-command='Comfy.Canvas.FitView'] kbd\")?.textContent === 'K'")
    shot(page, "60_keybinding_editor")
    # Kept as ComfyUI keeps it: the new binding, and the default one unset.
    settings = wait_stored(page, studio_base, lambda s: s.get("Comfy.Keybinding.UnsetBindings"))
    assert {"commandId": "Comfy.Canvas.FitView", "combo": {"key": "k", "ctrl": False, "alt": False, "shift": False}} in settings["Comfy.Keybinding.NewBindings"]
    assert any(b["commandId"] == "Comfy.Canvas.FitView" and b["combo"]["key"] == "." for b in settings["Comfy.Keybinding.UnsetBindings"])
    page.keyboard.press("Escape")
    page.reload()
    page.wait_for_function("() => window.studio && window.studio.ready")
    drag(page, EMPTY, (EMPTY[0] + 500, EMPTY[1] - 300))
    assert not all_in_view(page)
    page.keyboard.press(".")  # the old key does nothing now
    assert not all_in_view(page)
    page.keyboard.press("k")
    assert all_in_view(page)
    # A key another command has: the conflict is shown, and taken only when asked.
    page.keyboard.press("Control+,")
    page.fill(".settings-search", "fit the view")
    keybinding_row(page, "Comfy.Canvas.FitView").locator(".keybinding-change").click()
    page.keyboard.press("q")
    capture = keybinding_row(page, "Comfy.Canvas.FitView").locator(".keybinding-capture.conflict")
    assert "Show or hide the queue" in capture.inner_text()
    capture.locator(".keybinding-take").click()
    page.wait_for_function("() => document.querySelector(\".keybinding-row[data-command='Comfy.Canvas.FitView'] kbd\")?.textContent === 'Q'")
    page.fill(".settings-search", "queue")
    assert keybinding_row(page, "Workspace.ToggleSidebarTab.queue").locator("kbd").count() == 0
    page.keyboard.press("Escape")
    focus_canvas(page)
    drag(page, EMPTY, (EMPTY[0] + 500, EMPTY[1] - 300))
    page.keyboard.press("q")
    assert all_in_view(page) and not visible(page, "#queue-panel")
    # Reset: back to ".", and "q" opens the queue again once its own binding is reset.
    page.keyboard.press("Control+,")
    page.fill(".settings-search", "fit the view")
    keybinding_row(page, "Comfy.Canvas.FitView").locator(".keybinding-reset").click()
    page.wait_for_function("() => document.querySelector(\".keybinding-row[data-command='Comfy.Canvas.FitView'] kbd\")?.textContent === '.'")
    page.fill(".settings-search", "queue")
    keybinding_row(page, "Workspace.ToggleSidebarTab.queue").locator(".keybinding-reset").click()
    page.wait_for_function("() => document.querySelector(\".keybinding-row[data-command='Workspace.ToggleSidebarTab.queue'] kbd\")?.textContent === 'Q'")
    page.keyboard.press("Escape")
    focus_canvas(page)
    page.keyboard.press("q")
    page.wait_for_selector("#queue-panel", state="visible")
    wait_stored(page, studio_base, lambda s: s["Comfy.Keybinding.NewBindings"] == [] and s["Comfy.Keybinding.UnsetBindings"] == [])
