"""Checking and saving uploaded images: decode with Pillow under its bomb limit, never
write outside the chosen folder, never overwrite unless asked (`name (1).png` instead)."""
from __future__ import annotations

import io
import os
import tempfile
import warnings
from pathlib import Path

from PIL import Image

from nodes.folders import UnsafePathError, safe_join

from .errors import ApiError

DEFAULT_MAX_PIXELS = 89_478_485  # Pillow's own default, used if someone switched the limit off
MAX_NAME = 255


def check_image(data: bytes) -> tuple[str, tuple[int, int]]:
    """Refuse bytes that are not a decodable image, or that decompress to too many pixels
    (DecompressionBombWarning counts as an error). Returns (format, size)."""
    limit = Image.MAX_IMAGE_PIXELS or DEFAULT_MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                fmt, size = image.format or "", image.size
                if size[0] * size[1] > limit:
                    raise Image.DecompressionBombError(f"{size[0]}x{size[1]} pixels is over the limit")
                image.verify()
            with Image.open(io.BytesIO(data)) as image:
                image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ApiError(413, "image_too_large", f"image has too many pixels: {exc}") from None
    except Exception as exc:
        raise ApiError(400, "invalid_image", f"the upload is not an image Pillow can decode: {exc}") from None
    return fmt, size


def check_file_name(name: str) -> str:
    """A plain file name: no folders (they go in `subfolder`), no '..', nothing odd."""
    if not name or name in (".", "..") or len(name) > MAX_NAME or not name.isprintable():
        raise ApiError(400, "invalid_filename", "the upload needs a plain file name")
    if "/" in name or "\\" in name or name.startswith("~"):
        raise ApiError(403, "forbidden_path", f"'{name}' is not a plain file name; use the subfolder field")
    return name


def target_folder(root: Path, subfolder: str) -> Path:
    try:
        folder = safe_join(root, subfolder) if subfolder else Path(root).resolve()
    except UnsafePathError as exc:
        raise ApiError(403, "forbidden_path", str(exc)) from None
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _candidates(name: str):
    stem, ext = os.path.splitext(name)
    yield name
    index = 1
    while True:
        yield f"{stem} ({index}){ext}"
        index += 1


def _same_content(path: Path, data: bytes) -> bool:
    try:
        return path.stat().st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False


def save_upload(root: Path, subfolder: str, name: str, data: bytes, overwrite: bool) -> str:
    """Write the image; returns the name it got. The same bytes uploaded again reuse the
    existing file instead of making a copy."""
    folder = target_folder(root, subfolder)
    name = check_file_name(name)
    if overwrite:
        target = _inside(folder, name)
        handle, temp = tempfile.mkstemp(dir=folder, prefix=".upload-")
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temp, target)
        return name
    for candidate in _candidates(name):
        target = _inside(folder, candidate)
        if target.exists() and _same_content(target, data):
            return candidate
        try:
            with open(target, "xb") as out:  # exclusive: a racing upload takes the next name
                out.write(data)
            return candidate
        except FileExistsError:
            continue
    raise AssertionError("unreachable")


def _inside(folder: Path, name: str) -> Path:
    try:
        return safe_join(folder, name)
    except UnsafePathError as exc:
        raise ApiError(403, "forbidden_path", str(exc)) from None
