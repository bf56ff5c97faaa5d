"""Generation presets per model (steps, cfg, sampler, size, trigger words...), keyed by
the model's SHA-256 so they follow the model through renames and copies.

The store is one JSON file, BASE/user/model_presets.json:
    {"version": 1,
     "models": {SHA256: {"names": [file names seen], "presets": {NAME: {fields}}}},
     "hash_cache": {RESOLVED_PATH: {"size": N, "mtime_ns": N, "sha256": HEX}}}
A file that cannot be read is copied to model_presets.json.bak, reported in `problems`
and a warning, and the store starts empty; nothing is overwritten before the copy exists.
"""
from __future__ import annotations

import functools
import logging
import math
from pathlib import Path
from typing import Any, Callable, Optional

from nodes.folders import Folders, safe_join
from nodes.spec import Input
from server.json_files import JsonDocument, UnreadableFile

from .model_hash import model_sha256

log = logging.getLogger(__name__)

FILE_NAME = "model_presets.json"
VERSION = 1
NAME_MAX = 80

# A preset is applied to the sampler's and the empty latent's widgets (frontend/js/presets.js),
# so it takes exactly the values those core nodes take: their descriptors are the bounds.
SAMPLER_NODE = "KSampler"
LATENT_NODE = "EmptyLatentImage"


class PresetExists(Exception):
    """A preset of that name exists and the caller did not ask to replace it."""


class UnknownPreset(KeyError):
    """No preset of that name for that model."""


# ---------------------------------------------------------------- validation


@functools.lru_cache(maxsize=None)
def node_input(node_id: str, name: str) -> Input:
    """The core node's descriptor of input `name` (spec.Int, Float, Combo...), looked up once:
    the registry is read on the first validation, not when this module is imported."""
    from nodes.registry import REGISTRY

    node = REGISTRY.get(node_id)
    spec = node.input_named(name) if node is not None else None
    if spec is None:
        raise LookupError(f"the core node {node_id} has no input {name!r}")
    return spec


def _shown(number: float) -> str:
    """A bound as people write it: 0 and 100, not 0.0 and 100.0."""
    return str(int(number)) if float(number).is_integer() else str(number)


def _range_problem(value: float, low: Optional[float], high: Optional[float]) -> Optional[str]:
    if low is not None and high is not None and not low <= value <= high:
        return f"must be between {_shown(low)} and {_shown(high)}"
    if low is not None and value < low:
        return f"must be at least {_shown(low)}"
    if high is not None and value > high:
        return f"must be at most {_shown(high)}"
    return None


def _check_name(value: Any) -> Optional[str]:
    if not isinstance(value, str) or not value.strip():
        return "a preset needs a non-empty name"
    if len(value.strip()) > NAME_MAX:
        return f"at most {NAME_MAX} characters"
    if any(ord(c) < 32 for c in value):
        return "must not contain control characters (line breaks, tabs)"
    return None


def _check_int(node_id: str, name: str) -> Callable[[Any], Optional[str]]:
    """A whole number within the node input's min/max, on its step (sizes go by 8)."""

    def check(value: Any) -> Optional[str]:
        if isinstance(value, bool) or not isinstance(value, int):
            return "must be a whole number"
        spec = node_input(node_id, name)
        problem = _range_problem(value, spec.min, spec.max)
        if problem is None and spec.step and value % spec.step:
            problem = f"must be a multiple of {spec.step}"
        return problem

    return check


def _check_float(node_id: str, name: str) -> Callable[[Any], Optional[str]]:
    def check(value: Any) -> Optional[str]:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return "must be a number"
        spec = node_input(node_id, name)
        return _range_problem(value, spec.min, spec.max)

    return check


def _check_choice(node_id: str, name: str, what: str) -> Callable[[Any], Optional[str]]:
    def check(value: Any) -> Optional[str]:
        if not isinstance(value, str) or value not in node_input(node_id, name).current_choices():
            return f"unknown {what} {value!r}"
        return None

    return check


def _check_text(limit: int) -> Callable[[Any], Optional[str]]:
    def check(value: Any) -> Optional[str]:
        if not isinstance(value, str):
            return "must be a string"
        return None if len(value) <= limit else f"at most {limit} characters"

    return check


FIELDS = {
    "name": _check_name,
    "steps": _check_int(SAMPLER_NODE, "steps"),
    "cfg": _check_float(SAMPLER_NODE, "cfg"),
    "sampler_name": _check_choice(SAMPLER_NODE, "sampler_name", "sampler"),
    "scheduler": _check_choice(SAMPLER_NODE, "scheduler", "scheduler"),
    "width": _check_int(LATENT_NODE, "width"),
    "height": _check_int(LATENT_NODE, "height"),
    "trigger_words": _check_text(1000),
    "negative_prompt": _check_text(10000),
}


def validate_preset(raw: Any) -> tuple[dict, dict[str, str]]:
    """(clean preset, {field: message}); the preset is usable only when there are no messages.
    A field sent as null counts as not given; unknown fields are refused, not dropped, so a
    typo never silently loses a setting."""
    if not isinstance(raw, dict):
        return {}, {"preset": "must be an object"}
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    for key, value in raw.items():
        check = FIELDS.get(key)
        if check is None:
            errors[key] = "unknown field"
        elif value is not None or key == "name":
            problem = check(value)
            if problem:
                errors[key] = problem
            else:
                clean[key] = value.strip() if key == "name" else value
    if "name" not in raw:
        errors["name"] = "a preset needs a non-empty name"
    return clean, errors


