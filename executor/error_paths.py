"""Server paths taken out of what a failed prompt reports to its client.

An `execution_error` carries the exception's message and traceback, as in ComfyUI, but
with file names relative to the app folder, the code or the installed packages: the
client learns where in the code it broke, not how the server's disk is laid out. The log
keeps the full paths.
"""
from __future__ import annotations

import site
import sys
import sysconfig
from pathlib import Path
from typing import Iterable

CODE_DIR = Path(__file__).resolve().parent.parent


def path_roots(app_dirs: Iterable[tuple[Path, str]]) -> list[tuple[str, str]]:
    """(prefix, shown as) pairs, longest first so the most specific prefix wins;
    `app_dirs` are the app's folders with the name each is shown as ("" or "models/")."""
    pairs: dict[str, str] = {}
    for directory, shown in app_dirs:
        pairs[str(Path(directory).resolve())] = shown
        pairs[str(Path(directory))] = shown
    for packages in {*site.getsitepackages(), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}:
        pairs[str(packages)] = "<site-packages>/"
    pairs[str(CODE_DIR)] = ""
    pairs[sysconfig.get_paths()["stdlib"]] = "<python>/"
    pairs[sys.prefix] = "<python>/"
    return sorted(pairs.items(), key=lambda pair: len(pair[0]), reverse=True)


def without_paths(text: str, roots: list[tuple[str, str]]) -> str:
    """`text` with every absolute prefix in `roots` made relative."""
    for prefix, shown in roots:
        if prefix and prefix in text:
            text = text.replace(prefix + "/", shown).replace(prefix, shown.rstrip("/") or ".")
    return text
