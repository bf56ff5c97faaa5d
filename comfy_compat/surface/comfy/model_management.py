"""ComfyUI's `comfy.model_management`: devices, dtypes, memory and interrupts.

Models here stay where their loader put them (the engine's device choice), so the
loading calls packs make (`load_models_gpu`, `free_memory`) have nothing to move; the
questions they ask (which device, how much memory, interrupted yet?) get real answers.
"""
from __future__ import annotations

import enum
import gc
from typing import Any, Iterable

import torch

from comfy_compat import runtime
from diffusion.device import default_device, default_dtype
from nodes.context import ExecutionInterrupted

InterruptProcessingException = ExecutionInterrupted
OOM_EXCEPTION = torch.cuda.OutOfMemoryError


class VRAMState(enum.Enum):
    DISABLED = 0
    NO_VRAM = 1
    LOW_VRAM = 2
    NORMAL_VRAM = 3
    HIGH_VRAM = 4
    SHARED = 5


class CPUState(enum.Enum):
    GPU = 0
    CPU = 1
    MPS = 2


cpu_state = CPUState.GPU if default_device().type == "cuda" else CPUState.CPU
vram_state = VRAMState.NORMAL_VRAM if cpu_state == CPUState.GPU else VRAMState.DISABLED
set_vram_to = vram_state
DISABLE_SMART_MEMORY = False
directml_enabled = False
xpu_available = False
lowvram_available = True
current_loaded_models: list = []
XFORMERS_IS_AVAILABLE = False
XFORMERS_VERSION = ""
ENABLE_PYTORCH_ATTENTION = True
MIN_WEIGHT_MEMORY_RATIO = 0.4
EXTRA_RESERVED_VRAM = 400 * 1024 * 1024


def use_memory_policy(policy: str, disable_smart_memory: bool) -> None:
    """Set by the app from its memory flags: the VRAMState packs read here."""
    global vram_state, set_vram_to, cpu_state, DISABLE_SMART_MEMORY
    states = {"gpu_only": VRAMState.HIGH_VRAM, "highvram": VRAMState.HIGH_VRAM, "normalvram": VRAMState.NORMAL_VRAM,
              "lowvram": VRAMState.LOW_VRAM, "novram": VRAMState.NO_VRAM, "cpu": VRAMState.DISABLED}
    cpu_state = CPUState.CPU if policy == "cpu" or default_device().type != "cuda" else CPUState.GPU
    vram_state = set_vram_to = states[policy] if cpu_state == CPUState.GPU else VRAMState.DISABLED
    DISABLE_SMART_MEMORY = disable_smart_memory


def get_torch_device() -> torch.device:
    return default_device()


def get_all_torch_devices(exclude_current: bool = False) -> list[torch.device]:
    devices = [torch.device("cuda", i) for i in range(torch.cuda.device_count())] or [torch.device("cpu")]
    if exclude_current:
        devices = [d for d in devices if d != get_torch_device()]
    return devices


def get_torch_device_name(device: Any) -> str:
    device = torch.device(device)
    if device.type == "cuda":
        return f"{device} {torch.cuda.get_device_name(device)}"
    return str(device.type)


def intermediate_device() -> torch.device:
    return torch.device("cpu")


def intermediate_dtype() -> torch.dtype:
    return torch.float32


def unet_offload_device() -> torch.device:
    return torch.device("cpu")


text_encoder_offload_device = unet_offload_device
vae_offload_device = unet_offload_device


def text_encoder_device() -> torch.device:
    return get_torch_device()


vae_device = text_encoder_device


def unet_inital_load_device(parameters: int = 0, dtype: Any = None) -> torch.device:
    return get_torch_device()


def text_encoder_initial_device(load_device: Any = None, offload_device: Any = None, model_size: int = 0):
    return load_device if load_device is not None else get_torch_device()


def _dtype_for(device: Any) -> torch.dtype:
    """The engine's weights dtype for a device (None: the default device)."""
    return default_dtype(torch.device(device) if device is not None else None)