def _sort_key(preset: dict) -> tuple[str, str]:
    return (preset["name"].casefold(), preset["name"])


# ---------------------------------------------------------------- model lookup


def checkpoint_path(folders: Folders, name: str) -> Path:
    """The checkpoint file or diffusers folder called `name`. UnsafePathError for names
    leaving the checkpoints folders, FileNotFoundError for names that are no checkpoint."""
    roots = folders.model_dirs("checkpoints")
    for root in roots:
        safe_join(root, name)  # raises before anything is read
    if name not in folders.list_models("checkpoints"):
        raise FileNotFoundError(name)
    return folders.model_path("checkpoints", name)


# ---------------------------------------------------------------- the store


def _empty() -> dict:
    return {"version": VERSION, "models": {}, "hash_cache": {}}


def _checked(data: Any) -> dict:
    """The file's data if its shape is what this store writes; UnreadableFile otherwise
    (rewriting a file of unexpected shape could drop what it holds)."""
    if not isinstance(data, dict) or not isinstance(data.get("models", {}), dict):
        raise UnreadableFile("not a presets file (expected an object with 'models')")
    for digest, entry in data.get("models", {}).items():
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("names", []), list)
            and isinstance(entry.get("presets", {}), dict)
            and all(isinstance(p, dict) for p in entry.get("presets", {}).values())
        ):
            raise UnreadableFile(f"model {digest!r} is not an object with 'names' and 'presets'")
        entry.setdefault("names", [])
        entry.setdefault("presets", {})
    if not isinstance(data.get("hash_cache", {}), dict):
        data["hash_cache"] = {}  # only a cache: safe to drop
    data.setdefault("models", {})
    data.setdefault("hash_cache", {})
    return data


class PresetStore:
    """The presets file, re-read when it changes on disk; every method is thread-safe."""

    def __init__(self, path: Path) -> None:
        self._doc = JsonDocument(path, _empty, _checked)
        self._lock = self._doc.lock
        self._dirty_cache = False

    @classmethod
    def in_user_dir(cls, user_dir: Path) -> "PresetStore":
        return cls(Path(user_dir) / FILE_NAME)

    @property
    def path(self) -> Path:
        return self._doc.path

    @property
    def problems(self) -> list[str]:
        return list(self._doc.problems)

    def _write(self) -> None:
        cache = self._doc.load()["hash_cache"]
        for key in [k for k in cache if not Path(k).exists()]:
            del cache[key]  # files deleted or moved since
        self._doc.save()
        self._dirty_cache = False

    # The hash cache (model_hash.HashCache)
    def cached_hash(self, key: str, size: int, mtime_ns: int) -> Optional[str]:
        with self._lock:
            entry = self._doc.load()["hash_cache"].get(key)
        if isinstance(entry, dict) and entry.get("size") == size and entry.get("mtime_ns") == mtime_ns:
            value = entry.get("sha256")
            return value if isinstance(value, str) and len(value) == 64 else None
        return None

    def remember_hash(self, key: str, size: int, mtime_ns: int, sha256: str) -> None:
        with self._lock:
            self._doc.load()["hash_cache"][key] = {"size": size, "mtime_ns": mtime_ns, "sha256": sha256}
            self._dirty_cache = True

    def hash_model(self, path: Path) -> str:
        """The model's hash (slow the first time: run it in a worker thread). The cache is
        saved with it; a presets file that cannot be saved just costs a re-hash later."""
        value = model_sha256(path, self)
        with self._lock:
            if self._dirty_cache:
                try:
                    self._write()
                except OSError as exc:
                    log.warning("could not save model hashes to %s: %s", self.path, exc)
        return value

    # Presets
    def presets_for(self, digest: str) -> list[dict]:
        with self._lock:
            entry = self._doc.load()["models"].get(digest, {})
            presets = [{**fields, "name": name} for name, fields in entry.get("presets", {}).items()]
        return sorted(presets, key=_sort_key)

    def all_models(self) -> list[dict]:
        with self._lock:
            models = [
                {"hash": digest, "names": list(entry["names"]), "presets": self.presets_for(digest)}
                for digest, entry in self._doc.load()["models"].items()
            ]
        return sorted(models, key=lambda m: ([str(n).casefold() for n in m["names"]], m["hash"]))

    def save(self, digest: str, model_name: str, preset: dict, replace: bool = False) -> list[dict]:
        """Store a validated preset; PresetExists when the name is taken and not `replace`."""
        name = preset["name"]
        fields = {k: v for k, v in preset.items() if k != "name"}
        with self._lock:
            entry = self._doc.load_for_change()["models"].setdefault(digest, {"names": [], "presets": {}})
            if name in entry["presets"] and not replace:
                raise PresetExists(name)
            entry["presets"][name] = fields
            if model_name not in entry["names"]:
                entry["names"].append(model_name)
            self._write()
            return self.presets_for(digest)

    def delete(self, digest: str, name: str) -> list[dict]:
        """Remove a preset; UnknownPreset when there is none. A model left without presets
        is dropped from the file."""
        with self._lock:
            models = self._doc.load_for_change()["models"]
            entry = models.get(digest)
            if entry is None or name not in entry["presets"]:
                raise UnknownPreset(name)
            del entry["presets"][name]
            if not entry["presets"]:
                del models[digest]
            self._write()
            return self.presets_for(digest)
