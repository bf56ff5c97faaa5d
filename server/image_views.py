"""Image variants the frontend asks /view for (a small preview, one channel) and the
mask editor's save: the painted mask becomes the alpha of the original image."""
from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Optional

from PIL import Image, ImageOps
from PIL.PngImagePlugin import PngInfo

from .errors import ApiError

log = logging.getLogger(__name__)

PREVIEW_FORMATS = ("webp", "jpeg")
WEBP_MAX_SIDE = 16383


def _open(path: Path) -> Image.Image:
    """The image, loaded; Pillow's own messages quote the full path, so they go to the log."""
    try:
        image = Image.open(path)
        image.load()
        return image
    except Exception as exc:
        log.info("cannot read %s as an image: %s", path, exc)
        raise ApiError(400, "invalid_image", f"'{path.name}' is not an image Pillow can read") from None


def _upright(image: Image.Image) -> Image.Image:
    """Turned as its EXIF orientation says, as browsers show it and Load Image reads it, so a
    mask painted over what the editor showed fits the copy it is saved into."""
    return ImageOps.exif_transpose(image)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def preview(path: Path, spec: str, channel: str) -> tuple[bytes, str]:
    """`preview=webp;90` (format;quality): a re-encoded copy; webp whenever alpha is wanted."""
    parts = spec.split(";")
    fmt = parts[0].lower()
    if fmt not in PREVIEW_FORMATS or "a" in channel:
        fmt = "webp"
    quality = int(parts[-1]) if parts[-1].isascii() and parts[-1].isdigit() else 90
    quality = min(max(quality, 1), 100)
    with _open(path) as image:
        if fmt == "webp" and max(image.size) > WEBP_MAX_SIDE:
            fmt = "jpeg"  # webp cannot hold it
        keep_alpha = fmt == "webp" and channel != "rgb" and "A" in image.getbands()
        image = _upright(image).convert("RGBA" if keep_alpha else "RGB")
        out = io.BytesIO()
        image.save(out, format=fmt.upper(), quality=quality)
    return out.getvalue(), f"image/{fmt}"


def channel_view(path: Path, channel: str) -> bytes:
    """`channel=rgb`: the colour without alpha; `channel=a`: the alpha alone (on black,
    fully opaque where the image has no alpha)."""
    with _open(path) as opened:
        image = _upright(opened)
        if channel == "rgb":
            return _png(image.convert("RGB"))
        alpha = image.getchannel("A") if "A" in image.getbands() else Image.new("L", image.size, 255)
        shown = Image.new("RGBA", image.size)
        shown.putalpha(alpha)
        return _png(shown)


def masked_original(original: Path, mask_bytes: bytes) -> bytes:
    """The original as RGBA PNG whose alpha is the mask's alpha; its PNG text (the
    workflow it carries) is kept."""
    with _open(original) as base:
        info = PngInfo()
        for key, value in (getattr(base, "text", None) or {}).items():
            info.add_text(key, value)
        rgba = _upright(base).convert("RGBA")
    try:
        with Image.open(io.BytesIO(mask_bytes)) as mask:
            alpha = mask.convert("RGBA").getchannel("A")
    except Exception as exc:
        log.info("the mask is not an image: %s", exc)
        raise ApiError(400, "invalid_image", "the mask is not an image Pillow can read") from None
    if alpha.size != rgba.size:
        raise ApiError(400, "invalid_mask", f"the mask is {alpha.size[0]}x{alpha.size[1]}, "
                                            f"the image {rgba.size[0]}x{rgba.size[1]}")
    rgba.putalpha(alpha)
    out = io.BytesIO()
    rgba.save(out, format="PNG", compress_level=4, pnginfo=info)
    return out.getvalue()


def safetensors_metadata(path: Path) -> Optional[dict]:
    """The `__metadata__` of a .safetensors file's header (None when it has none)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as handle:
        return handle.metadata()
