"""PNG bytes written by hand, so the header can claim any size and chunks can be cut.

Pillow would refuse to write the odd files the upload route must survive: a 100,000 x
100,000 header over a few bytes of data, a zero width, a wrong checksum.
"""
from __future__ import annotations

import struct
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chunk(kind: bytes, data: bytes, crc: int | None = None) -> bytes:
    checksum = zlib.crc32(kind + data) if crc is None else crc
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", checksum & 0xFFFFFFFF)


def png(width: int = 4, height: int = 4, rgb: tuple[int, int, int] = (200, 30, 30), *,
        claim: tuple[int, int] | None = None, bad_crc: bool = False, extra: bytes = b"") -> bytes:
    """An RGB PNG of width x height pixels; `claim` writes another size into the header
    (the pixel data stays that of width x height)."""
    header_w, header_h = claim or (width, height)
    ihdr = struct.pack(">IIBBBBB", header_w & 0xFFFFFFFF, header_h & 0xFFFFFFFF, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (SIGNATURE + chunk(b"IHDR", ihdr, 0 if bad_crc else None) + extra
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def text_chunk(key: bytes, value: bytes) -> bytes:
    return chunk(b"tEXt", key + b"\x00" + value)


TINY = png()
