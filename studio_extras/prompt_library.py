"""The prompt library: ready-made prompt snippets by category, shipped with the app
(data/prompt_library.json) plus the user's own (BASE/user/prompt_library.json).

Both files have one shape: {"categories": [{"id", "label": {lang: text}, "snippets":
[{"label": {lang: text}, "text"}]}]}. Shipped snippets get ids "CATEGORY/INDEX" and
cannot be deleted; user snippets get ids "u" + hex and live in the user folder, so app
updates never touch them.
"""
from __future__ import annotations

import re
import threading
import uuid
from pathlib import Path
from typing import Any, Optional

from server.json_files import JsonDocument, UnreadableFile, file_stamp, read_json_file

FILE_NAME = "prompt_library.json"
CATEGORY_RE = re.compile(r"^[a-z0-9_-]{1,40}$")
LANGUAGE_RE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?$")
TEXT_MAX = 2000
LABEL_MAX = 100
UI_LANGUAGES = ("en", "zh")  # a plain-string label is shown in every language the app ships


class ShippedSnippet(Exception):
    """Shipped snippets are part of the app; only the user's own can be deleted."""


class UnknownSnippet(KeyError):
    pass


# ---------------------------------------------------------------- validation


def clean_label(value: Any) -> tuple[Optional[dict], Optional[str]]:
    """({language: text}, None) or (None, message). A string stands for every UI language."""
    if isinstance(value, str):
        value = {lang: value for lang in UI_LANGUAGES}
    if not isinstance(value, dict) or not value:
        return None, "must be a string or an object like {\"en\": ..., \"zh\": ...}"
    label = {}
    for lang, text in value.items():
        if not isinstance(lang, str) or not LANGUAGE_RE.match(lang):
            return None, f"{lang!r} is not a language code"
        if not isinstance(text, str) or not text.strip():
            return None, f"the {lang} label must be a non-empty string"
        if len(text.strip()) > LABEL_MAX:
            return None, f"at most {LABEL_MAX} characters"
        label[lang] = text.strip()
    return label, None


def validate_snippet(body: Any) -> tuple[dict, dict[str, str]]:
    """(clean {"category", "text", "label", "category_label"?}, {field: message})."""
    if not isinstance(body, dict):
        return {}, {"body": "must be a JSON object with 'category', 'text' and 'label'"}
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    category = body.get("category")
    if not isinstance(category, str) or not CATEGORY_RE.match(category):
        errors["category"] = "1 to 40 characters among a-z, 0-9, '_' and '-'"
    else:
        clean["category"] = category
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        errors["text"] = "a snippet needs some text"
    elif len(text.strip()) > TEXT_MAX:
        errors["text"] = f"at most {TEXT_MAX} characters"
    else:
        clean["text"] = text.strip()
    if body.get("label") is None:
        if "text" in clean:  # no label: the start of the text names it
            short = clean["text"][:LABEL_MAX]
            clean["label"] = {lang: short for lang in UI_LANGUAGES}
    else:
        clean["label"], problem = clean_label(body["label"])
        if problem:
            errors["label"] = problem
    if body.get("category_label") is not None:
        clean["category_label"], problem = clean_label(body["category_label"])
        if problem:
            errors["category_label"] = problem
    for key in set(body) - {"category", "text", "label", "category_label"}:
        errors[key] = "unknown field"
    return clean, errors


# ---------------------------------------------------------------- reading the files


def _read_categories(data: Any, problems: list[str], where: str) -> list[dict]:
    """Well-formed categories of the shipped file, snippets with ids "CATEGORY/INDEX";
    anything malformed is skipped and named in `problems`."""
    raw = data.get("categories") if isinstance(data, dict) else None
    if not isinstance(raw, list):
        problems.append(f"{where}: expected an object with a 'categories' list")
        return []
    categories = []
    for i, category in enumerate(raw):
        cid = category.get("id") if isinstance(category, dict) else None
        if not isinstance(cid, str) or not CATEGORY_RE.match(cid):
            problems.append(f"{where}: category {i} has no valid 'id'")
            continue
        if any(c["id"] == cid for c in categories):
            problems.append(f"{where}: category '{cid}' appears twice; the second is skipped")
            continue
        label, _ = clean_label(category.get("label")) if category.get("label") is not None else (None, None)
        snippets = []
        raw_snippets = category.get("snippets")
        for j, snippet in enumerate(raw_snippets if isinstance(raw_snippets, list) else []):
            text = snippet.get("text") if isinstance(snippet, dict) else None
            snippet_label, _ = clean_label(snippet.get("label")) if isinstance(snippet, dict) else (None, None)
            if not isinstance(text, str) or not text.strip() or snippet_label is None:
                problems.append(f"{where}: snippet {j} of '{cid}' needs 'label' and 'text'")
                continue
            # the id is the place in the file, so fixing one bad entry does not renumber the rest
            snippets.append({"id": f"{cid}/{j}", "label": snippet_label, "text": text.strip(), "user": False})
        categories.append({"id": cid, "label": label, "snippets": snippets})
    return categories


