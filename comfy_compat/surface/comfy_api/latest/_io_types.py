"""The input and output types of ComfyUI's newer schema API (`comfy_api.latest.io`).

Each type (Int, Image, Custom("MY_TYPE"), ...) is a class with an `io_type` and nested
`Input` / `Output` descriptor classes; `as_dict()` gives the options ComfyUI publishes
for the input in its V1 form (what /object_info carries).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Iterable, Optional


class FolderType(str, enum.Enum):
    input = "input"
    output = "output"
    temp = "temp"


class UploadType(str, enum.Enum):
    image = "image_upload"
    audio = "audio_upload"
    video = "video_upload"
    model = "file_upload"


class NumberDisplay(str, enum.Enum):
    number = "number"
    slider = "slider"


class Hidden(str, enum.Enum):
    unique_id = "UNIQUE_ID"
    prompt = "PROMPT"
    extra_pnginfo = "EXTRA_PNGINFO"
    dynprompt = "DYNPROMPT"
    auth_token_comfy_org = "AUTH_TOKEN_COMFY_ORG"
    api_key_comfy_org = "API_KEY_COMFY_ORG"


@dataclass
class RemoteOptions:
    route: str
    refresh_button: bool
    control_after_refresh: str = "first"
    timeout: Optional[int] = None
    max_retries: Optional[int] = None
    refresh: Optional[int] = None

    def as_dict(self) -> dict:
        return _pruned(self.__dict__)


def _pruned(values: dict) -> dict:
    return {k: (v.value if isinstance(v, enum.Enum) else v) for k, v in values.items() if v is not None}


class Input:
    """An input of a node: its id, label, whether it is optional, lazy, its tooltip."""

    io_type: Any = "*"

    def __init__(self, id: str, display_name: Optional[str] = None, optional: bool = False,
                 tooltip: Optional[str] = None, lazy: Optional[bool] = None, extra_dict: Optional[dict] = None,
                 raw_link: Optional[bool] = None, advanced: Optional[bool] = None, **_: Any) -> None:
        self.id = id
        self.display_name = display_name
        self.optional = optional
        self.tooltip = tooltip
        self.lazy = lazy
        self.extra_dict = extra_dict or {}
        self.raw_link = raw_link
        self.advanced = advanced

    def get_io_type(self) -> Any:
        return self.io_type

    def get_all(self) -> list["Input"]:
        return [self]

    def as_dict(self) -> dict:
        return {**_pruned({"display_name": self.display_name, "optional": self.optional or None,
                           "tooltip": self.tooltip, "lazy": self.lazy, "rawLink": self.raw_link,
                           "advanced": self.advanced}), **self.extra_dict}

    def validate(self) -> None:
        pass


class WidgetInput(Input):
    """An input that has a widget (a value typed in) unless a link replaces it."""

    def __init__(self, id: str, display_name: Optional[str] = None, optional: bool = False,
                 tooltip: Optional[str] = None, lazy: Optional[bool] = None, default: Any = None,
                 socketless: Optional[bool] = None, widget_type: Optional[str] = None,
                 force_input: Optional[bool] = None, extra_dict: Optional[dict] = None,
                 raw_link: Optional[bool] = None, **kwargs: Any) -> None:
        super().__init__(id, display_name, optional, tooltip, lazy, extra_dict, raw_link, **kwargs)
        self.default = default
        self.socketless = socketless
        self.widget_type = widget_type
        self.force_input = force_input

    def as_dict(self) -> dict:
        return {**super().as_dict(), **_pruned({"default": self.default, "socketless": self.socketless,
                                                "widgetType": self.widget_type, "forceInput": self.force_input})}

    def get_io_type(self) -> Any:
        return self.widget_type or self.io_type


class Output:
    io_type: Any = "*"

    def __init__(self, id: Optional[str] = None, display_name: Optional[str] = None, tooltip: Optional[str] = None,
                 is_output_list: bool = False, **_: Any) -> None:
        self.id = id
        self.display_name = display_name or id
        self.tooltip = tooltip
        self.is_output_list = is_output_list

    def get_io_type(self) -> Any:
        return self.io_type


class ComfyType:
    io_type: Any = "*"
    Type = Any


def comfytype(io_type: Any):
    """Class decorator: a type whose nested Input/Output (made if absent) carry `io_type`."""

    def wrap(cls: type) -> type:
        cls.io_type = io_type
        for name, base in (("Input", Input), ("Output", Output)):
            own = cls.__dict__.get(name)
            if own is None:
                own = type(name, (base,), {})
                setattr(cls, name, own)
            own.io_type = io_type
        return cls

    return wrap


ComfyTypeI = ComfyTypeIO = ComfyType


@comfytype(io_type="BOOLEAN")
class Boolean(ComfyType):
    class Input(WidgetInput):
        def __init__(self, id: str, display_name=None, optional=False, tooltip=None, lazy=None, default=None,
                     label_on=None, label_off=None, socketless=None, force_input=None, extra_dict=None,
                     raw_link=None, **kwargs):
            super().__init__(id, display_name, optional, tooltip, lazy, default, socketless, None, force_input,
                             extra_dict, raw_link, **kwargs)
            self.label_on, self.label_off = label_on, label_off

        def as_dict(self) -> dict:
            return {**super().as_dict(), **_pruned({"label_on": self.label_on, "label_off": self.label_off})}


class _Number(WidgetInput):
    def __init__(self, id: str, display_name=None, optional=False, tooltip=None, lazy=None, default=None, min=None,
                 max=None, step=None, round=None, control_after_generate=None, display_mode=None, socketless=None,
                 force_input=None, extra_dict=None, raw_link=None, **kwargs):
        super().__init__(id, display_name, optional, tooltip, lazy, default, socketless, None, force_input,
                         extra_dict, raw_link, **kwargs)
        self.min, self.max, self.step, self.round = min, max, step, round
        self.control_after_generate, self.display_mode = control_after_generate, display_mode

    def as_dict(self) -> dict:
        return {**super().as_dict(), **_pruned({"min": self.min, "max": self.max, "step": self.step,
                                                "round": self.round,
                                                "control_after_generate": self.control_after_generate,
                                                "display": self.display_mode})}


@comfytype(io_type="INT")
class Int(ComfyType):
    class Input(_Number):
        pass


@comfytype(io_type="FLOAT")
class Float(ComfyType):
    class Input(_Number):
        pass


@comfytype(io_type="STRING")
class String(ComfyType):
    class Input(WidgetInput):
        def __init__(self, id: str, display_name=None, optional=False, tooltip=None, lazy=None, multiline=False,
                     placeholder=None, default=None, dynamic_prompts=None, socketless=None, force_input=None,
                     extra_dict=None, raw_link=None, **kwargs):
            super().__init__(id, display_name, optional, tooltip, lazy, default, socketless, None, force_input,
                             extra_dict, raw_link, **kwargs)
            self.multiline, self.placeholder, self.dynamic_prompts = multiline, placeholder, dynamic_prompts

        def as_dict(self) -> dict:
            return {**super().as_dict(), **_pruned({"multiline": self.multiline or None,
                                                    "placeholder": self.placeholder,
                                                    "dynamicPrompts": self.dynamic_prompts})}


def _options(options: Any) -> list:
    if isinstance(options, type) and issubclass(options, enum.Enum):
        return [member.value for member in options]
    return list(options or [])


@comfytype(io_type="COMBO")
class Combo(ComfyType):
    class Input(WidgetInput):
        def __init__(self, id: str, options: Any = None, display_name=None, optional=False, tooltip=None,
                     lazy=None, default=None, control_after_generate=None, upload=None, image_folder=None,
                     remote=None, socketless=None, extra_dict=None, raw_link=None, **kwargs):
            if isinstance(default, enum.Enum):
                default = default.value
            super().__init__(id, display_name, optional, tooltip, lazy, default, socketless, None, None,
                             extra_dict, raw_link, **kwargs)
            self.options = _options(options)
            self.control_after_generate, self.upload = control_after_generate, upload
            self.image_folder, self.remote = image_folder, remote

        def as_dict(self) -> dict:
            out = {**super().as_dict(), "multiselect": False, "options": list(self.options),
                   **_pruned({"control_after_generate": self.control_after_generate,
                              "image_folder": self.image_folder})}
            if self.upload is not None:
                out[UploadType(self.upload).value] = True
            if self.remote is not None:
                out["remote"] = self.remote.as_dict()
            return out

    class Output(Output):
        def __init__(self, id=None, display_name=None, options=None, tooltip=None, is_output_list=False, **kw):
            super().__init__(id, display_name, tooltip, is_output_list, **kw)
            self.options = _options(options)


@comfytype(io_type="COMBO")
class MultiCombo(ComfyType):
    class Input(Combo.Input):
        def __init__(self, id: str, options: Any = None, display_name=None, optional=False, tooltip=None,
                     lazy=None, default=None, placeholder=None, chip=None, control_after_generate=None,
                     socketless=None, extra_dict=None, raw_link=None, **kwargs):
            super().__init__(id, options, display_name, optional, tooltip, lazy, default, control_after_generate,
                             socketless=socketless, extra_dict=extra_dict, raw_link=raw_link, **kwargs)
            self.placeholder, self.chip = placeholder, chip

        def as_dict(self) -> dict:
            return {**super().as_dict(), "multiselect": True,
                    **_pruned({"placeholder": self.placeholder, "chip": self.chip})}


def Custom(io_type: str) -> type:
    """A type of the pack's own: `io.Custom("MY_TYPE").Input("x")`."""
    return comfytype(io_type=io_type)(type(f"Custom_{io_type}", (ComfyType,), {}))


