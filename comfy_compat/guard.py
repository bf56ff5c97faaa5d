"""Packs may not change the Python environment: pip runs started by pack code are refused.

Many packs try to `pip install` their requirements when imported. Here a pack's
requirements are listed by `main.py nodes deps` and installed, checked against the
pinned torch, by `main.py nodes install-deps`; while pack code runs (its import, its
nodes), an audit hook refuses subprocesses and in-process pip that would install.
"""
from __future__ import annotations

import contextlib
import re
import sys
import threading
from typing import Iterator

_INSTALL = re.compile(r"(\bpip3?(\.exe)?\b|\buv\b|\bmim\b|\bconda\b|\bmamba\b|easy_install)[^\n]*\binstall\b|"
                      r"\bensurepip\b", re.IGNORECASE)
_WATCHED = frozenset({"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "import"})
_local = threading.local()
_installed = False
_lock = threading.Lock()


class PackInstallRefused(PermissionError):
    """A pack tried to install packages."""


def _command_text(event: str, args: tuple) -> str:
    if event == "os.system":
        return str(args[0])
    if event == "subprocess.Popen" and isinstance(args[1], (list, tuple)):
        return " ".join(str(v) for v in args[1])
    parts: list[str] = []
    for value in args[:3]:
        if isinstance(value, (list, tuple)):
            parts.extend(str(v) for v in value)
        elif value is not None:
            parts.append(str(value))
    return " ".join(parts)


def _hook(event: str, args: tuple) -> None:
    if event not in _WATCHED:
        return
    pack = getattr(_local, "pack", None)
    if pack is None:
        return
    if event == "import":
        module = str(args[0])
        if module == "pip._internal" or module.startswith("pip._internal."):
            raise PackInstallRefused(f"pack {pack} tried to run pip inside the app; install its requirements with "
                                     f"`main.py nodes install-deps {pack}`")
        return
    command = _command_text(event, args)
    if _INSTALL.search(command):
        raise PackInstallRefused(f"pack {pack} tried to install packages ({command[:120]}); packs may not change "
                                 f"the environment here: run `main.py nodes install-deps {pack}`")


def _ensure_hook() -> None:
    global _installed
    with _lock:
        if not _installed:
            sys.addaudithook(_hook)
            _installed = True


@contextlib.contextmanager
def pack_guard(pack: str) -> Iterator[None]:
    """While the block runs on this thread, pack code may not install packages."""
    _ensure_hook()
    previous = getattr(_local, "pack", None)
    _local.pack = pack
    try:
        yield
    finally:
        _local.pack = previous