def unet_dtype(device: Any = None, model_params: int = 0, supported_dtypes: Iterable = (), weight_dtype: Any = None):
    return _dtype_for(device)


def text_encoder_dtype(device: Any = None) -> torch.dtype:
    return _dtype_for(device)


def vae_dtype(device: Any = None, allowed_dtypes: Iterable = ()) -> torch.dtype:
    return _dtype_for(device)


def unet_manual_cast(weight_dtype: Any, inference_device: Any, supported_dtypes: Iterable = ()) -> None:
    return None


def pick_weight_dtype(dtype: Any, fallback_dtype: Any, device: Any = None) -> Any:
    return dtype if dtype is not None else fallback_dtype


def should_use_fp16(device: Any = None, model_params: int = 0, prioritize_performance: bool = True,
                    manual_cast: bool = False) -> bool:
    return _dtype_for(device) == torch.float16


def should_use_bf16(device: Any = None, model_params: int = 0, prioritize_performance: bool = True,
                    manual_cast: bool = False) -> bool:
    return _dtype_for(device) == torch.bfloat16


def supports_fp8_compute(device: Any = None) -> bool:
    return False


def supports_dtype(device: Any, dtype: torch.dtype) -> bool:
    return dtype == torch.float32 or torch.device(device).type == "cuda"


def supports_cast(device: Any, dtype: torch.dtype) -> bool:
    return True


def device_supports_non_blocking(device: Any) -> bool:
    return torch.device(device).type == "cuda"


def get_autocast_device(dev: Any) -> str:
    return torch.device(dev).type if dev is not None else "cuda"


def is_device_type(device: Any, kind: str) -> bool:
    return getattr(device, "type", None) == kind


def is_device_cpu(device: Any) -> bool:
    return is_device_type(device, "cpu")


def is_device_mps(device: Any) -> bool:
    return is_device_type(device, "mps")


def is_device_cuda(device: Any) -> bool:
    return is_device_type(device, "cuda")


def is_device_xpu(device: Any) -> bool:
    return is_device_type(device, "xpu")


def cpu_mode() -> bool:
    return cpu_state == CPUState.CPU


def mps_mode() -> bool:
    return cpu_state == CPUState.MPS


def is_intel_xpu() -> bool:
    return False


def is_nvidia() -> bool:
    return torch.cuda.is_available() and torch.version.cuda is not None


def is_amd() -> bool:
    return torch.cuda.is_available() and getattr(torch.version, "hip", None) is not None


def is_directml_enabled() -> bool:
    return False


def xformers_enabled() -> bool:
    return False


def xformers_enabled_vae() -> bool:
    return False


def pytorch_attention_enabled() -> bool:
    return True


def pytorch_attention_enabled_vae() -> bool:
    return True


def pytorch_attention_flash_attention() -> bool:
    return torch.cuda.is_available()


def sage_attention_enabled() -> bool:
    return False


def flash_attention_enabled() -> bool:
    return False


def force_upcast_attention_dtype() -> None:
    return None


def force_channels_last() -> bool:
    return False


# -- memory -----------------------------------------------------------------------------

def _ram() -> tuple[int, int]:
    from server.routes_info import _memory  # one reading of /proc/meminfo for the whole app

    return _memory()


def get_total_memory(dev: Any = None, torch_total_too: bool = False):
    dev = torch.device(dev) if dev is not None else get_torch_device()
    if dev.type == "cuda":
        total = torch.cuda.mem_get_info(dev)[1]
        reserved = torch.cuda.memory_reserved(dev)
    else:
        total = reserved = _ram()[0]
    return (total, reserved) if torch_total_too else total


def get_free_memory(dev: Any = None, torch_free_too: bool = False):
    dev = torch.device(dev) if dev is not None else get_torch_device()
    if dev.type == "cuda":
        free = torch.cuda.mem_get_info(dev)[0]
        torch_free = torch.cuda.memory_reserved(dev) - torch.cuda.memory_allocated(dev)
        free += torch_free
    else:
        free = torch_free = _ram()[1]
    return (free, torch_free) if torch_free_too else free


