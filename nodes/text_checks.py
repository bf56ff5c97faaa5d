"""Limits on constant strings and integers, checked when a prompt is validated.

A value that passes here cannot fail later for its size or its characters: a prompt
text the tokenizer can hold, a file-name prefix the output folder can take, an integer
torch and NumPy can hold (seeds go up to 2**64 - 1, as in ComfyUI).
"""
from __future__ import annotations

from typing import Optional

from .spec_errors import InputValueError

MAX_TEXT_CHARS = 200_000  # prompt texts and other free text: some 50,000 tokens, far beyond any real prompt
MAX_NAME_PART_BYTES = 200  # one folder or file name of a prefix, leaving room for "_00001_.png"
MAX_PREFIX_BYTES = 1024
PATH_PREFIX_INPUTS = frozenset({"filename_prefix"})  # ComfyUI's name for "where the output goes"
INT_LOW, INT_HIGH = -(2 ** 63), 2 ** 64 - 1


def check_text(name: str, text: str) -> str:
    """Refuse texts beyond the limit and texts no file or tokenizer can encode."""
    if len(text) > MAX_TEXT_CHARS:
        raise InputValueError("value_too_long", f"input '{name}' has {len(text):,} characters; at most "
                              f"{MAX_TEXT_CHARS:,} are accepted", name)
    position = _unencodable_at(text)
    if position is not None:
        raise InputValueError("invalid_input_type", f"input '{name}' has a lone UTF-16 surrogate at character "
                              f"{position}; text must be valid Unicode", name)
    if name in PATH_PREFIX_INPUTS:
        check_path_prefix(name, text)
    return text


def check_path_prefix(name: str, prefix: str) -> None:
    """A prefix like `subfolder/name` must stay inside the output folder and fit the file system."""
    def refuse(why: str) -> None:
        raise InputValueError("invalid_input_type", f"input '{name}' {why}", name)

    if any(ord(c) < 32 for c in prefix):
        refuse("contains a control character (such as NUL or a line break)")
    text = prefix.strip().replace("\\", "/")
    if text.startswith("/") or (len(text) > 1 and text[1] == ":"):
        refuse("must be a name inside the output folder, not an absolute path")
    parts = text.split("/")
    if ".." in parts:
        refuse("must not leave the output folder ('..')")
    if len(text.encode("utf-8")) > MAX_PREFIX_BYTES:
        refuse(f"is longer than {MAX_PREFIX_BYTES} bytes")
    for part in parts:
        if len(part.encode("utf-8")) > MAX_NAME_PART_BYTES:
            refuse(f"has a name part longer than {MAX_NAME_PART_BYTES} bytes: {part[:40]}...")


def check_int_range(name: str, number: int, minimum: Optional[int], maximum: Optional[int]) -> None:
    """Without declared bounds an integer must still fit 64 bits (signed, or unsigned for seeds)."""
    if minimum is None and number < INT_LOW:
        raise InputValueError("value_smaller_than_min", f"Value {_short(number)} smaller than min of {INT_LOW}: "
                              f"{name}", name)
    if maximum is None and number > INT_HIGH:
        raise InputValueError("value_bigger_than_max", f"Value {_short(number)} bigger than max of {INT_HIGH}: "
                              f"{name}", name)


def _unencodable_at(text: str) -> Optional[int]:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def _short(number: int) -> str:
    if abs(number) < 10 ** 30:
        return str(number)
    return f"a number of {int(abs(number).bit_length() * 0.30103) + 1} digits"