# Socket types (links only), by class name and the type string they carry.
SOCKET_TYPES = {
    "Image": "IMAGE", "Mask": "MASK", "Latent": "LATENT", "Conditioning": "CONDITIONING", "Model": "MODEL",
    "Clip": "CLIP", "Vae": "VAE", "ControlNet": "CONTROL_NET", "ClipVision": "CLIP_VISION",
    "ClipVisionOutput": "CLIP_VISION_OUTPUT", "StyleModel": "STYLE_MODEL", "Gligen": "GLIGEN",
    "UpscaleModel": "UPSCALE_MODEL", "LatentUpscaleModel": "LATENT_UPSCALE_MODEL", "Sampler": "SAMPLER",
    "Sigmas": "SIGMAS", "Noise": "NOISE", "Guider": "GUIDER", "Audio": "AUDIO", "Video": "VIDEO", "SVG": "SVG",
    "LoraModel": "LORA_MODEL", "LossMap": "LOSS_MAP", "Voxel": "VOXEL", "Mesh": "MESH", "Hooks": "HOOKS",
    "HookKeyframes": "HOOK_KEYFRAMES", "TimestepsRange": "TIMESTEPS_RANGE", "LatentOperation": "LATENT_OPERATION",
    "FlowControl": "FLOW_CONTROL", "Accumulation": "ACCUMULATION", "Load3DCamera": "LOAD3D_CAMERA",
    "Load3D": "LOAD_3D", "Load3DAnimation": "LOAD_3D_ANIMATION", "Photomaker": "PHOTOMAKER", "Point": "POINT",
    "FaceAnalysis": "FACE_ANALYSIS", "BBOX": "BBOX", "SEGS": "SEGS", "ModelPatch": "MODEL_PATCH",
    "AudioEncoder": "AUDIO_ENCODER", "AudioEncoderOutput": "AUDIO_ENCODER_OUTPUT", "Tracks": "TRACKS",
    "WanCameraEmbedding": "WAN_CAMERA_EMBEDDING", "BoundingBox": "BOUNDING_BOX", "AnyType": "*",
}
globals().update({name: Custom(kind) for name, kind in SOCKET_TYPES.items()})
for _name in SOCKET_TYPES:
    globals()[_name].__name__ = globals()[_name].__qualname__ = _name


