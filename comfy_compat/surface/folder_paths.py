"""ComfyUI's `folder_paths` module, over this app's folders.

`folder_names_and_paths` is the app's own model-folder table (the same dict object), so a
folder a pack adds is seen by the core loaders too, and the app's folders (including
extra_model_paths.yaml) are what packs list.
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any, Iterable, Optional

from nodes.folders import MODEL_FILE_EXTENSIONS, Folders, UnsafePathError, canonical_kind, safe_join

supported_pt_extensions: set[str] = set(MODEL_FILE_EXTENSIONS)
folder_names_and_paths: dict[str, tuple[list[str], set[str]]] = {}
filename_list_cache: dict[str, tuple[list[str], dict[str, float], float]] = {}
extension_mimetypes_cache = {"webp": "image"}
base_path = ""
models_dir = ""
output_directory = ""
temp_directory = ""
input_directory = ""
user_directory = ""
_folders: Optional[Folders] = None


def bind(folders: Folders) -> None:
    """Point this module at the app's folders (done before any pack imports it)."""
    global _folders, folder_names_and_paths, base_path, models_dir
    global output_directory, temp_directory, input_directory, user_directory
    _folders = folders
    folder_names_and_paths = folders.model_folders
    models_dir = str(folders.models)
    base_path = str(Path(folders.models).parent)
    output_directory = str(folders.output)
    temp_directory = str(folders.temp)
    input_directory = str(folders.input)
    user_directory = str(folders.user or Path(base_path) / "user")
    folder_names_and_paths.setdefault("custom_nodes", ([os.path.join(base_path, "custom_nodes")], set()))
    filename_list_cache.clear()


def map_legacy(folder_name: str) -> str:
    return canonical_kind(folder_name)


def _app() -> Folders:
    if _folders is None:
        from comfy_compat import runtime

        runtime.folders()
    return _folders


# -- directories ------------------------------------------------------------------------

def get_output_directory() -> str:
    return output_directory


def get_temp_directory() -> str:
    return temp_directory


def get_input_directory() -> str:
    return input_directory


def get_user_directory() -> str:
    return user_directory


def _set_directory(kind: str, path: str) -> None:
    """The module's `<kind>_directory` and the app's folder of that kind, together."""
    globals()[f"{kind}_directory"] = str(path)
    setattr(_app(), kind, Path(path))


def set_output_directory(path: str) -> None:
    _set_directory("output", path)


def set_temp_directory(path: str) -> None:
    _set_directory("temp", path)


def set_input_directory(path: str) -> None:
    _set_directory("input", path)


def set_user_directory(path: str) -> None:
    global user_directory
    user_directory = str(path)


def get_directory_by_type(type_name: str) -> Optional[str]:
    return {"output": output_directory, "temp": temp_directory, "input": input_directory}.get(type_name)


def get_input_subfolders() -> list[str]:
    root = Path(input_directory)
    if not root.is_dir():
        return []
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_dir())


# -- annotated names: "name [output]" ------------------------------------------------------

def annotated_filepath(name: str) -> tuple[str, Optional[str]]:
    for kind, directory in (("output", output_directory), ("input", input_directory), ("temp", temp_directory)):
        suffix = f" [{kind}]"
        if name.endswith(suffix):
            return name[: -len(suffix)], directory
    return name, None


def get_annotated_filepath(name: str, default_dir: Optional[str] = None) -> str:
    name, base_dir = annotated_filepath(name)
    if base_dir is None:
        base_dir = default_dir if default_dir is not None else input_directory
    return os.path.join(base_dir, name)


def exists_annotated_filepath(name: str) -> bool:
    return os.path.exists(get_annotated_filepath(name))


# -- model folders ------------------------------------------------------------------------

def add_model_folder_path(folder_name: str, full_folder_path: str, is_default: bool = False) -> None:
    _app().add_model_dir(folder_name, full_folder_path, first=is_default)
    filename_list_cache.pop(canonical_kind(folder_name), None)


def get_folder_paths(folder_name: str) -> list[str]:
    entry = folder_names_and_paths.get(map_legacy(folder_name))
    return list(entry[0]) if entry else []


def filter_files_extensions(files: Iterable[str], extensions: Iterable[str]) -> list[str]:
    exts = {e.lower() for e in extensions}
    return sorted(f for f in files if not exts or os.path.splitext(f)[-1].lower() in exts)


