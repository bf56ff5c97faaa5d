"""GET /view cases: file names and folders that try to leave input/output/temp, or that
the OS, Pillow or the URL decoder may choke on.

Queries are percent-encoded here, byte by byte, so a lone surrogate (`%ED%A0%80`),
invalid UTF-8 or a NUL reach the server exactly as written.
"""
from __future__ import annotations

import random
from typing import Callable, Union
from urllib.parse import quote

from .fuzz_core import Case

Generator = Callable[[random.Random, dict], Case]
Value = Union[str, bytes]

FOLDER = "fuzzdir"  # made in input/, output/ and temp/ by the harness, with inner.png inside
IMAGE = "example.png"  # an input the server provides itself
TYPES = ("input", "output", "temp")


def encode(value: Value) -> str:
    data = value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")
    return quote(data, safe="")


def view(kind: str, params: list[tuple[str, Value]], detail: str = "", raw: str = "") -> Case:
    """GET /view with `params` encoded in order, then `raw` appended untouched."""
    query = "&".join(f"{encode(k)}={encode(v)}" for k, v in params)
    if raw:
        query = f"{query}&{raw}" if query else raw
    return Case(kind, "GET", f"/view?{query}", detail=detail or repr(params)[:120])


def _place(rng: random.Random, kind: str, odd: Value) -> Case:
    """`odd` as the filename, the subfolder or both."""
    where = rng.choice(["filename", "subfolder", "both"])
    folder_type = rng.choice(TYPES)
    if where == "filename":
        params = [("filename", odd), ("type", folder_type)]
    elif where == "subfolder":
        params = [("filename", IMAGE), ("subfolder", odd), ("type", folder_type)]
    else:
        params = [("filename", odd), ("subfolder", odd), ("type", folder_type)]
    return view(kind, params, f"{where}={odd!r}"[:120])


def valid(rng: random.Random, schema: dict) -> Case:
    params: list[tuple[str, Value]] = rng.choice([
        [("filename", IMAGE), ("type", "input")],
        [("filename", "inner.png"), ("subfolder", FOLDER), ("type", rng.choice(TYPES))],
        [("filename", f"{IMAGE} [input]")],
    ])
    extra = rng.choice([[], [("preview", "webp;90")], [("preview", "jpeg;50")], [("channel", "rgb")],
                        [("channel", "a")], [("channel", "rgba")], [("preview", "png")]])
    return view("view.valid", params + extra)


def preview(rng: random.Random, schema: dict) -> Case:
    name = rng.choice(["preview", "channel"])
    odd = rng.choice(["webp;-5", "jpeg;999", "", ";", "webp;abc", "gif;50", "x" * 5000, "webp;90;1",
                      "webp;1e999", "webp;" + "9" * 400, "A", "xyz", "a\x00", "webp;nan", "bmp;1", "\ud800",
                      "jpeg;0", "webp;100", "tiff;5", "JPEG;50"])
    base: list[tuple[str, Value]] = [("filename", IMAGE), ("type", "input")]
    if rng.random() < 0.3:
        base = [("filename", "notes.txt"), ("subfolder", FOLDER), ("type", "input")]
    return view("view.preview", base + [(name, odd)], f"{name}={odd!r}"[:80])


def _odd_names(kind: str, names: tuple[Value, ...]) -> Generator:
    def generate(rng: random.Random, schema: dict) -> Case:
        return _place(rng, kind, rng.choice(names))

    return generate


TRAVERSAL = ("..", "../", "../example.png", "../../etc/passwd", "....//x", "..\\..\\x", f"{FOLDER}/../../x",
             "../input/example.png", "./../x", "..%2fx", "%2e%2e/x", ".../x", "x/../../../../../../../etc/passwd")
ABSOLUTE = ("/etc/passwd", "/", "//etc/passwd", "C:\\Windows\\win.ini", "\\\\server\\share\\x", "/proc/self/environ",
            "file:///etc/passwd", "~/x", "~root/x", "/dev/zero", "/dev/stdin")
LONG = ("a" * 300 + ".png", "a" * 255 + ".png", "a" * 5000, "/".join(["b" * 300] * 3), "a/" * 2000 + "x",
        "é" * 300, "😀" * 300, "x" * 8000)
NUL = ("\x00", "a\x00b", "example.png\x00.txt", f"{FOLDER}\x00", "\x00/../x")
SURROGATES: tuple[Value, ...] = ("\ud800", "a\udfffb", b"\xff", b"\xc0\xae\xc0\xae", b"\xe2\x82", b"\xed\xa0\x80.png",
                                 "\ud83d")
SUBFOLDER_TRICKS = (".", "./", f"{FOLDER}/..", f"{FOLDER}/./", IMAGE, f"{FOLDER}\\..", "//", "~", "$HOME",
                    "%252e%252e", f"{FOLDER}/inner.png", " ", f"{FOLDER} ", "\t", "input", "..output")
ANNOTATED = (f"{IMAGE} [input]", "../x [input]", "x [temp] [input]", " [input]", f"{IMAGE} [models]",
             f"{IMAGE}[input]", f"{FOLDER} [input]", f"../{IMAGE} [output]", f"{IMAGE} [input] ")


def annotated(rng: random.Random, schema: dict) -> Case:
    name = rng.choice(ANNOTATED)
    params: list[tuple[str, Value]] = [("filename", name)]
    if rng.random() < 0.5:
        params.append(("type", rng.choice(TYPES)))
    return view("view.annotated", params, repr(name))


def folder_type(rng: random.Random, schema: dict) -> Case:
    odd = rng.choice(["../input", "INPUT", "models", "", "output\x00", "input/..", " input", "checkpoints",
                      "user", "\ud800", "input" * 1000, "temp/", "outputs"])
    params: list[tuple[str, Value]] = [("filename", IMAGE), ("type", odd)]
    if rng.random() < 0.3:
        params.append(("type", "input"))  # given twice
    return view("view.type", params, f"type={odd!r}"[:80])


def missing(rng: random.Random, schema: dict) -> Case:
    params = rng.choice([[], [("filename", "")], [("filename", " ")], [("filename", FOLDER), ("type", "input")],
                         [("filename", "."), ("type", "input")], [("subfolder", FOLDER)], [("type", "input")],
                         [("filename", "nothing-here.png")], [("filename", "inner.png"), ("type", "input")]])
    return view("view.missing", params)


def odd_query(rng: random.Random, schema: dict) -> Case:
    raw = rng.choice([
        "filename", "filename=", "&&&", "%", "%zz", "filename=%", "filename=a%2", "=x",
        "filename=example.png;type=input", "filename=example.png&type=input&type=output", "filename=example+png",
        "&".join(f"k{i}=v" for i in range(1000)), "filename=example.png&type=input&preview", "filename=%00",
        "filename[]=a&filename[]=b", "filename=example.png#x",
    ])
    return view("view.odd_query", [], raw, raw=raw)


GENERATORS: dict[str, Generator] = {
    "view.valid": valid,
    "view.preview": preview,
    "view.traversal": _odd_names("view.traversal", TRAVERSAL),
    "view.absolute": _odd_names("view.absolute", ABSOLUTE),
    "view.long_name": _odd_names("view.long_name", LONG),
    "view.nul": _odd_names("view.nul", NUL),
    "view.surrogate": _odd_names("view.surrogate", SURROGATES),
    "view.subfolder": _odd_names("view.subfolder", SUBFOLDER_TRICKS),
    "view.annotated": annotated,
    "view.type": folder_type,
    "view.missing": missing,
    "view.odd_query": odd_query,
}
