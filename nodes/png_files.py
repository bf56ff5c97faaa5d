"""Writing PNGs that carry their workflow, without ever overwriting a file."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from .folders import safe_join



def image_to_pil(image: torch.Tensor) -> Image.Image:
    """One [H,W,C] float 0..1 image to an 8-bit PIL image."""
    array = (image.detach().cpu().float().clamp(0, 1).numpy() * 255.0).round().astype(np.uint8)
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
) -> list[dict]:
    """Save a [B,H,W,C] batch as `{name}_{counter:05}_.png`; returns ComfyUI's image records
    (`type` is `folder_type`, or the folder's name: output, temp).

    Files are created exclusively: if a name is taken meanwhile, the next counter is used.
    """
    folder, subfolder, name = split_prefix(root, prefix)
    folder.mkdir(parents=True, exist_ok=True)
    metadata = png_metadata(prompt, extra_pnginfo)
    counter = next_counter(folder, name)
    records = []
    for image in images:
        picture = image_to_pil(image)
        while True:
            filename = f"{name}_{counter:05}_.png"
            try:
                with open(folder / filename, "xb") as handle:
                    picture.save(handle, format="PNG", pnginfo=metadata, compress_level=compress_level)
                break
            except FileExistsError:
                counter += 1
        records.append({"filename": filename, "subfolder": subfolder, "type": folder_type or root.name})
        counter += 1
    return records


def read_png_text(path: Path) -> dict[str, str]:
    """The tEXt chunks of a PNG (e.g. `prompt` and `workflow`)."""
    with Image.open(path) as image:
        return {k: v for k, v in (image.text or {}).items() if isinstance(v, str)}