def filter_files_content_types(files: Iterable[str], content_types: Iterable[str]) -> list[str]:
    """Files whose type (image, video, audio, model) is among `content_types`, by extension."""
    import mimetypes

    wanted = set(content_types)
    out = []
    for name in files:
        extension = name.rsplit(".", 1)[-1].lower()
        kind = extension_mimetypes_cache.get(extension)
        if kind is None:
            guessed = mimetypes.guess_type(name, strict=False)[0]
            kind = guessed.split("/")[0] if guessed else ("model" if extension in ("glb", "gltf", "obj", "fbx")
                                                          else "")
            extension_mimetypes_cache[extension] = kind
        if kind in wanted:
            out.append(name)
    return out


def recursive_search(directory: str, excluded_dir_names: Optional[list[str]] = None) -> tuple[list[str], dict]:
    """(files relative to directory, {folder: mtime}) following symlinked folders."""
    if not os.path.isdir(directory):
        return [], {}
    excluded = set(excluded_dir_names or [])
    files, dirs = [], {directory: os.path.getmtime(directory)}
    for dirpath, subdirs, filenames in os.walk(directory, followlinks=True, topdown=True):
        subdirs[:] = [d for d in subdirs if d not in excluded]
        for name in filenames:
            files.append(os.path.relpath(os.path.join(dirpath, name), directory).replace("\\", "/"))
        for d in subdirs:
            path = os.path.join(dirpath, d)
            try:
                dirs[path] = os.path.getmtime(path)
            except OSError:
                continue
    return files, dirs


def get_filename_list(folder_name: str) -> list[str]:
    """Model files of a kind (relative names), across all its folders; [] for an unknown kind."""
    kind = map_legacy(folder_name)
    if kind not in folder_names_and_paths:
        return []
    entry = folder_names_and_paths[kind]
    names: set[str] = set()
    for directory in entry[0]:
        files, _ = recursive_search(directory, excluded_dir_names=[".git"])
        names.update(filter_files_extensions(files, entry[1]))
    return sorted(names)


def cached_filename_list_(folder_name: str) -> Optional[tuple[list[str], dict, float]]:
    return filename_list_cache.get(map_legacy(folder_name))


def get_full_path(folder_name: str, filename: str) -> Optional[str]:
    """The path of a model file, or None; a name may not climb out of its folder."""
    kind = map_legacy(folder_name)
    if kind not in folder_names_and_paths:
        return None
    try:
        return str(_app().model_path(kind, filename))
    except (FileNotFoundError, UnsafePathError):
        return None


def get_full_path_or_raise(folder_name: str, filename: str) -> str:
    found = get_full_path(folder_name, filename)
    if found is None:
        raise FileNotFoundError(f"Model in folder '{folder_name}' with filename '{filename}' not found.")
    return found


# -- saving ---------------------------------------------------------------------------------

def _compute_vars(text: str, image_width: int, image_height: int) -> str:
    text = text.replace("%width%", str(image_width)).replace("%height%", str(image_height))
    now = time.localtime()
    for key, fmt in (("%year%", "%Y"), ("%month%", "%m"), ("%day%", "%d"), ("%hour%", "%H"),
                     ("%minute%", "%M"), ("%second%", "%S")):
        text = text.replace(key, time.strftime(fmt, now))
    return text


def get_save_image_path(filename_prefix: str, output_dir: str, image_width: int = 0,
                        image_height: int = 0) -> tuple[str, str, int, str, str]:
    """(full_output_folder, filename, counter, subfolder, filename_prefix) for the next
    `{filename}_{counter:05}_` file; refuses a prefix that leaves `output_dir`."""
    if "%" in filename_prefix:
        filename_prefix = _compute_vars(filename_prefix, image_width, image_height)
    subfolder = os.path.dirname(os.path.normpath(filename_prefix))
    filename = os.path.basename(os.path.normpath(filename_prefix))
    try:
        full_output_folder = str(safe_join(Path(output_dir), subfolder)) if subfolder else str(
            Path(output_dir).resolve())
    except UnsafePathError:
        raise ValueError(f"Saving image outside the output folder is not allowed: {filename_prefix!r}") from None
    pattern = re.compile(re.escape(filename) + r"_(\d+)_?\.")
    counter = 1
    if os.path.isdir(full_output_folder):
        numbers = [int(m.group(1)) for f in os.listdir(full_output_folder) if (m := pattern.match(f))]
        counter = max(numbers, default=0) + 1
    else:
        os.makedirs(full_output_folder, exist_ok=True)
    return full_output_folder, filename, counter, subfolder, filename_prefix


def __getattr__(name: str) -> Any:
    from comfy_compat.placeholders import fallback

    return fallback(__name__, name)
