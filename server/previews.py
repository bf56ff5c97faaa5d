"""Binary preview frames for the WebSocket, and the throttle that keeps them rare.

A frame is ComfyUI's: big-endian u32 event type (1 = preview image), u32 image format
(1 = JPEG), then the JPEG bytes. Encoding happens on the worker thread, never on the
event loop.
"""
from __future__ import annotations

import io
import struct
import time
from typing import Callable, Optional

from PIL import Image

PREVIEW_IMAGE = 1
FORMAT_JPEG = 1
FORMAT_PNG = 2
MAX_PREVIEW_SIDE = 512


def encode_preview(image: Image.Image, quality: int = 85) -> bytes:
    """The full binary frame for one preview image."""
    if max(image.size) > MAX_PREVIEW_SIDE:
        image = image.copy()
        image.thumbnail((MAX_PREVIEW_SIDE, MAX_PREVIEW_SIDE))
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return struct.pack(">II", PREVIEW_IMAGE, FORMAT_JPEG) + buffer.getvalue()


def encode_png_frame(image: Image.Image) -> bytes:
    """A full-size lossless image as a preview frame (SaveImageWebsocket's), never throttled."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return struct.pack(">II", PREVIEW_IMAGE, FORMAT_PNG) + buffer.getvalue()


def decode_frame_header(frame: bytes) -> tuple[int, int]:
    """(event type, image format) of a binary frame; for clients and tests."""
    return struct.unpack(">II", frame[:8])


class PreviewThrottle:
    """Lets at most one frame through per `interval` seconds for each prompt."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self._last: dict[str, float] = {}

    def allow(self, prompt_id: str) -> bool:
        now = self.clock()
        last = self._last.get(prompt_id)
        if last is not None and now - last < self.interval:
            return False
        if len(self._last) > 64:  # old prompts are done; forget them
            self._last.clear()
        self._last[prompt_id] = now
        return True

    def frame(self, prompt_id: str, image: Optional[Image.Image]) -> Optional[bytes]:
        """The encoded frame, or None when throttled (or no image)."""
        if image is None or not self.allow(prompt_id):
            return None
        return encode_preview(image)
