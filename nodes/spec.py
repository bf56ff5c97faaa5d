"""Typed input and output descriptors that node classes declare as class attributes.

A node declares each input once, as a class attribute, in the order the editor shows
them. The same descriptors drive validation (executor) and the `/object_info` schema.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence, Union

from .spec_errors import InputValueError
from .text_checks import check_int_range, check_text

SOCKET_TYPES = ("MODEL", "CLIP", "VAE", "CONDITIONING", "LATENT", "IMAGE", "MASK", "CONTROL_NET", "UPSCALE_MODEL",
                "NOISE", "GUIDER", "SAMPLER", "SIGMAS", "LATENT_OPERATION")
ANY_TYPE = "*"


@dataclass(frozen=True)
class Input:
    """Base of every input descriptor. `name` is filled in from the attribute name."""

    type: str = ANY_TYPE
    optional: bool = False
    tooltip: Optional[str] = None
    name: str = ""
    force_input: bool = False  # a widget type that must come from a link
    lazy: bool = False  # a linked value computed only when the node asks (check_lazy_status)
    any_link_type: bool = False  # the node checks the types linked here itself (validate_values)
    added_later: bool = False  # a widget newer versions of the node have: older workflows get its default

    @property
    def is_widget(self) -> bool:
        return not self.force_input and self.type in ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO")

    def options(self) -> dict:
        """The options dict of the `/object_info` entry."""
        out: dict[str, Any] = {}
        if self.tooltip:
            out["tooltip"] = self.tooltip
        if self.force_input:
            out["forceInput"] = True
        if self.lazy:
            out["lazy"] = True
        return out

    def schema(self, folders: Any = None) -> list:
        """`[TYPE, options]` as in ComfyUI's `/object_info`."""
        return [self.type, self.options()]

    def coerce(self, value: Any, folders: Any = None) -> Any:
        """Check and convert a constant value; raises InputValueError."""
        return value

    def check_default(self) -> Optional[str]:
        """A problem with the declared default, found at registration, or None."""
        return None


@dataclass(frozen=True)
class Socket(Input):
    """An input that only a link can fill (MODEL, CLIP, LATENT, ...)."""

    @property
    def is_widget(self) -> bool:
        return False

    def coerce(self, value: Any, folders: Any = None) -> Any:
        raise InputValueError(
            "invalid_input_type", f"input '{self.name}' must be linked to a {self.type} output, got a constant"
        )


def _check_bounds(name: str, value: float, minimum: Optional[float], maximum: Optional[float]) -> None:
    if minimum is not None and value < minimum:
        raise InputValueError(
            "value_smaller_than_min", f"Value {value} smaller than min of {minimum}: {name}", f"{name}"
        )
    if maximum is not None and value > maximum:
        raise InputValueError(
            "value_bigger_than_max", f"Value {value} bigger than max of {maximum}: {name}", f"{name}"
        )