class MultiType:
    """An input accepting several types (published as their comma-joined names)."""

    class Input(Input):
        def __init__(self, id: Any, types: Iterable[Any], display_name=None, optional=False, tooltip=None,
                     lazy=None, extra_dict=None, raw_link=None, **kwargs):
            self.widget = id if isinstance(id, Input) else None
            name = id.id if isinstance(id, Input) else id
            super().__init__(name, display_name, optional, tooltip, lazy, extra_dict, raw_link, **kwargs)
            self.types = list(types)

        def get_io_type(self) -> str:
            names = [self.widget.get_io_type()] if self.widget is not None else []
            for kind in self.types:
                name = kind if isinstance(kind, str) else kind.io_type
                if name not in names:
                    names.append(name)
            return ",".join(str(n) for n in names)

        def as_dict(self) -> dict:
            return {**(self.widget.as_dict() if self.widget is not None else {}), **super().as_dict()}


class MatchType:
    """An input/output whose type follows what is linked (the frontend keeps them in step)."""

    io_type = "COMFY_MATCHTYPE_V3"

    class Template:
        def __init__(self, template_id: str, allowed_types: Any = None) -> None:
            self.template_id = template_id
            self.allowed_types = allowed_types

    class Input(Input):
        io_type = "COMFY_MATCHTYPE_V3"

        def __init__(self, id: str, template: Any = None, display_name=None, optional=False, tooltip=None,
                     lazy=None, extra_dict=None, raw_link=None, **kwargs):
            super().__init__(id, display_name, optional, tooltip, lazy, extra_dict, raw_link, **kwargs)
            self.template = template

    class Output(Output):
        io_type = "COMFY_MATCHTYPE_V3"

        def __init__(self, template: Any = None, id=None, display_name=None, tooltip=None, is_output_list=False,
                     **kwargs):
            super().__init__(id, display_name or "MATCHTYPE", tooltip, is_output_list, **kwargs)
            self.template = template


