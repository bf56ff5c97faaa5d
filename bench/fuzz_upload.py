"""POST /upload/image cases: odd file names, files that are not images or lie about their
size, uploads onto folders, and malformed multipart bodies.

Multipart bodies are assembled here byte by byte (a client library would refuse or
escape a NUL or an invalid UTF-8 file name, which is exactly what must be tried).
"""
from __future__ import annotations

import random
from typing import Callable, Optional, Union

from .fuzz_core import Case
from .fuzz_png import TINY, png, text_chunk
from .fuzz_view import FOLDER, IMAGE, TYPES

Generator = Callable[[random.Random, dict], Case]
Name = Union[str, bytes]
BOUNDARY = "fuzzboundary7MA4YWxkTrZu0gW"

ODD_NAMES: tuple[Name, ...] = (
    "..", ".", "../x.png", "a/b.png", "a\\b.png", "~x.png", "a\x00b.png", "\x00", b"\xed\xa0\x80.png", b"\xff.png",
    "a" * 300 + ".png", "a" * 251 + ".png", "", " ", "con", "aux.png", "a:b.png", "a\nb.png", "a\rb.png",
    "%00.png", "ключ.png", "\u202egnp.exe", ".hidden.png", "x.png.", "x.png ", 'a"b.png', "a;b.png", "x" * 5000,
    "😀.png", "\t.png", "/abs.png", "C:\\x.png", "example.png", "x\u0085.png", "NUL", "..png", "...",
)


def _bytes(value: Name) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")


def file_part(data: bytes, filename: Optional[Name] = "upload.png", field: str = "image",
              content_type: str = "image/png", disposition: Optional[bytes] = None) -> bytes:
    """One multipart part holding a file; `disposition` replaces the whole header value."""
    if disposition is None:
        disposition = b'form-data; name="' + field.encode() + b'"'
        if filename is not None:
            disposition += b'; filename="' + _bytes(filename) + b'"'
    return b"Content-Disposition: " + disposition + b"\r\nContent-Type: " + content_type.encode() + b"\r\n\r\n" + data


def field_part(name: str, value: Name) -> bytes:
    return b'Content-Disposition: form-data; name="' + name.encode() + b'"\r\n\r\n' + _bytes(value)


def multipart(parts: list[bytes], boundary: str = BOUNDARY) -> bytes:
    mark = b"--" + boundary.encode()
    return b"".join(mark + b"\r\n" + part + b"\r\n" for part in parts) + mark + b"--\r\n"


def upload(kind: str, parts: list[bytes], detail: str = "", content_type: Optional[str] = None,
           body: Optional[bytes] = None) -> Case:
    data = multipart(parts) if body is None else body
    ctype = f"multipart/form-data; boundary={BOUNDARY}" if content_type is None else content_type
    return Case(kind, "POST", "/upload/image", data, ctype, detail)


def unique_png(rng: random.Random, size: int = 4) -> bytes:
    """A small PNG of a random colour, so that uploads do not collapse into one file."""
    return png(size, size, (rng.randrange(256), rng.randrange(256), rng.randrange(256)))


def valid(rng: random.Random, schema: dict) -> Case:
    name = f"fuzz_{rng.randrange(10**9)}.png"
    parts = [file_part(unique_png(rng), name)]
    if rng.random() < 0.5:
        parts.append(field_part("type", rng.choice(TYPES)))
    if rng.random() < 0.3:
        parts.append(field_part("subfolder", rng.choice(["fuzzsub", "fuzzsub/deeper", FOLDER])))
    if rng.random() < 0.3:
        parts.append(field_part("overwrite", rng.choice(["true", "false", "1"])))
    return upload("upload.valid", parts, name)


def odd_name(rng: random.Random, schema: dict) -> Case:
    name = rng.choice(ODD_NAMES)
    if rng.random() < 0.2:
        star = rng.choice([b"UTF-8''%00x.png", b"UTF-8''..%2Fx.png", b"UTF-8''%ED%A0%80.png", b"UTF-8''%FF.png",
                           b"utf-8''" + b"a" * 300 + b".png", b"bogus''x.png"])
        disposition = b'form-data; name="image"; filename*=' + star
        return upload("upload.odd_name", [file_part(TINY, disposition=disposition)], f"filename*={star!r}"[:100])
    parts = [file_part(unique_png(rng), name)]
    if rng.random() < 0.3:
        parts.append(field_part("overwrite", "true"))
    return upload("upload.odd_name", parts, f"filename={name!r}"[:100])


def not_image(rng: random.Random, schema: dict) -> Case:
    choices = {
        "text": b"hello", "html": b"<html><script>alert(1)</script></html>", "svg": b"<svg xmlns='x'/>",
        "empty": b"", "random": bytes(rng.randrange(256) for _ in range(512)), "gif_magic": b"GIF89a",
        "jpeg_soi": b"\xff\xd8\xff", "png_signature": TINY[:8], "zeros": b"\x00" * 1_000_000,
        "zip": b"PK\x03\x04" + b"\x00" * 26, "png_then_html": TINY + b"<html></html>",
        "png_text_chunk": png(4, 4, extra=text_chunk(b"parameters", b"\x00\xff" * 100)),
    }
    name = rng.choice(sorted(choices))
    filename = rng.choice(["x.png", "x.txt", "x.html", "x.svg", "x"])
    return upload("upload.not_image", [file_part(choices[name], filename)], name)


