"""What add-ons contribute to the server: web extension folders, a load report to show,
and hooks that see each POST /prompt body first. Filled by whoever loads them (the
custom node loader); the server only serves what is here."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

log = logging.getLogger(__name__)

PromptHook = Callable[[dict], Any]


def run_prompt_hooks(hooks: Iterable[PromptHook], body: dict) -> dict:
    """Each hook may change the body (ComfyUI's on_prompt handlers); a failing hook is
    logged and skipped, and one that returns no dict leaves the body as it was."""
    for hook in list(hooks):
        try:
            changed = hook(body)
        except Exception:
            log.exception("an on-prompt handler failed; the prompt goes on without it")
            continue
        if isinstance(changed, dict):
            body = changed
    return body


@dataclass
class ServerExtensions:
    web_dirs: dict[str, Path] = field(default_factory=dict)  # name -> folder served at /extensions/<name>/
    pack_dirs: dict[str, Path] = field(default_factory=dict)  # loaded packs' folders (locales, examples)
    packs: list[dict] = field(default_factory=list)  # load reports, for the editor
    on_prompt: list[PromptHook] = field(default_factory=list)

    def run_prompt_hooks(self, body: dict) -> dict:
        return run_prompt_hooks(self.on_prompt, body)
