"""ComfyUI's own frontend (the pinned comfyui-frontend-package) against the real server on
a tiny checkpoint: boot, template browser, node library, the default SD1 graph run, a
setting that survives a reload, a saved workflow in its list, and the mask editor."""
from __future__ import annotations

import io
import json
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image

from tests.browser.conftest import VIEWPORT
from tests.browser.harness import ServerThread, free_port

comfy_frontend = pytest.importorskip("comfyui_frontend_package", reason="requirements-comfy-frontend.txt installs it")
BOOTED = "() => window.app && window.app.graph && window.app.extensionManager && window.app.extensionManager.setting"


@pytest.fixture(scope="module")
def comfy_server(tmp_path_factory):
    from cli.frontends import comfy_frontend_dir
    from tests.tiny_models import write_tiny_checkpoint

    base = tmp_path_factory.mktemp("comfy_frontend")
    (base / "models" / "checkpoints").mkdir(parents=True)
    write_tiny_checkpoint(base / "models" / "checkpoints" / "tiny.safetensors")
    server = ServerThread(base, free_port(), frontend_dir=comfy_frontend_dir()).start()
    server.base = base
    yield server
    server.stop()


def _post_json(url: str, body) -> None:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request).close()


@pytest.fixture
def comfy_page(browser, comfy_server):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.page_errors = []
    page.on("pageerror", lambda exc: page.page_errors.append(str(exc)))
    yield page
    context.close()
    assert not page.page_errors, f"JavaScript errors: {page.page_errors}"


def _open(page, server, returning_user: bool = True):
    if returning_user:  # a user who has seen the first-run template browser already
        _post_json(server.url + "/api/settings", {"Comfy.TutorialCompleted": True})
    page.goto(server.url + "/")
    page.wait_for_function(BOOTED, timeout=60_000)


def _command(page, command_id: str) -> None:
    """Start one of the frontend's commands (not awaited: some wait for a dialog's answer)."""
    page.evaluate("(id) => { window.app.extensionManager.command.execute(id); }", command_id)


def test_first_boot_shows_the_shipped_workflows_as_templates(comfy_page, comfy_server):
    requests = []
    comfy_page.on("request", lambda r: requests.append(r.url))
    _open(comfy_page, comfy_server, returning_user=False)
    assert any(url.endswith("/api/object_info") for url in requests)
    comfy_page.get_by_text("txt2img shape fix").first.wait_for(timeout=30_000)
    with comfy_page.expect_response(lambda r: r.url.endswith("/templates/txt2img.json")) as template:
        comfy_page.get_by_text("txt2img", exact=True).first.click()
    assert template.value.status == 200
    comfy_page.wait_for_function("() => window.app.graph.nodes.some(n => n.type === 'KSampler')", timeout=30_000)
    types = comfy_page.evaluate("() => window.app.graph.nodes.map(n => n.type)")
    assert {"CheckpointLoaderSimple", "CLIPTextEncode", "KSampler", "VAEDecode", "SaveImage"} <= set(types)


def test_node_library_lists_the_apps_nodes(comfy_page, comfy_server):
    _open(comfy_page, comfy_server)
    _command(comfy_page, "Workspace.ToggleSidebarTab.node-library")
    comfy_page.get_by_text("face swap", exact=True).first.wait_for(timeout=20_000)
    comfy_page.get_by_text("detailer", exact=True).first.wait_for(timeout=20_000)
    registered = comfy_page.evaluate("() => Object.keys(window.LiteGraph.registered_node_types)")
    assert {"KSampler", "ReActorFaceSwap", "DetailerForEach", "UltralyticsDetectorProvider"} <= set(registered)


def test_default_sd1_graph_runs_and_its_image_shows(comfy_page, comfy_server):
    _open(comfy_page, comfy_server)
    comfy_page.wait_for_function("() => window.app.graph.nodes.some(n => n.type === 'SaveImage')", timeout=30_000)
    assert comfy_page.evaluate(
        "() => window.app.graph.nodes.find(n => n.type === 'CheckpointLoaderSimple').widgets[0].value") == "tiny.safetensors"
    comfy_page.evaluate("""() => { for (const n of window.app.graph.nodes) for (const w of n.widgets || []) {
        if (w.name === 'width' || w.name === 'height') w.value = 64;
        if (w.name === 'steps') w.value = 2; } }""")
    with comfy_page.expect_response(lambda r: "/api/view?" in r.url and "ComfyUI_" in r.url, timeout=120_000) as shown:
        comfy_page.get_by_role("button", name="Run").first.click()
        _command(comfy_page, "Comfy.Canvas.FitView")  # the Save Image node on screen, where its image is drawn
        comfy_page.wait_for_function(
            "() => window.app.graph.nodes.find(n => n.type === 'SaveImage').imgs?.length > 0", timeout=120_000)
    assert shown.value.status == 200 and shown.value.headers["content-type"] == "image/png"
    jobs = json.loads(urllib.request.urlopen(comfy_server.url + "/api/jobs?status=completed").read())
    assert jobs["jobs"][0]["preview_output"]["filename"].startswith("ComfyUI_")
    saved = list((comfy_server.base / "output").glob("ComfyUI_*.png"))
    assert saved and Image.open(saved[0]).size == (64, 64)


