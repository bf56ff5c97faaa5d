"""Browser test fixtures: the real server on a tiny random-weight SD1 checkpoint (in a
background thread), one headless Debian Chromium for the session, a fresh page per test."""
from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

import pytest

from tests.browser.harness import CHROMIUM, CHROMIUM_ARGS, ServerThread, free_port

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "tests" / "output" / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}

playwright_sync = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="package")
def studio_base(tmp_path_factory) -> Path:
    from tests.tiny_models import write_tiny_checkpoint

    base = tmp_path_factory.mktemp("studio_browser")
    checkpoints = base / "models" / "checkpoints"
    checkpoints.mkdir(parents=True)
    write_tiny_checkpoint(checkpoints / "tiny.safetensors")
    return base


# Package scope: Playwright's sync API keeps an event loop running in this thread while a
# browser is open, which would break later tests that call asyncio.run(); everything here
# closes when the last browser test is done.
@pytest.fixture(scope="package")
def server_url(studio_base) -> str:
    server = ServerThread(studio_base, free_port())
    server.start()
    yield f"http://127.0.0.1:{server.port}"
    server.stop()


@pytest.fixture(scope="package")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (scripts/setup.sh --test installs it)")
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="package", autouse=True)
def screenshot_dir() -> Path:
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


EDITOR_SETTING_PREFIXES = ("Studio.", "Comfy.", "pysssss.")


def forget_editor_settings(base: Path) -> None:
    """Drop the editor's settings (Studio.*, and the ComfyUI ids it shares: Comfy.*,
    pysssss.*) from the user's settings file: the server keeps them across browsers, so a
    language, theme or keybinding one test chose would follow the next."""
    path = base / "user" / "default" / "comfy.settings.json"
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    kept = {k: v for k, v in settings.items() if not k.startswith(EDITOR_SETTING_PREFIXES)}
    if kept != settings:
        path.write_text(json.dumps(kept, indent=1), encoding="utf-8")


@contextlib.contextmanager
def editor_page(browser, server_url: str, studio_base: Path):
    """A fresh context (empty localStorage, no editor settings on the server) with the
    editor open and ready; no JavaScript error may happen while it is used."""
    forget_editor_settings(studio_base)
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server_url + "/")
    page.wait_for_function("() => window.studio && window.studio.ready", timeout=30_000)
    page.js_errors = errors
    yield page
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


@pytest.fixture
def page(browser, server_url, studio_base):
    with editor_page(browser, server_url, studio_base) as opened:
        yield opened
