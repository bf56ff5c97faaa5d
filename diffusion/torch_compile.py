"""torch.compile for a MODEL's UNet forward, as a UNet patch (diffusion/unet_patches.py).

While the patched MODEL samples, the shared UNet's forward is the compiled one; leaving
puts the eager forward back, so other values sharing the UNet stay eager. Whether compiling
can work here is judged cheaply up front (no compile is attempted); a compile that still
fails at the first call is logged and sampling goes on eagerly.
"""
from __future__ import annotations

import contextlib
import importlib.util
import logging
import shutil
from typing import Any, Callable, Iterator, Optional

import torch

log = logging.getLogger(__name__)

BACKENDS = ("inductor", "cudagraphs")
_MISSING = object()


def compile_unavailable(backend: str, device: Any) -> Optional[str]:
    """Why torch.compile with `backend` cannot run on `device` here, or None when it can
    (judged from what is installed: nothing is compiled)."""
    if backend not in BACKENDS:
        return f"unknown torch.compile backend {backend!r}"
    if not hasattr(torch, "compile"):
        return "this PyTorch has no torch.compile"
    dynamo = getattr(torch, "_dynamo", None)
    supported = getattr(dynamo, "is_dynamo_supported", None)
    if supported is not None and not supported():
        return "torch.compile is not supported on this Python"
    kind = torch.device(device).type
    if backend == "cudagraphs":
        return None if kind == "cuda" else "the cudagraphs backend needs a CUDA device"
    if kind == "cuda" and importlib.util.find_spec("triton") is None:
        return "the inductor backend needs triton on CUDA"
    if kind == "cpu" and not any(shutil.which(cc) for cc in ("c++", "g++", "clang++")):
        return "the inductor backend needs a C++ compiler on the CPU"
    return None


def _is_compile_error(error: BaseException) -> bool:
    module = type(error).__module__ or ""
    return module.startswith(("torch._dynamo", "torch._inductor"))


class TorchCompilePatch:
    """Runs the UNet's forward through `compiler(forward, backend=...)` (torch.compile)."""

    name = "torch_compile"

    def __init__(self, backend: str, compiler: Optional[Callable[..., Callable]] = None) -> None:
        self.backend = backend
        self.compiler = compiler or torch.compile
        self.failed = False

    @contextlib.contextmanager
    def applied(self, unet: torch.nn.Module) -> Iterator[None]:
        eager = unet.forward
        if self.failed:
            yield
            return
        compiled = self.compiler(eager, backend=self.backend)

        def forward(*args: Any, **kwargs: Any) -> Any:
            if not self.failed:
                try:
                    return compiled(*args, **kwargs)
                except Exception as error:
                    if not _is_compile_error(error):
                        raise
                    self.failed = True
                    log.warning("TorchCompileModel: compiling failed (%s); sampling without it", error)
            return eager(*args, **kwargs)

        before = unet.__dict__.get("forward", _MISSING)
        unet.forward = forward
        try:
            yield
        finally:
            if before is _MISSING:
                unet.__dict__.pop("forward", None)
            else:
                unet.forward = before