def truncated_png(rng: random.Random, schema: dict) -> Case:
    data = unique_png(rng, 32)
    how = rng.choice(["cut", "bad_crc", "no_iend"])
    if how == "cut":
        cut = rng.randrange(9, len(data) - 1)
        data, how = data[:cut], f"cut at {cut}/{len(data)}"
    elif how == "bad_crc":
        data = png(32, 32, bad_crc=True)
    else:
        data = data[:-12]
    return upload("upload.truncated_png", [file_part(data, f"trunc_{rng.randrange(10**9)}.png")], how)


def huge_dims(rng: random.Random, schema: dict) -> Case:
    claim = rng.choice([(100_000, 100_000), (2**31 - 1, 2**31 - 1), (0, 0), (1, 10**9), (9000, 9000), (65535, 1),
                        (2**32 - 1, 1), (1, 0), (30_000, 30_000), (9459, 9459)])
    data = png(4, 4, claim=claim)
    return upload("upload.huge_dims", [file_part(data, f"huge_{rng.randrange(10**9)}.png")], f"{claim}")


def folder_overwrite(rng: random.Random, schema: dict) -> Case:
    """Uploads whose target is a folder, or whose folder is a file."""
    shape = rng.choice(["name_is_folder", "subfolder_is_file", "subfolder_under_file", "replace_file"])
    parts = []
    if shape == "name_is_folder":
        parts = [file_part(unique_png(rng), FOLDER), field_part("type", rng.choice(TYPES))]
    elif shape == "subfolder_is_file":
        parts = [file_part(unique_png(rng), "x.png"), field_part("subfolder", IMAGE), field_part("type", "input")]
    elif shape == "subfolder_under_file":
        parts = [file_part(unique_png(rng), "x.png"), field_part("subfolder", f"{FOLDER}/inner.png/deeper"),
                 field_part("type", rng.choice(TYPES))]
    else:
        parts = [file_part(unique_png(rng), "inner.png"), field_part("subfolder", FOLDER),
                 field_part("type", rng.choice(TYPES))]
    overwrite = rng.choice(["true", "false"])
    parts.append(field_part("overwrite", overwrite))
    return upload("upload.folder_overwrite", parts, f"{shape} overwrite={overwrite}")


def bad_fields(rng: random.Random, schema: dict) -> Case:
    field, value = rng.choice([
        ("type", "models"), ("type", "../input"), ("type", "INPUT"), ("type", "\x00"), ("type", b"\xff"),
        ("subfolder", ".."), ("subfolder", "../.."), ("subfolder", "/abs"), ("subfolder", "a\x00b"),
        ("subfolder", "s" * 5000), ("subfolder", "s" * 300), ("subfolder", "/".join(["s" * 200] * 20)),
        ("subfolder", b"\xed\xa0\x80"), ("subfolder", "~"), ("subfolder", "a\\..\\.."), ("overwrite", "\x00"),
        ("overwrite", "x" * 5000), ("subfolder", " "), ("subfolder", "ключ"), ("subfolder", "a" * 255),
    ])
    parts = [file_part(unique_png(rng), f"fields_{rng.randrange(10**9)}.png"), field_part(field, value)]
    return upload("upload.bad_fields", parts, f"{field}={value!r}"[:100])


def bad_multipart(rng: random.Random, schema: dict) -> Case:
    good = [file_part(TINY, f"mp_{rng.randrange(10**9)}.png")]
    shape = rng.choice(["no_boundary", "json_type", "other_boundary", "truncated", "no_image", "nested", "no_name",
                        "two_images", "empty", "many_fields", "big_field", "bytes", "no_end", "header_only"])
    if shape == "no_boundary":
        return upload("upload.multipart", good, shape, content_type="multipart/form-data")
    if shape == "json_type":
        return upload("upload.multipart", good, shape, content_type="application/json")
    if shape == "other_boundary":
        return upload("upload.multipart", good, shape, content_type="multipart/form-data; boundary=nope")
    if shape == "truncated":
        body = multipart(good)
        return upload("upload.multipart", [], shape, body=body[: rng.randrange(1, len(body))])
    if shape == "no_image":
        return upload("upload.multipart", [field_part("type", "input")], shape)
    if shape == "nested":
        inner = b"Content-Type: multipart/mixed; boundary=inner\r\n\r\n--inner\r\n\r\nx\r\n--inner--"
        return upload("upload.multipart", [inner], shape)
    if shape == "no_name":
        return upload("upload.multipart", [file_part(TINY, disposition=b'form-data; filename="x.png"')], shape)
    if shape == "two_images":
        return upload("upload.multipart", good + [file_part(b"not png", "second.png")], shape)
    if shape == "empty":
        return upload("upload.multipart", [], shape, body=b"")
    if shape == "many_fields":
        return upload("upload.multipart", good + [field_part(f"f{i}", "v") for i in range(2000)], shape)
    if shape == "big_field":
        return upload("upload.multipart", good + [field_part("subfolder", "s" * 10_000)], shape)
    if shape == "no_end":
        return upload("upload.multipart", [], shape, body=b"--" + BOUNDARY.encode() + b"\r\n" + good[0])
    if shape == "header_only":
        return upload("upload.multipart", [], shape, body=b"--" + BOUNDARY.encode() + b"\r\nContent-Disposition: form")
    body = bytearray(multipart(good))
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(body))
        body[at] = rng.randrange(256)
    return upload("upload.multipart", [], "bytes", body=bytes(body))


GENERATORS: dict[str, Generator] = {
    "upload.valid": valid,
    "upload.odd_name": odd_name,
    "upload.not_image": not_image,
    "upload.truncated_png": truncated_png,
    "upload.huge_dims": huge_dims,
    "upload.folder_overwrite": folder_overwrite,
    "upload.bad_fields": bad_fields,
    "upload.multipart": bad_multipart,
}
