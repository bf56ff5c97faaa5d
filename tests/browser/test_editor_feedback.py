"""Run feedback: progress in the tab title and a progress bar while a prompt runs, the
running node and its progress back at once after a reload, and a server that goes away
shown as disconnected (nothing looks busy) and then as reconnected when it is back."""
from __future__ import annotations

import json
import urllib.request

import pytest

from tests.browser.conftest import VIEWPORT
from tests.browser.harness import ServerThread, free_port
from tests.browser.helpers import drop_json, shot, wait_loaded
from tests.browser.workflows import txt2img_ui


@pytest.fixture
def own_server(tmp_path):
    """A server of this test's own (it is stopped and started again on the same port)."""
    from tests.tiny_models import write_tiny_checkpoint

    checkpoints = tmp_path / "models" / "checkpoints"
    checkpoints.mkdir(parents=True)
    write_tiny_checkpoint(checkpoints / "tiny.safetensors")
    holder = {"server": ServerThread(tmp_path, free_port()).start()}
    yield tmp_path, holder
    holder["server"].stop()


def ready(page) -> None:
    page.wait_for_function("() => window.studio && window.studio.ready", timeout=30_000)


def test_progress_title_reload_and_a_server_that_goes_away(browser, own_server):
    base, holder = own_server
    url = holder["server"].url
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url + "/")
    ready(page)
    page.wait_for_selector("#connection[data-state='connected']")
    drop_json(page, txt2img_ui(steps=10000, size=64), "long.json")
    wait_loaded(page, 7)
    page.click("#queue-button")
    page.wait_for_function("() => window.studio.running === 3 && window.studio.progress", timeout=60_000)
    page.wait_for_function("() => /^\\[\\d+%\\] .*SD Studio$/.test(document.title)")
    assert page.is_visible("#run-progress")
    # A reload while the sampler runs: the tab comes back with the running node and its progress.
    page.reload()
    ready(page)
    page.wait_for_function("() => window.studio.running === 3 && window.studio.progress && window.studio.progress.value > 0", timeout=30_000)
    assert page.is_visible("#run-progress")
    shot(page, "62_progress_after_reload")
    with urllib.request.urlopen(urllib.request.Request(url + "/interrupt", data=b"{}", method="POST")):
        pass
    page.wait_for_function("() => window.studio.running === null", timeout=60_000)
    page.wait_for_function("() => /^\\*?long - SD Studio$/.test(document.title)")
    assert page.is_hidden("#run-progress")

    # The server stops: the page says so, nothing looks busy, the title says offline.
    port = holder["server"].port
    holder["server"].stop()
    page.wait_for_selector("#connection[data-state='reconnecting']", timeout=15_000)
    assert page.evaluate("() => window.studio.running") is None
    page.wait_for_function("() => document.title.startsWith('[offline] ')")
    page.wait_for_selector(".toast.warn")
    shot(page, "63_server_away")
    # It comes back on the same port: reconnected without a reload.
    holder["server"] = ServerThread(base, port).start()
    page.wait_for_selector("#connection[data-state='connected']", timeout=15_000)
    page.wait_for_function("() => !document.title.includes('offline')")
    with urllib.request.urlopen(url + "/queue") as response:
        assert json.load(response)["queue_running"] == []
    context.close()
    assert not errors
