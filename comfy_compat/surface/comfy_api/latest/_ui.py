"""`comfy_api.latest.ui`: what a node shows in the editor (saved or previewed images, text)."""
from __future__ import annotations

import random
from typing import Any

import torch

from comfy_compat import runtime

from ._io_types import FolderType


class _UIOutput:
    def as_dict(self) -> dict:
        raise NotImplementedError


class SavedResult(dict):
    def __init__(self, filename: str, subfolder: str, type: Any) -> None:
        super().__init__(filename=filename, subfolder=subfolder, type=getattr(type, "value", type))


class SavedImages(_UIOutput):
    def __init__(self, results: list, is_animated: bool = False) -> None:
        self.results, self.is_animated = list(results), is_animated

    def as_dict(self) -> dict:
        out: dict = {"images": self.results}
        if self.is_animated:
            out["animated"] = (True,)
        return out


def _hidden(cls: Any, name: str) -> Any:
    hidden = getattr(cls, "hidden", None)
    return getattr(hidden, name, None) if hidden is not None else None


def _save(images: torch.Tensor, folder, kind: str, prefix: str, cls: Any, compress_level: int) -> list:
    from nodes.png_files import save_images

    return save_images(images, folder, prefix, _hidden(cls, "prompt"), _hidden(cls, "extra_pnginfo"),
                       compress_level=compress_level, folder_type=kind)


class ImageSaveHelper:
    @staticmethod
    def save_images(images: torch.Tensor, filename_prefix: str, folder_type: Any = FolderType.output,
                    cls: Any = None, compress_level: int = 4) -> list:
        kind = getattr(folder_type, "value", folder_type)
        folder = runtime.folders().by_type(kind)
        return [SavedResult(**r) for r in _save(images, folder, kind, filename_prefix, cls, compress_level)]

    @staticmethod
    def get_save_images_ui(images: torch.Tensor, filename_prefix: str, cls: Any = None,
                           compress_level: int = 4) -> SavedImages:
        return SavedImages(ImageSaveHelper.save_images(images, filename_prefix, FolderType.output, cls,
                                                       compress_level))


class PreviewImage(_UIOutput):
    """Images saved to the temp folder and shown on the node."""

    def __init__(self, image: torch.Tensor, animated: bool = False, cls: Any = None, **_: Any) -> None:
        prefix = "ComfyUI_temp_" + "".join(random.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(5))
        self.values = _save(image, runtime.folders().temp, "temp", prefix, cls, 1)
        self.animated = animated

    def as_dict(self) -> dict:
        return {"images": self.values, "animated": (self.animated,)}


class PreviewMask(PreviewImage):
    def __init__(self, mask: torch.Tensor, animated: bool = False, cls: Any = None, **_: Any) -> None:
        image = mask.reshape((-1, 1, mask.shape[-2], mask.shape[-1])).movedim(1, -1).expand(-1, -1, -1, 3)
        super().__init__(image, animated, cls)


class PreviewText(_UIOutput):
    def __init__(self, value: str, **_: Any) -> None:
        self.value = value

    def as_dict(self) -> dict:
        return {"text": (self.value,)}


class PreviewVideo(_UIOutput):
    def __init__(self, values: list, **_: Any) -> None:
        self.values = list(values)

    def as_dict(self) -> dict:
        return {"images": self.values, "animated": (True,)}


def __getattr__(name: str) -> Any:
    from comfy_compat.placeholders import fallback

    return fallback("comfy_api.latest._ui", name)