def _empty_user() -> dict:
    return {"version": 1, "categories": []}


def _checked_user(data: Any) -> dict:
    """The user file's data if this module wrote it (rewriting anything else could lose it)."""
    if not isinstance(data, dict) or not isinstance(data.get("categories"), list):
        raise UnreadableFile("expected an object with a 'categories' list")
    for category in data["categories"]:
        if not (
            isinstance(category, dict)
            and isinstance(category.get("id"), str)
            and isinstance(category.setdefault("snippets", []), list)
            and all(isinstance(s, dict) and isinstance(s.get("id"), str) for s in category["snippets"])
        ):
            raise UnreadableFile("every category needs an 'id' and snippets with ids")
    return data


class PromptLibrary:
    """The shipped file (re-read when it changes) and the user's file; thread-safe."""

    def __init__(self, shipped_path: Path, user_path: Path) -> None:
        self.shipped_path = Path(shipped_path)
        self._user = JsonDocument(user_path, _empty_user, _checked_user)
        self._shipped_lock = threading.Lock()
        self._shipped: tuple[Optional[tuple[int, int]], list[dict], list[str]] = ((-1, -1), [], [])  # not read yet

    @classmethod
    def for_dirs(cls, data_dir: Path, user_dir: Path) -> "PromptLibrary":
        return cls(Path(data_dir) / FILE_NAME, Path(user_dir) / FILE_NAME)

    def shipped(self) -> tuple[list[dict], list[str]]:
        """(categories with ids "CATEGORY/INDEX", problems) of the shipped file."""
        with self._shipped_lock:
            stamp = file_stamp(self.shipped_path)
            if stamp != self._shipped[0]:
                problems: list[str] = []
                try:
                    categories = _read_categories(read_json_file(self.shipped_path), problems, self.shipped_path.name)
                except FileNotFoundError:
                    categories = []
                    problems.append(f"no shipped prompt library at {self.shipped_path}")
                except UnreadableFile as exc:
                    categories = []
                    problems.append(str(exc))
                self._shipped = (stamp, categories, problems)
            return self._shipped[1], self._shipped[2]

    def merged(self) -> dict:
        """Shipped categories in file order, each followed by the user's snippets in it;
        user categories that are not shipped come after, in the user's order."""
        shipped, problems = self.shipped()
        categories = {c["id"]: {**c, "snippets": list(c["snippets"])} for c in shipped}
        with self._user.lock:
            user = self._user.load()
            problems = problems + self._user.problems
            for category in user["categories"]:
                cid = category["id"]
                label, _ = clean_label(category["label"]) if category.get("label") else (None, None)
                target = categories.setdefault(cid, {"id": cid, "label": label, "snippets": []})
                target["label"] = target["label"] or label
                for snippet in category["snippets"]:
                    target["snippets"].append({**snippet, "user": True})
        for category in categories.values():
            category["label"] = category["label"] or {lang: category["id"] for lang in UI_LANGUAGES}
        return {"categories": list(categories.values()), "problems": problems}

    def add(self, snippet: dict) -> dict:
        """Append a validated snippet to the user's file; the stored snippet with its new id."""
        stored = {"id": "u" + uuid.uuid4().hex, "label": snippet["label"], "text": snippet["text"]}
        with self._user.lock:
            categories = self._user.load_for_change()["categories"]
            category = next((c for c in categories if c["id"] == snippet["category"]), None)
            if category is None:
                category = {"id": snippet["category"], "snippets": []}
                categories.append(category)
            if snippet.get("category_label"):
                category["label"] = snippet["category_label"]
            category["snippets"].append(stored)
            self._user.save()
        return {**stored, "category": snippet["category"], "user": True}

    def delete(self, snippet_id: str) -> None:
        """Remove a user snippet; ShippedSnippet for shipped ids, UnknownSnippet otherwise."""
        shipped, _ = self.shipped()
        if any(s["id"] == snippet_id for c in shipped for s in c["snippets"]):
            raise ShippedSnippet(snippet_id)
        with self._user.lock:
            categories = self._user.load_for_change()["categories"]
            for category in categories:
                kept = [s for s in category["snippets"] if s["id"] != snippet_id]
                if len(kept) != len(category["snippets"]):
                    category["snippets"] = kept
                    if not kept:  # an empty category of one's own is clutter in the picker
                        categories.remove(category)
                    self._user.save()
                    return
        raise UnknownSnippet(snippet_id)