total_vram = get_total_memory(get_torch_device()) / (1024 * 1024)
total_ram = _ram()[0] / (1024 * 1024)


def maximum_vram_for_weights(device: Any = None) -> float:
    return get_total_memory(device) * 0.88 - minimum_inference_memory()


def minimum_inference_memory() -> int:
    return 1024 * 1024 * 1024 + EXTRA_RESERVED_VRAM


def extra_reserved_memory() -> int:
    return EXTRA_RESERVED_VRAM


def module_size(module: torch.nn.Module) -> int:
    return sum(t.nelement() * t.element_size() for t in module.state_dict().values())


def dtype_size(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


def soft_empty_cache(force: bool = False) -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.ipc_collect()


def synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def is_oom(exc: BaseException) -> bool:
    return isinstance(exc, OOM_EXCEPTION) or "out of memory" in str(exc).lower()


def _modules_of(model: Any) -> list:
    """The torch modules behind a pack's model handle (a MODEL, its view, a patcher or a module)."""
    found = []
    for candidate in (model, getattr(model, "model", None)):
        if isinstance(candidate, torch.nn.Module):
            found.append(candidate)
        for name in ("unet", "diffusion_model", "first_stage_model", "vae"):
            inner = getattr(candidate, name, None) if candidate is not None else None
            if isinstance(inner, torch.nn.Module):
                found.append(inner)
    return found


def load_models_gpu(models: Any, memory_required: int = 0, force_patch_weights: bool = False,
                    minimum_memory_required: Any = None, force_full_load: bool = False) -> None:
    """The models on the compute device (as far as the app's model manager allows)."""
    from diffusion.memory_manager import MANAGER

    MANAGER.ensure([m for model in models for m in _modules_of(model)])


def load_model_gpu(model: Any) -> None:
    load_models_gpu([model])


def loaded_models(only_currently_used: bool = False) -> list:
    return []


def free_memory(memory_required: int, device: Any, keep_loaded: Any = (), **_: Any) -> list:
    gc.collect()
    soft_empty_cache()
    return []


def unload_all_models() -> None:
    from diffusion.memory_manager import MANAGER

    MANAGER.unload_all()
    free_memory(1e30, get_torch_device())


def unload_model_clones(model: Any, unload_weights_only: bool = True, force_unload: bool = True) -> None:
    pass


def cleanup_models(keep_clone_weights_loaded: bool = False) -> None:
    pass


def cleanup_models_gc() -> None:
    gc.collect()


def cast_to(weight: torch.Tensor, dtype: Any = None, device: Any = None, non_blocking: bool = False,
            copy: bool = False, stream: Any = None, **_: Any) -> torch.Tensor:
    return weight.to(device=device if device is not None else weight.device,
                     dtype=dtype if dtype is not None else weight.dtype, non_blocking=non_blocking, copy=copy)


def cast_to_device(tensor: torch.Tensor, device: Any, dtype: Any, copy: bool = False) -> torch.Tensor:
    return cast_to(tensor, dtype, device, copy=copy)


# -- interruption ---------------------------------------------------------------------------

def interrupt_current_processing(value: bool = True) -> None:
    runtime.set_interrupt(value)


def processing_interrupted() -> bool:
    return runtime.interrupted()


def throw_exception_if_processing_interrupted() -> None:
    if runtime.interrupted():
        raise InterruptProcessingException("interrupted")


class LoadedModel:
    """ComfyUI's record of a model on the GPU; kept for packs that name the type."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.device = getattr(model, "load_device", get_torch_device())
        self.currently_used = True

    def model_memory(self) -> int:
        size = getattr(self.model, "model_size", None)
        return size() if callable(size) else 0


def __getattr__(name: str) -> Any:
    from comfy_compat.placeholders import fallback

    return fallback(__name__, name)
