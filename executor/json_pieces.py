"""JSON in small pieces, so a huge document never holds the interpreter for long.

`json.loads` of a 100,000-node prompt is one C call of half a second during which no other
thread (the event loop included) runs. Here the outer objects and arrays of a big document
are walked by hand and only their members are handed to the C decoder, one at a time; the
result is the same as `json.loads` (duplicate keys: the last wins), NaN and Infinity refused.
"""
from __future__ import annotations

import json
import re
from json.decoder import scanstring
from typing import Any, Callable, Optional

SPLIT_BYTES = 64 * 1024  # members of containers bigger than this are decoded one by one
SPLIT_LEVELS = 3  # body -> prompt -> node (and extra_data -> extra_pnginfo -> workflow)
_SPACE = re.compile(r"[ \t\n\r]*")


def loads_in_pieces(text: str, parse_constant: Callable[[str], Any]) -> Any:
    """`json.loads(text)`, in pieces; raises json.JSONDecodeError (a ValueError) like it."""
    decoder = json.JSONDecoder(parse_constant=parse_constant)
    value, end = _value(text, _skip(text, 0), decoder, SPLIT_LEVELS)
    end = _skip(text, end)
    if end != len(text):
        raise json.JSONDecodeError("Extra data", text, end)
    return value


def _skip(text: str, index: int) -> int:
    return _SPACE.match(text, index).end()


def _value(text: str, index: int, decoder: json.JSONDecoder, levels: int) -> tuple[Any, int]:
    opener = text[index:index + 1]
    if levels > 0 and opener in ("{", "[") and _is_big(text, index):
        return (_object if opener == "{" else _array)(text, index + 1, decoder, levels - 1)
    return decoder.raw_decode(text, index)


def _is_big(text: str, index: int) -> bool:
    """Whether the container at `index` may be big (judged cheaply by the text after it)."""
    return len(text) - index > SPLIT_BYTES


def _object(text: str, index: int, decoder: json.JSONDecoder, levels: int) -> tuple[dict, int]:
    out: dict = {}
    index = _skip(text, index)
    if text[index:index + 1] == "}":
        return out, index + 1
    while True:
        if text[index:index + 1] != '"':
            raise json.JSONDecodeError("Expecting property name enclosed in double quotes", text, index)
        key, index = scanstring(text, index + 1)
        index = _skip(text, index)
        if text[index:index + 1] != ":":
            raise json.JSONDecodeError("Expecting ':' delimiter", text, index)
        out[key], index = _value(text, _skip(text, index + 1), decoder, levels)
        index = _skip(text, index)
        if text[index:index + 1] == "}":
            return out, index + 1
        if text[index:index + 1] != ",":
            raise json.JSONDecodeError("Expecting ',' delimiter", text, index)
        index = _skip(text, index + 1)


def _array(text: str, index: int, decoder: json.JSONDecoder, levels: int) -> tuple[list, int]:
    out: list = []
    index = _skip(text, index)
    if text[index:index + 1] == "]":
        return out, index + 1
    while True:
        item, index = _value(text, index, decoder, levels)
        out.append(item)
        index = _skip(text, index)
        if text[index:index + 1] == "]":
            return out, index + 1
        if text[index:index + 1] != ",":
            raise json.JSONDecodeError("Expecting ',' delimiter", text, index)
        index = _skip(text, index + 1)


def dumps_in_pieces(value: Any, *, sort_keys: bool = False, separators: tuple[str, str] = (", ", ": "),
                    default: Optional[Callable[[Any], Any]] = None, levels: int = SPLIT_LEVELS) -> str:
    """`json.dumps(value, ...)`, the same text, made of one small encoder call per member of
    the outer `levels` of containers."""
    item_sep, key_sep = separators

    def encode(part: Any, depth: int) -> str:
        if depth > 0 and isinstance(part, (list, tuple)):
            return "[" + item_sep.join(encode(item, depth - 1) for item in part) + "]"
        if depth > 0 and isinstance(part, dict) and all(isinstance(k, str) for k in part):
            keys = sorted(part) if sort_keys else part
            return "{" + item_sep.join(json.dumps(k) + key_sep + encode(part[k], depth - 1) for k in keys) + "}"
        return json.dumps(part, sort_keys=sort_keys, separators=separators, default=default)

    return encode(value, levels)