class DynamicInput(Input):
    """An input that stands for a group of inputs chosen or grown in the editor."""

    def nested(self) -> list[tuple[str, Input]]:
        """(flat id, input) of every input it can stand for."""
        return []


class DynamicCombo:
    io_type = "COMFY_DYNAMICCOMBO_V3"

    class Option:
        def __init__(self, key: str, inputs: list[Input]) -> None:
            self.key = key
            self.inputs = inputs

    class Input(DynamicInput):
        io_type = "COMFY_DYNAMICCOMBO_V3"

        def __init__(self, id: str, options: list, display_name=None, optional=False, tooltip=None, lazy=None,
                     extra_dict=None, **kwargs):
            super().__init__(id, display_name, optional, tooltip, lazy, extra_dict, **kwargs)
            self.options = list(options)

        def get_all(self) -> list[Input]:
            return [self] + [i for option in self.options for i in option.inputs]

        def nested(self) -> list[tuple[str, Input]]:
            seen = {}
            for option in self.options:
                for child in option.inputs:
                    seen.setdefault(f"{self.id}.{child.id}", child)
            return list(seen.items())


class Autogrow:
    io_type = "COMFY_AUTOGROW_V3"

    class TemplatePrefix:
        def __init__(self, input: Input, prefix: str, min: int = 1, max: int = 10) -> None:
            self.input, self.prefix, self.min, self.max = input, prefix, min, max

        def names(self) -> list[str]:
            return [f"{self.prefix}{i}" for i in range(self.max)]

    class TemplateNames:
        def __init__(self, input: Input, names: list[str], min: int = 1) -> None:
            self.input, self.names_list, self.min = input, list(names), min

        def names(self) -> list[str]:
            return list(self.names_list)

    class Input(DynamicInput):
        io_type = "COMFY_AUTOGROW_V3"

        def __init__(self, id: str, template: Any, display_name=None, optional=False, tooltip=None, lazy=None,
                     extra_dict=None, **kwargs):
            super().__init__(id, display_name, optional, tooltip, lazy, extra_dict, **kwargs)
            self.template = template

        def nested(self) -> list[tuple[str, Input]]:
            return [(f"{self.id}.{name}", self.template.input) for name in self.template.names()]


class DynamicSlot:
    io_type = "COMFY_DYNAMICSLOT_V3"

    class Input(DynamicInput):
        io_type = "COMFY_DYNAMICSLOT_V3"

        def __init__(self, slot: Input, inputs: list[Input], display_name=None, optional=False, tooltip=None,
                     lazy=None, extra_dict=None, **kwargs):
            super().__init__(slot.id, display_name, optional, tooltip, lazy, extra_dict, **kwargs)
            self.slot, self.inputs = slot, list(inputs)

        def nested(self) -> list[tuple[str, Input]]:
            return [(f"{self.id}.{child.id}", child) for child in self.inputs]


DYNAMIC_TYPES = ("COMFY_DYNAMICCOMBO_V3", "COMFY_AUTOGROW_V3", "COMFY_DYNAMICSLOT_V3")
