"""ComfyUI classes that this app's own values pass isinstance checks for."""
from __future__ import annotations

from typing import Any


class Covers(type):
    """Metaclass of a ComfyUI class whose `covers` names the app's class standing for it:
    isinstance(vae, comfy.sd.VAE) is true for the app's VAE values, likewise CLIP and
    ModelPatcher for the app's text encoders and MODEL values."""

    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, cls.covers) or type.__instancecheck__(cls, instance)
