"""ComfyUI's `comfy.model_base`: the model type enum and the class names packs test against.

A MODEL here is one of this app's models and `model.model` a view of it; these classes
answer isinstance for that view by family (`isinstance(model.model, comfy.model_base.SDXL)`
is true for an SDXL checkpoint), as ComfyUI's model classes do."""
from __future__ import annotations

from typing import Any

from diffusion.model_view import BaseModelView, ModelType  # noqa: F401
from diffusion.types import ModelFamily


class _ByFamily(type):
    def __instancecheck__(cls, instance: Any) -> bool:
        if not isinstance(instance, BaseModelView):
            return type.__instancecheck__(cls, instance)
        families = cls.__dict__.get("families")
        return families is None or instance.latent_format.family in families


class BaseModel(BaseModelView, metaclass=_ByFamily):
    families = None


class SD21UNCLIP(BaseModel):
    families = (ModelFamily.SD2,)


class SDXL(BaseModel):
    families = (ModelFamily.SDXL,)


class SDXLRefiner(BaseModel):
    families = ()


def __getattr__(name: str) -> Any:
    from comfy_compat.placeholders import fallback

    return fallback(__name__, name)
