"""Checking and saving uploaded images: decode with Pillow under its bomb limit, never
write outside the chosen folder, never overwrite unless asked (`name (1).png` instead),
and never leave a partial or temporary file behind when a save fails."""
from __future__ import annotations

import io
import os
import tempfile
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from nodes.folders import UnsafePathError, safe_join

from .errors import ApiError
from .security import check_name, os_error, short_name

DEFAULT_MAX_PIXELS = 89_478_485  # Pillow's own default, used if someone switched the limit off


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
    except UnidentifiedImageError:
        raise ApiError(400, "invalid_image", "the upload is not in an image format Pillow reads") from None
    except Exception as exc:
        raise ApiError(400, "invalid_image", f"the upload is not an image Pillow can decode: {exc}") from None
    return fmt, size


def check_file_name(name: str) -> str:
    """A plain file name: no folders (they go in `subfolder`), no '..', nothing odd."""
    if not name or name in (".", ".."):
        raise ApiError(400, "invalid_filename", "the upload needs a file name")
    check_name(name, "the file name")
    if not name.isprintable():
        raise ApiError(400, "invalid_filename",
                       f"the file name '{short_name(name)}' has characters that are not printable")
    if "/" in name or "\\" in name or name.startswith("~"):
        raise ApiError(403, "forbidden_path", f"'{short_name(name)}' is not a plain file name; use the subfolder field")
    return name


def where(folder_type: str, subfolder: str = "") -> str:
    """A place as messages name it: `input/`, `input/masks/`."""
    return f"{folder_type}/{subfolder.strip('/')}/" if subfolder.strip("/") else f"{folder_type}/"


def target_folder(root: Path, subfolder: str, folder_type: str = "input") -> Path:
    """The (created) folder an upload goes to; a file in the way is a 409, not a crash."""
    if subfolder:
        check_name(subfolder, "the subfolder")
    try:
        folder = safe_join(root, subfolder) if subfolder else Path(root).resolve()
    except UnsafePathError as exc:
        raise ApiError(403, "forbidden_path", str(exc)) from None
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ApiError(409, "not_a_folder", f"a file is in the way of the subfolder "
                                            f"'{short_name(subfolder)}' in {folder_type}/") from None
    except OSError as exc:
        raise os_error(exc, subfolder, f"{folder_type}/") from None
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


def save_upload(root: Path, subfolder: str, name: str, data: bytes, overwrite: bool,
                folder_type: str = "input") -> str:
    """Write the image; returns the name it got. The same bytes uploaded again reuse the
    existing file instead of making a copy."""
    name = check_file_name(name)
    folder = target_folder(root, subfolder, folder_type)
    place = where(folder_type, subfolder)
    try:
        if overwrite:
            return _replace(folder, name, data, place)
        return _write_new(folder, name, data)
    except OSError as exc:
        raise os_error(exc, name, place) from None


def _replace(folder: Path, name: str, data: bytes, place: str) -> str:
    """Write to a hidden temporary file, then rename it over `name`: readers see the old
    file or the new one. The temporary file never outlives the call."""
    target = _inside(folder, name)
    if target.is_dir():
        raise ApiError(409, "is_a_folder", f"a folder named '{short_name(name)}' is in {place}; "
                                           "choose another file name")
    handle, temp = tempfile.mkstemp(dir=folder, prefix=".upload-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temp, target)
    finally:
        _remove(Path(temp))
    return name


def _write_new(folder: Path, name: str, data: bytes) -> str:
    """Write under the first free name (folders are skipped); a write that fails halfway
    removes its file."""
    for candidate in _candidates(name):
        target = _inside(folder, candidate)
        if target.is_dir():
            continue
        if target.exists() and _same_content(target, data):
            return candidate
        try:
            out = open(target, "xb")  # exclusive: a racing upload takes the next name
        except FileExistsError:
            continue
        try:
            with out:
                out.write(data)
        except BaseException:
            _remove(target)
            raise
        return candidate
    raise AssertionError("unreachable")


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _inside(folder: Path, name: str) -> Path:
    try:
        return safe_join(folder, name)
    except UnsafePathError as exc:
        raise ApiError(403, "forbidden_path", str(exc)) from None
