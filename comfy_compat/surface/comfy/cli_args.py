"""ComfyUI's `comfy.cli_args`: the parsed flags packs read (`args.preview_method`, ...),
here ComfyUI's defaults with what this app was started with."""
from __future__ import annotations
from typing import Any

import enum
from types import SimpleNamespace


class LatentPreviewMethod(enum.Enum):
    NoPreviews = "none"
    Auto = "auto"
    Latent2RGB = "latent2rgb"
    TAESD = "taesd"

    @classmethod
    def from_string(cls, value: str) -> "LatentPreviewMethod":
        for member in cls:
            if member.value == value:
                return member
        return cls.NoPreviews


class PerformanceFeature(enum.Enum):
    Fp16Accumulation = "fp16_accumulation"
    Fp8MatrixMultiplication = "fp8_matrix_mult"
    CublasOps = "cublas_ops"


args = SimpleNamespace(
    listen="127.0.0.1", port=8188, enable_cors_header=None, max_upload_size=50.0, base_directory=None,
    extra_model_paths_config=None, output_directory=None, temp_directory=None, input_directory=None,
    user_directory=None, auto_launch=False, disable_auto_launch=True, cuda_device=None, cuda_malloc=False,
    disable_cuda_malloc=True, force_fp32=False, force_fp16=False, bf16_unet=False, fp16_unet=False,
    fp8_e4m3fn_unet=False, fp8_e5m2_unet=False, fp16_vae=False, fp32_vae=False, bf16_vae=False, cpu_vae=False,
    fp8_e4m3fn_text_enc=False, fp8_e5m2_text_enc=False, fp16_text_enc=False, fp32_text_enc=False,
    directml=None, disable_ipex_optimize=False, preview_method=LatentPreviewMethod.NoPreviews, preview_size=512,
    cache_classic=False, cache_lru=0, cache_none=False, use_split_cross_attention=False,
    use_quad_cross_attention=False, use_pytorch_cross_attention=True, use_sage_attention=False,
    use_flash_attention=False, disable_xformers=True, force_upcast_attention=False, dont_upcast_attention=False,
    gpu_only=False, highvram=False, normalvram=False, lowvram=False, novram=False, cpu=False,
    reserve_vram=None, default_hashing_function="sha256", disable_smart_memory=False, deterministic=False,
    fast=set(), dont_print_server=False, quick_test_for_ci=False, windows_standalone_build=False,
    disable_metadata=False, disable_all_custom_nodes=False, multi_user=False, verbose="INFO",
    log_stdout=False, front_end_version="comfyanonymous/ComfyUI@latest", front_end_root=None,
    enable_compress_response_body=False, disable_api_nodes=True, mmap_torch_files=False, disable_mmap=False,
)


def use_preview_method(value: str) -> None:
    """Set by the app from its --preview-method flag."""
    args.preview_method = LatentPreviewMethod.from_string(value)


def use_memory_settings(policy: str, reserve_vram_gb: Any, disable_smart_memory: bool) -> None:
    """Set by the app from its memory flags: one of gpu_only, highvram, normalvram, lowvram,
    novram, cpu is true, as in ComfyUI's parsed arguments."""
    for name in ("gpu_only", "highvram", "normalvram", "lowvram", "novram", "cpu"):
        setattr(args, name, name == policy and policy != "normalvram")
    args.reserve_vram = reserve_vram_gb
    args.disable_smart_memory = disable_smart_memory


def __getattr__(name: str) -> Any:
    from comfy_compat.placeholders import fallback

    return fallback(__name__, name)
