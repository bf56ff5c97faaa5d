"""The queue panel's workers list, with prompts on two Ray workers: both run at once, each
listed with its device and prompt, interrupted from the panel, then idle with their model."""
from __future__ import annotations

import json
import urllib.request

import pytest

from tests.browser.conftest import editor_page
from tests.browser.harness import ServerThread
from tests.browser.helpers import drop_json, shot, wait_loaded
from tests.browser.workflows import txt2img_ui

pytest.importorskip("ray")


@pytest.fixture(scope="module")
def pool_server(ray_pool):
    from tests.ray_test_nodes import NODES

    base, runners = ray_pool
    server = ServerThread(base, registry=NODES, runners=runners).start()
    yield server, base
    server.stop()


def test_two_workers_run_side_by_side_and_are_listed(browser, pool_server):
    server, base = pool_server
    with urllib.request.urlopen(f"{server.url}/system_stats") as response:
        done_before = {w["id"]: w["prompts_run"] for w in json.load(response)["workers"]}
    with editor_page(browser, server.url, base) as page:
        drop_json(page, txt2img_ui(steps=10000, size=64, ckpt="tiny_a.safetensors"), "long.json")
        wait_loaded(page, 7)
        page.click("#panel-button")
        page.wait_for_selector("#workers-list .worker-item >> nth=1")
        assert page.locator("#workers-list .worker-item").count() == 2
        page.fill("#batch-count", "2")
        page.click("#queue-button")
        page.wait_for_function("() => document.querySelectorAll('.queue-item.running').length === 2", timeout=60_000)
        page.wait_for_function(
            "() => [...document.querySelectorAll('#workers-list .worker-state')].filter(s => s.textContent.startsWith('running #')).length === 2",
            timeout=30_000)
        text = page.inner_text("#workers-list")
        assert "worker-1" in text and "worker-2" in text and "cpu" in text
        shot(page, "40_two_workers_running")
        for left in (1, 0):  # interrupt each from its own row
            page.click(".queue-item.running button >> nth=0")
            page.wait_for_function(f"() => document.querySelectorAll('.queue-item.running').length === {left}",
                                   timeout=60_000)
        page.wait_for_function(
            "() => [...document.querySelectorAll('#workers-list .worker-state')].every(s => s.textContent === 'idle')",
            timeout=30_000)
        models = page.locator("#workers-list .worker-models").all_inner_texts()
        assert models == ["tiny_a.safetensors", "tiny_a.safetensors"]
    with urllib.request.urlopen(f"{server.url}/system_stats") as response:
        listed = json.load(response)["workers"]
    assert sorted(w["id"] for w in listed) == ["worker-1", "worker-2"]
    assert all(w["prompts_run"] == done_before[w["id"]] + 1 for w in listed)