def test_a_setting_survives_a_reload_and_lives_on_the_server(comfy_page, comfy_server):
    _open(comfy_page, comfy_server)
    assert comfy_page.locator("canvas.minimap-canvas").count() == 1
    comfy_page.evaluate("() => window.app.extensionManager.setting.set('Comfy.Minimap.Visible', false)")
    settings_file = comfy_server.base / "user" / "default" / "comfy.settings.json"
    deadline = time.time() + 10
    while time.time() < deadline and json.loads(settings_file.read_text()).get("Comfy.Minimap.Visible") is not False:
        time.sleep(0.2)
    assert json.loads(settings_file.read_text())["Comfy.Minimap.Visible"] is False
    comfy_page.reload()
    comfy_page.wait_for_function(BOOTED, timeout=60_000)
    comfy_page.wait_for_function("() => window.app.graph.nodes.length > 0", timeout=30_000)
    assert comfy_page.evaluate("() => window.app.extensionManager.setting.get('Comfy.Minimap.Visible')") is False
    assert comfy_page.locator("canvas.minimap-canvas").count() == 0
    _post_json(comfy_server.url + "/api/settings/Comfy.Minimap.Visible", True)


def test_a_saved_workflow_appears_in_its_workflow_list(comfy_page, comfy_server):
    _open(comfy_page, comfy_server)
    comfy_page.wait_for_function("() => window.app.graph.nodes.length > 0", timeout=30_000)
    with comfy_page.expect_response(lambda r: "/api/userdata/workflows%2F" in r.url and r.request.method == "POST") as saved:
        _command(comfy_page, "Comfy.SaveWorkflow")
        name_box = comfy_page.locator("input[type=text]").filter(has_not=comfy_page.locator(".p-inputnumber")).last
        name_box.wait_for(timeout=10_000)
        name_box.fill("bottle scene")
        name_box.press("Enter")
    assert saved.value.status == 200
    stored = comfy_server.base / "user" / "default" / "workflows" / "bottle scene.json"
    assert json.loads(stored.read_text())["nodes"]
    _command(comfy_page, "Workspace.ToggleSidebarTab.workflows")
    comfy_page.locator(".side-bar-panel, .sidebar-content-container, body").get_by_text("bottle scene").first.wait_for(timeout=20_000)
    listing = json.loads(urllib.request.urlopen(
        comfy_server.url + "/api/userdata?dir=workflows&recurse=true&full_info=true").read())
    assert [entry["path"] for entry in listing] == ["bottle scene.json"]


def _upload_red_square(server) -> str:
    import requests

    data = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 40, 40)).save(data, "PNG")
    answer = requests.post(server.url + "/api/upload/image", files={"image": ("red.png", data.getvalue(), "image/png")},
                           data={"type": "input", "overwrite": "true"})
    answer.raise_for_status()
    return answer.json()["name"]


def test_a_mask_drawn_in_the_mask_editor_reaches_upload_mask(comfy_page, comfy_server):
    name = _upload_red_square(comfy_server)
    _open(comfy_page, comfy_server)
    comfy_page.evaluate("""(name) => { const node = window.LiteGraph.createNode('LoadImage');
        window.app.graph.add(node); node.pos = [60, 60];
        const widget = node.widgets.find(w => w.name === 'image'); widget.value = name; widget.callback?.(name);
        window.app.canvas.selectNode(node); window.__maskNode = node.id; }""", name)
    _command(comfy_page, "Comfy.MaskEditor.OpenMaskEditor")
    comfy_page.get_by_text("Mask Editor").first.wait_for(timeout=20_000)
    drawing = comfy_page.locator("canvas.z-30")
    drawing.wait_for(timeout=20_000)
    comfy_page.wait_for_timeout(500)
    box = drawing.bounding_box()
    comfy_page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5)
    comfy_page.mouse.down()
    for step in range(20):
        comfy_page.mouse.move(box["x"] + box["width"] * (0.3 + 0.02 * step), box["y"] + box["height"] * 0.5, steps=2)
    comfy_page.mouse.up()
    with comfy_page.expect_response(lambda r: "/api/upload/mask" in r.url, timeout=30_000) as uploaded:
        comfy_page.locator("button:has-text('Save')").last.click()
    assert uploaded.value.status == 200
    comfy_page.wait_for_function(
        "() => window.app.graph.getNodeById(window.__maskNode).widgets[0].value.includes('masked')", timeout=30_000)
    value = comfy_page.evaluate("() => window.app.graph.getNodeById(window.__maskNode).widgets[0].value")
    relative = value.replace(" [input]", "")
    masked = Image.open(comfy_server.base / "input" / relative)
    assert masked.mode == "RGBA" and masked.size == (64, 64)
    alpha = np.asarray(masked.getchannel("A"))
    assert alpha.min() < 128 and alpha.max() == 255  # the stroke is in the alpha, the rest is kept
    assert np.asarray(masked.convert("RGB"))[0, 0].tolist() == [200, 40, 40]
    folder, _, file_name = relative.rpartition("/")
    view = urllib.request.urlopen(f"{comfy_server.url}/api/view?filename={urllib.request.quote(file_name)}"
                                  f"&subfolder={folder}&type=input")
    assert view.status == 200 and Image.open(io.BytesIO(view.read())).size == (64, 64)
