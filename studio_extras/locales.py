"""UI translations: frontend/locales/CODE/*.json shipped with the app, overridden or
extended by BASE/user/locales/CODE/*.json, so users can fix a wording or add a
language without editing the app's files (and keep it across updates).

A locale is the deep merge of its files: shipped ones by file name, then the user's;
later values win, nested objects merge. A file that is not a JSON object is skipped
and named in the result's "_problems" list, so one typo never blanks the whole UI.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

from server.json_files import UnreadableFile, read_json_file

CODE_RE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?$")
MAX_LOCALE_FILE_BYTES = 8 * 1024 * 1024


def deep_merge(base: dict, update: dict) -> dict:
    """`base` with `update` laid over it: objects merge key by key, anything else replaces."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class Locales:
    """Locale folders under the shipped and the user locales folders."""

    def __init__(self, shipped_dir: Path, user_dir: Path) -> None:
        self.roots = (("shipped", Path(shipped_dir)), ("user", Path(user_dir)))

    def codes(self) -> list[str]:
        found = set()
        for _, root in self.roots:
            if root.is_dir():
                found.update(p.name for p in root.iterdir() if p.is_dir() and CODE_RE.match(p.name))
        return sorted(found, key=str.lower)

    def listing(self) -> list[dict]:
        """[{"code", "name"}]: the name is the locale's own top-level "name" (e.g. "中文")."""
        out = []
        for code in self.codes():
            merged = self.merged(code) or {}
            name = merged.get("name")
            out.append({"code": code, "name": name if isinstance(name, str) and name.strip() else code})
        return out

    def merged(self, code: str) -> Optional[dict]:
        """The merged translations, or None when no folder has this locale. The code must
        have been checked against CODE_RE (it names a folder)."""
        if not CODE_RE.match(code):
            raise ValueError(f"{code!r} is not a locale code")
        folders = [(origin, root / code) for origin, root in self.roots if (root / code).is_dir()]
        if not folders:
            return None
        merged: dict[str, Any] = {}
        problems = []
        for origin, folder in folders:
            for path in sorted(p for p in folder.glob("*.json") if p.is_file() and not p.name.startswith(".")):
                try:
                    data = read_json_file(path, MAX_LOCALE_FILE_BYTES)
                except (UnreadableFile, FileNotFoundError) as exc:
                    problems.append({"file": f"{code}/{path.name}", "origin": origin, "error": str(exc)})
                    continue
                if not isinstance(data, dict):
                    problems.append({"file": f"{code}/{path.name}", "origin": origin, "error": "not a JSON object"})
                    continue
                merged = deep_merge(merged, data)
        merged.pop("_problems", None)
        if problems:
            merged["_problems"] = problems
        return merged
