"""The editor's own strings: every English text the frontend passes through t(), marks
with data-i18n in index.html, or translates by value (queue states, tag categories).
A locale's ui.json must translate all of them: `python scripts/ui_strings.py zh` lists
what is missing."""
from __future__ import annotations

import json
import re
import sys
from html import unescape
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FRONTEND = ROOT / "frontend"
# Texts translated by value at run time rather than written as t("...") literals.
DYNAMIC = (
    "running", "pending", "success", "error", "default workflow", "autosave", "workflow",
    "general", "artist", "copyright", "character", "meta", "starting", "lost",
)
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _calls(source: str) -> list[str]:
    """The argument text of each t(...) call, up to its closing parenthesis."""
    out = []
    for match in re.finditer(r"(?<![\w.])t\(", source):
        depth, i = 1, match.end()
        while i < len(source) and depth:
            depth += {"(": 1, ")": -1}.get(source[i], 0)
            i += 1
        out.append(source[match.end(): i - 1])
    return out


def ui_strings(frontend: Path = FRONTEND, extra_categories: tuple[str, ...] = ()) -> set[str]:
    keys: set[str] = set(DYNAMIC) | set(extra_categories)
    for path in sorted((frontend / "js").glob("*.js")):
        for args in _calls(path.read_text(encoding="utf-8")):
            head = args.split(", {")[0]  # the {vars} object holds no keys
            keys.update(json.loads(f'"{s}"') for s in _STRING.findall(head))
    html = (frontend / "index.html").read_text(encoding="utf-8")
    keys.update(unescape(v) for v in re.findall(r'data-i18n(?:-title|-placeholder)?="([^"]*)"', html))
    return keys


def tag_categories(tags_csv: Path = ROOT / "data" / "tags" / "tags.csv") -> tuple[str, ...]:
    """The categories of the shipped tag list, shown beside each suggestion."""
    import csv

    if not tags_csv.is_file():
        return ()
    with tags_csv.open(encoding="utf-8", newline="") as handle:
        rows = csv.reader(handle)
        next(rows, None)
        return tuple(sorted({row[1] for row in rows if len(row) > 1}))


def missing(code: str) -> list[str]:
    table: dict = {}
    for path in sorted((FRONTEND / "locales" / code).glob("*.json")):
        table.update(json.loads(path.read_text(encoding="utf-8")).get("ui", {}))
    return sorted(k for k in ui_strings(extra_categories=tag_categories()) if not table.get(k))


if __name__ == "__main__":
    for key in missing(sys.argv[1] if len(sys.argv) > 1 else "zh"):
        print(key)