@dataclass(frozen=True)
class Int(Input):
    type: str = "INT"
    default: int = 0
    min: Optional[int] = None
    max: Optional[int] = None
    step: Optional[int] = None
    control_after_generate: bool = False

    def options(self) -> dict:
        out = {"default": self.default}
        for key in ("min", "max", "step"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.control_after_generate:
            out["control_after_generate"] = True
        return {**out, **super().options()}

    def coerce(self, value: Any, folders: Any = None) -> int:
        number = _to_number(value, self.name, "INT")
        if isinstance(number, float):
            if not number.is_integer():
                raise InputValueError("invalid_input_type", f"input '{self.name}' must be an integer, got {value!r}")
            number = int(number)
        _check_bounds(self.name, number, self.min, self.max)
        check_int_range(self.name, number, self.min, self.max)
        return number

    def check_default(self) -> Optional[str]:
        return _default_problem(self.default, self.min, self.max)


@dataclass(frozen=True)
class Float(Input):
    type: str = "FLOAT"
    default: float = 0.0
    min: Optional[float] = None
    max: Optional[float] = None
    step: Optional[float] = None
    round: Optional[float] = None

    def options(self) -> dict:
        out: dict[str, Any] = {"default": self.default}
        for key in ("min", "max", "step", "round"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return {**out, **super().options()}

    def coerce(self, value: Any, folders: Any = None) -> float:
        try:
            number = float(_to_number(value, self.name, "FLOAT"))
        except OverflowError:  # an integer too large for a float
            raise InputValueError("value_bigger_than_max", f"input '{self.name}' is too large a number") from None
        if not math.isfinite(number):
            raise InputValueError("invalid_input_type", f"input '{self.name}' must be a finite number, got {value!r}")
        _check_bounds(self.name, number, self.min, self.max)
        return number

    def check_default(self) -> Optional[str]:
        return _default_problem(self.default, self.min, self.max)


@dataclass(frozen=True)
class String(Input):
    type: str = "STRING"
    default: str = ""
    multiline: bool = False

    def options(self) -> dict:
        out: dict[str, Any] = {"default": self.default}
        if self.multiline:
            out["multiline"] = True
        return {**out, **super().options()}

    def coerce(self, value: Any, folders: Any = None) -> str:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise InputValueError("invalid_input_type", f"input '{self.name}' must be a string, got {type(value).__name__}")
        return check_text(self.name, str(value))


@dataclass(frozen=True)
class Boolean(Input):
    type: str = "BOOLEAN"
    default: bool = False
    label_on: Optional[str] = None
    label_off: Optional[str] = None

    def options(self) -> dict:
        out: dict[str, Any] = {"default": self.default}
        if self.label_on:
            out["label_on"] = self.label_on
        if self.label_off:
            out["label_off"] = self.label_off
        return {**out, **super().options()}

    def coerce(self, value: Any, folders: Any = None) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise InputValueError("invalid_input_type", f"input '{self.name}' must be true or false, got {value!r}")


OptionsSource = Union[Sequence[str], Callable[[Any], Sequence[str]]]


@dataclass(frozen=True)
class Combo(Input):
    """A choice from a list; the list may be computed on demand (model files)."""

    type: str = "COMBO"
    choices: OptionsSource = ()
    default: Optional[str] = None
    image_upload: bool = False

    def current_choices(self, folders: Any = None) -> list[str]:
        """The choices now; a callable source is asked with the app's model folders."""
        return list(self.choices(folders) if callable(self.choices) else self.choices)

    def options(self) -> dict:
        out: dict[str, Any] = {}
        if self.default is not None:
            out["default"] = self.default
        if self.image_upload:
            out["image_upload"] = True
        return {**out, **super().options()}

    def schema(self, folders: Any = None) -> list:
        return [self.current_choices(folders), self.options()]

    def coerce(self, value: Any, folders: Any = None) -> str:
        choices = self.current_choices(folders)
        if value not in choices:
            shown = ", ".join(map(str, choices[:20])) + (" ..." if len(choices) > 20 else "")
            raise InputValueError(
                "value_not_in_list",
                f"Value not in list: {self.name}: '{value}' not in [{shown}]",
                f"{self.name}: '{value}' not in list",
            )
        return value

    def check_default(self) -> Optional[str]:
        if self.default is not None and not callable(self.choices) and self.default not in self.choices:
            return f"default {self.default!r} not among the choices"
        return None


@dataclass(frozen=True)
class Output:
    type: Any  # a type name; a list of choices for an output that feeds a combo
    name: str = ""
    is_list: bool = False  # the value is a list of items; nodes downstream run once per item
    tooltip: Optional[str] = None


class ExecutionBlocker:
    """An output value that stops the nodes it reaches: they do not run and pass it on.

    With a message, the first node it stops reports that message; without, it is silent
    (a switch that turned a branch off)."""

    def __init__(self, message: Optional[str] = None) -> None:
        self.message = message

    def __repr__(self) -> str:
        return f"ExecutionBlocker({self.message!r})"


def _to_number(value: Any, name: str, kind: str) -> Union[int, float]:
    if isinstance(value, bool):
        raise InputValueError("invalid_input_type", f"input '{name}' must be {kind}, got a boolean")
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            try:
                return float(value)
            except ValueError:
                pass
    raise InputValueError("invalid_input_type", f"input '{name}' must be {kind}, got {value!r}")


def _default_problem(default: Any, minimum: Any, maximum: Any) -> Optional[str]:
    if minimum is not None and default < minimum:
        return f"default {default} below min {minimum}"
    if maximum is not None and default > maximum:
        return f"default {default} above max {maximum}"
    return None


@dataclass
class NodeOutput:
    """What a node's `execute` may return instead of a bare tuple: results plus UI data."""

    result: tuple = ()
    ui: dict = field(default_factory=dict)
