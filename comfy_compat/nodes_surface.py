"""What ComfyUI's `nodes` module gives packs, served through our own `nodes` package:
MAX_RESOLUTION, NODE_CLASS_MAPPINGS (core nodes as V1 classes plus every pack's),
NODE_DISPLAY_NAME_MAPPINGS, the core classes by name, common_ksampler, and the
module-level dicts ComfyUI's loader fills."""
from __future__ import annotations

from typing import Any

from nodes.latent import MAX_RESOLUTION

from . import runtime
from .core_v1 import core_classes

NODE_CLASS_MAPPINGS: dict[str, type] = {}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}
EXTENSION_WEB_DIRS: dict[str, str] = {}
LOADED_MODULE_DIRS: dict[str, str] = {}


def _ensure_core() -> None:
    if not NODE_CLASS_MAPPINGS:
        from nodes.registry import REGISTRY

        for node_id, cls in core_classes().items():
            NODE_CLASS_MAPPINGS.setdefault(node_id, cls)
            node = REGISTRY.get(node_id)
            if node is not None:
                NODE_DISPLAY_NAME_MAPPINGS.setdefault(node_id, node.DISPLAY_NAME)


def remember_pack_classes(mappings: dict, names: dict) -> None:
    """Packs look each other's classes up in nodes.NODE_CLASS_MAPPINGS."""
    _ensure_core()
    NODE_CLASS_MAPPINGS.update({str(k): v for k, v in mappings.items()})
    NODE_DISPLAY_NAME_MAPPINGS.update({str(k): str(v) for k, v in names.items()})


def common_ksampler(model, seed: int, steps: int, cfg: float, sampler_name: str, scheduler: str, positive,
                    negative, latent: dict, denoise: float = 1.0, disable_noise: bool = False,
                    start_step: Any = None, last_step: Any = None, force_full_denoise: bool = False) -> tuple:
    """ComfyUI's shared sampler body: returns (latent,)."""
    from nodes.sampling import run_sampler

    out = run_sampler(runtime.context(), model, latent, positive, negative, seed=seed, steps=steps, cfg=cfg,
                      sampler_name=sampler_name, scheduler=scheduler, denoise=denoise,
                      add_noise=not disable_noise, start_step=start_step, last_step=last_step,
                      force_full_denoise=force_full_denoise)
    return (out,)


def before_node_execution() -> None:
    runtime.context().check_interrupted()


def interrupt_processing(value: bool = True) -> None:
    runtime.set_interrupt(value)


EXPORTS = {
    "MAX_RESOLUTION": MAX_RESOLUTION,
    "NODE_CLASS_MAPPINGS": NODE_CLASS_MAPPINGS,
    "NODE_DISPLAY_NAME_MAPPINGS": NODE_DISPLAY_NAME_MAPPINGS,
    "EXTENSION_WEB_DIRS": EXTENSION_WEB_DIRS,
    "LOADED_MODULE_DIRS": LOADED_MODULE_DIRS,
    "common_ksampler": common_ksampler,
    "before_node_execution": before_node_execution,
    "interrupt_processing": interrupt_processing,
}


def lookup(name: str) -> Any:
    """`nodes.<name>` for a name our own package does not define."""
    if name.startswith("__"):
        raise AttributeError(name)
    if name in EXPORTS:
        _ensure_core()
        return EXPORTS[name]
    classes = core_classes()
    if name in classes:
        return classes[name]
    from .placeholders import fallback

    return fallback("nodes", name)  # a core node ComfyUI has and this app not yet: a placeholder
