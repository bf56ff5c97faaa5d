"""Input and output files for a worker that does not see the server's folders (another
machine): the images a prompt loads travel with it, the images it saves come back and are
stored in the server's folders, where /view finds them, under a free name."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

from nodes.folders import Folders, UnsafePathError, safe_join, split_annotation

MAX_SHIPPED_BYTES = 512 * 1024 * 1024  # per prompt, each way


def _input_names(prompt: dict) -> Iterator[tuple[str, str]]:
    """(folder kind, relative name) of every string input that may name an input file."""
    for node in prompt.values():
        inputs = node.get("inputs") if isinstance(node, dict) else None
        for value in (inputs or {}).values() if isinstance(inputs, dict) else ():
            if isinstance(value, str) and value and len(value) <= 1024:
                yield split_annotation(value)


def input_files(prompt: dict, folders: Folders) -> list[dict]:
    """The files of the server's input (or output/temp) folder a prompt names."""
    found, total = [], 0
    for kind, name in dict.fromkeys(_input_names(prompt)):
        try:
            path = safe_join(folders.by_type(kind), name)
        except UnsafePathError:
            continue
        if not path.is_file():
            continue
        data = path.read_bytes()
        total += len(data)
        if total > MAX_SHIPPED_BYTES:
            raise ValueError(f"the prompt's input files pass {MAX_SHIPPED_BYTES // 2**20} MiB")
        found.append({"type": kind, "name": name, "data": data})
    return found


def place_input_files(files: list[dict], folders: Folders) -> None:
    """On the worker: write the files a prompt brought where its nodes look for them."""
    for entry in files:
        path = safe_join(folders.by_type(entry["type"]), entry["name"])
        if path.is_file() and path.stat().st_size == len(entry["data"]) and path.read_bytes() == entry["data"]:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.part")  # workers sharing this folder see it whole
        partial.write_bytes(entry["data"])
        os.replace(partial, path)


def _is_saved_file(entry: object) -> bool:
    """A {filename, subfolder, type} record of a file a run wrote."""
    return isinstance(entry, dict) and isinstance(entry.get("filename"), str) and entry.get("type") in ("output", "temp")


def _output_lists(outputs: dict) -> Iterator[list]:
    for ui in outputs.values():
        for values in ui.values() if isinstance(ui, dict) else ():
            if isinstance(values, list):
                yield values


def _saved_entries(outputs: dict) -> Iterator[dict]:
    for values in _output_lists(outputs):
        yield from (entry for entry in values if _is_saved_file(entry))


def output_files(outputs: dict, folders: Folders, remove_temp: bool = False) -> list[dict]:
    """On the worker: the files a run saved, to send back with its result. With
    `remove_temp` its previews are deleted here once read (its outputs stay, so that the
    next image's number follows on)."""
    found, total = [], 0
    for entry in _saved_entries(outputs):
        path = safe_join(folders.by_type(entry["type"]), os.path.join(entry.get("subfolder") or "", entry["filename"]))
        if path.is_file():
            data = path.read_bytes()
            total += len(data)
            if total > MAX_SHIPPED_BYTES:
                raise ValueError(f"the prompt's saved files pass {MAX_SHIPPED_BYTES // 2**20} MiB")
            found.append({"type": entry["type"], "subfolder": entry.get("subfolder") or "",
                          "filename": entry["filename"], "data": data})
            if remove_temp and entry["type"] == "temp":
                path.unlink()
    return found


def store_output_files(files: list[dict], outputs: dict, folders: Folders) -> None:
    """On the server: write a remote run's files, never over another file (a taken name
    gets a number), and point the run's outputs at the names used."""
    renamed: dict[tuple[str, str, str], str] = {}
    for entry in files:
        root = folders.by_type(entry["type"])
        folder = safe_join(root, entry["subfolder"]) if entry["subfolder"] else root
        folder.mkdir(parents=True, exist_ok=True)
        name = _write_new(folder, entry["filename"], entry["data"])
        renamed[(entry["type"], entry["subfolder"], entry["filename"])] = name
    for values in _output_lists(outputs):  # point at the names used; drop what did not come (not here)
        kept = []
        for entry in values:
            if _is_saved_file(entry):
                name = renamed.get((entry["type"], entry.get("subfolder") or "", entry["filename"]))
                if name is None:
                    continue
                entry["filename"] = name
            kept.append(entry)
        values[:] = kept


def _write_new(folder: Path, filename: str, data: bytes) -> str:
    """Write `data` under `filename` or, when that is taken by other bytes, the first free
    `stem_N.suffix`; returns the name used."""
    stem, suffix = os.path.splitext(filename)
    candidate, number = filename, 1
    while True:
        path = safe_join(folder, candidate)
        try:
            with open(path, "xb") as handle:
                handle.write(data)
            return candidate
        except FileExistsError:
            if path.is_file() and path.read_bytes() == data:
                return candidate
        candidate, number = f"{stem}_{number}{suffix}", number + 1

