"""String nodes (ComfyUI's utils/string): join, cut, measure, compare and regex text."""
from __future__ import annotations

import re

from .registry import Node, register_node
from .spec import Boolean, Combo, Int, Output, String

CATEGORY = "utils/string"
STRING_OUT = (Output("STRING", "STRING"),)


def _text() -> String:
    return String(multiline=True)


def _flags(case_insensitive: bool, multiline: bool, dotall: bool) -> int:
    return ((re.IGNORECASE if case_insensitive else 0) | (re.MULTILINE if multiline else 0)
            | (re.DOTALL if dotall else 0))


@register_node("StringConcatenate", category=CATEGORY, display_name="Concatenate")
class StringConcatenate(Node):
    """string_a, the delimiter, then string_b."""

    string_a = _text()
    string_b = _text()
    delimiter = String(default="")
    OUTPUTS = STRING_OUT

    def execute(self, ctx, string_a: str, string_b: str, delimiter: str) -> tuple:
        return (delimiter.join((string_a, string_b)),)


@register_node("StringSubstring", category=CATEGORY, display_name="Substring")
class StringSubstring(Node):
    """Characters from start up to (not including) end; negative indices count from the end."""

    string = _text()
    start = Int(default=0)
    end = Int(default=0)
    OUTPUTS = STRING_OUT

    def execute(self, ctx, string: str, start: int, end: int) -> tuple:
        return (string[start:end],)


@register_node("StringLength", category=CATEGORY, display_name="Length")
class StringLength(Node):
    """Number of characters."""

    string = _text()
    OUTPUTS = (Output("INT", "length"),)

    def execute(self, ctx, string: str) -> tuple:
        return (len(string),)


CASES = {"UPPERCASE": str.upper, "lowercase": str.lower, "Capitalize": str.capitalize, "Title Case": str.title}


@register_node("CaseConverter", category=CATEGORY, display_name="Case Converter")
class CaseConverter(Node):
    """UPPERCASE, lowercase, Capitalize (first letter) or Title Case (every word)."""

    string = _text()
    mode = Combo(choices=list(CASES))
    OUTPUTS = STRING_OUT

    def execute(self, ctx, string: str, mode: str) -> tuple:
        return (CASES.get(mode, str)(string),)


TRIMS = {"Both": str.strip, "Left": str.lstrip, "Right": str.rstrip}


@register_node("StringTrim", category=CATEGORY, display_name="Trim")
class StringTrim(Node):
    """Whitespace removed from both ends, the left or the right."""

    string = _text()
    mode = Combo(choices=list(TRIMS))
    OUTPUTS = STRING_OUT

    def execute(self, ctx, string: str, mode: str) -> tuple:
        return (TRIMS.get(mode, str)(string),)


@register_node("StringReplace", category=CATEGORY, display_name="Replace")
class StringReplace(Node):
    """Every occurrence of `find` replaced (plain text, not a pattern)."""

    string = _text()
    find = _text()
    replace = _text()
    OUTPUTS = STRING_OUT

    def execute(self, ctx, string: str, find: str, replace: str) -> tuple:
        return (string.replace(find, replace),)


@register_node("StringContains", category=CATEGORY, display_name="Contains")
class StringContains(Node):
    """Whether `substring` occurs in the string."""

    string = _text()
    substring = _text()
    case_sensitive = Boolean(default=True)
    OUTPUTS = (Output("BOOLEAN", "contains"),)

    def execute(self, ctx, string: str, substring: str, case_sensitive: bool) -> tuple:
        if case_sensitive:
            return (substring in string,)
        return (substring.lower() in string.lower(),)


@register_node("StringCompare", category=CATEGORY, display_name="Compare")
class StringCompare(Node):
    """Whether string_a starts with, ends with or equals string_b."""

    string_a = _text()
    string_b = _text()
    mode = Combo(choices=["Starts With", "Ends With", "Equal"])
    case_sensitive = Boolean(default=True)
    OUTPUTS = (Output("BOOLEAN", "BOOLEAN"),)

    def execute(self, ctx, string_a: str, string_b: str, mode: str, case_sensitive: bool) -> tuple:
        a, b = (string_a, string_b) if case_sensitive else (string_a.lower(), string_b.lower())
        if mode == "Equal":
            return (a == b,)
        return (a.startswith(b) if mode == "Starts With" else a.endswith(b),)


@register_node("RegexMatch", category=CATEGORY, display_name="Regex Match")
class RegexMatch(Node):
    """Whether the pattern matches anywhere; an invalid pattern gives False."""

    string = _text()
    regex_pattern = _text()
    case_insensitive = Boolean(default=True)
    multiline = Boolean(default=False)
    dotall = Boolean(default=False)
    OUTPUTS = (Output("BOOLEAN", "matches"),)

    def execute(self, ctx, string: str, regex_pattern: str, case_insensitive: bool, multiline: bool,
                dotall: bool) -> tuple:
        try:
            return (re.search(regex_pattern, string, _flags(case_insensitive, multiline, dotall)) is not None,)
        except re.error:
            return (False,)


def extract(string: str, pattern: str, mode: str, flags: int, group_index: int) -> str:
    """The first / every match, or the group_index-th group of the first / every match,
    joined by new lines; "" when nothing matches."""
    if mode == "First Match":
        found = re.search(pattern, string, flags)
        return found.group(0) if found else ""
    if mode == "All Matches":
        matches = re.findall(pattern, string, flags)
        return "\n".join(m[0] if isinstance(m, tuple) else m for m in matches)
    if mode == "First Group":
        found = re.search(pattern, string, flags)
        return found.group(group_index) or "" if found and len(found.groups()) >= group_index else ""
    if mode == "All Groups":
        return "\n".join(m.group(group_index) or "" for m in re.finditer(pattern, string, flags)
                         if m.groups() and len(m.groups()) >= group_index)
    return ""


@register_node("RegexExtract", category=CATEGORY, display_name="Regex Extract")
class RegexExtract(Node):
    """Text the pattern matches; an invalid pattern gives an empty string."""

    string = _text()
    regex_pattern = _text()
    mode = Combo(choices=["First Match", "All Matches", "First Group", "All Groups"])
    case_insensitive = Boolean(default=True)
    multiline = Boolean(default=False)
    dotall = Boolean(default=False)
    group_index = Int(default=1, min=0, max=100)
    OUTPUTS = STRING_OUT

    def execute(self, ctx, string: str, regex_pattern: str, mode: str, case_insensitive: bool, multiline: bool,
                dotall: bool, group_index: int) -> tuple:
        try:
            return (extract(string, regex_pattern, mode, _flags(case_insensitive, multiline, dotall), group_index),)
        except re.error:
            return ("",)


@register_node("RegexReplace", category=CATEGORY, display_name="Regex Replace")
class RegexReplace(Node):
    """Matches of the pattern replaced (\\1 refers to a group); count 0 replaces all."""

    string = _text()
    regex_pattern = _text()
    replace = _text()
    case_insensitive = Boolean(default=True, optional=True)
    multiline = Boolean(default=False, optional=True)
    dotall = Boolean(default=False, optional=True,
                     tooltip="Let '.' match new lines too.")
    count = Int(default=0, min=0, max=100, optional=True,
                tooltip="Replace at most this many matches (0: every match).")
    OUTPUTS = STRING_OUT

    def execute(self, ctx, string: str, regex_pattern: str, replace: str, case_insensitive: bool = True,
                multiline: bool = False, dotall: bool = False, count: int = 0) -> tuple:
        flags = _flags(case_insensitive, multiline, dotall)
        return (re.sub(regex_pattern, replace, string, count=count, flags=flags),)
