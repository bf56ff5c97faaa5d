"""Writing PNGs that carry their workflow, never over another prompt's file."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, BinaryIO, Callable, Optional, Sequence

import numpy as np
import torch
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from .folders import safe_join


def image_to_pil(image: torch.Tensor) -> Image.Image:
    """One [H,W,C] float 0..1 image to an 8-bit PIL image.

    Levels are truncated, not rounded (255 * value, clipped, then cut to an
    integer), as ComfyUI writes them, so one seed gives the same PNG pixels in
    both; NaN becomes 0.
    """
    levels = np.nan_to_num(image.detach().cpu().float().numpy() * np.float32(255.0), nan=0.0)
    array = np.clip(levels, 0, 255).astype(np.uint8)
    if array.shape[-1] == 1:
        array = array[..., 0]
    return Image.fromarray(array)


def png_metadata(prompt: Optional[dict], extra_pnginfo: Optional[dict]) -> PngInfo:
    """tEXt chunks `prompt` (API format) and one per extra entry (`workflow`, UI format)."""
    info = PngInfo()
    if prompt is not None:
        info.add_text("prompt", json.dumps(prompt))
    for key, value in (extra_pnginfo or {}).items():
        info.add_text(key, json.dumps(value))
    return info


def split_prefix(root: Path, prefix: str) -> tuple[Path, str, str]:
    """`folder/name` prefixes save into a subfolder, which must stay inside root."""
    prefix = prefix.strip().replace("\\", "/") or "image"
    subfolder, _, name = prefix.rpartition("/")
    folder = safe_join(root, subfolder) if subfolder else Path(root).resolve()
    return folder, subfolder, name or "image"


def next_counter(folder: Path, name: str, suffix: str = ".png") -> int:
    """One past the highest counter of `{name}_{counter}_{suffix}` files in the folder."""
    highest = 0
    pattern = re.compile(r"_(\d+)_?" + re.escape(suffix) + "$")
    if folder.is_dir():
        for path in folder.glob(f"{glob_escape(name)}_*{suffix}"):
            match = pattern.search(path.name)
            if match and path.name[: match.start()] == name:
                highest = max(highest, int(match.group(1)))
    return highest + 1


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def save_images(
    images: torch.Tensor,
    root: Path,
    prefix: str,
    prompt: Optional[dict] = None,
    extra_pnginfo: Optional[dict] = None,
    compress_level: int = 4,
    folder_type: Optional[str] = None,
    outputs: Any = None,
    node_id: str = "",
) -> list[dict]:
    """Save a [B,H,W,C] batch as `{name}_{counter:05}_.png`; returns ComfyUI's image records
    (`type` is `folder_type`, or the folder's name: output, temp). See `write_numbered`."""
    folder, subfolder, name = split_prefix(root, prefix)
    metadata = png_metadata(prompt, extra_pnginfo)

    def png_writer(image: torch.Tensor) -> Callable[[BinaryIO], None]:
        return lambda handle: image_to_pil(image).save(handle, format="PNG", pnginfo=metadata,
                                                        compress_level=compress_level)

    names = write_numbered(folder, name, ".png", [png_writer(image) for image in images], outputs, node_id)
    return [{"filename": filename, "subfolder": subfolder, "type": folder_type or root.name} for filename in names]


def write_numbered(folder: Path, name: str, suffix: str, writers: Sequence[Callable[[BinaryIO], None]],
                   outputs: Any = None, node_id: str = "") -> list[str]:
    """Write each writer's file as `{name}_{counter:05}_{suffix}`, never over another file.

    Names are claimed exclusively (if one is taken meanwhile, the next counter is used) and
    each file appears whole (written aside, then renamed). With `outputs` (the prompt's
    ledger) a re-run after a crash rewrites the files it had named instead of adding more.
    """
    folder.mkdir(parents=True, exist_ok=True)
    counter = next_counter(folder, name, suffix)
    names = []
    for index, write in enumerate(writers):
        filename = _earlier_name(outputs, node_id, index, folder, name, suffix)
        claimed = filename is None
        if claimed:
            filename, counter = _claim_name(folder, name, counter, suffix)
            if outputs is not None:
                outputs.record(node_id, index, filename)
        try:
            _write_whole(folder / filename, write)
        except BaseException:
            if claimed:  # no empty file left under a name nothing was written to
                (folder / filename).unlink(missing_ok=True)
            raise
        names.append(filename)
    return names


def _earlier_name(outputs: Any, node_id: str, index: int, folder: Path, name: str, suffix: str) -> Optional[str]:
    """The file this output got in an earlier, interrupted run of the same prompt."""
    earlier = outputs.previous(node_id, index) if outputs is not None else None
    if (earlier and "/" not in earlier and earlier.startswith(f"{name}_") and earlier.endswith(suffix)
            and (folder / earlier).is_file()):
        return earlier
    return None


def _claim_name(folder: Path, name: str, counter: int, suffix: str) -> tuple[str, int]:
    """Create `{name}_{counter}_{suffix}` empty and exclusively; returns it and the next counter."""
    while True:
        filename = f"{name}_{counter:05}_{suffix}"
        try:
            with open(folder / filename, "xb"):
                return filename, counter + 1
        except FileExistsError:
            counter += 1


def _write_whole(path: Path, write: Callable[[BinaryIO], None]) -> None:
    partial = path.with_name(f".{path.name}.partial")
    try:
        with open(partial, "wb") as handle:
            write(handle)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def read_png_text(path: Path) -> dict[str, str]:
    """The tEXt chunks of a PNG (e.g. `prompt` and `workflow`)."""
    with Image.open(path) as image:
        return {k: v for k, v in (image.text or {}).items() if isinstance(v, str)}
