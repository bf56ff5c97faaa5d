"""T2I-Adapters: a small network turns the hint image into features added to the UNet's
encoder, once per sampling (not per step, unlike a ControlNet).

Three kinds are read from their shapes, in TencentARC's key layout (`conv_in`, `body.N.*`)
or diffusers' (`adapter.body.L.resnets.J.*`): the full adapter (SD1/SD2), its SDXL form
(16x pixel unshuffle, a different downsampling plan) and the light adapter. Each feature
is added to the hidden state right after one of the UNet's input blocks (in the original
UNet's numbering: conv_in is block 0, then each level's res/attention blocks and its
downsampler), so it reaches both the skip connection and the next block, as in ComfyUI;
a feature whose size does not fit its block is skipped with a warning, as there.
"""
from __future__ import annotations

import contextlib
import logging
import math
import re
from typing import Iterator, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .families import StateDict

log = logging.getLogger(__name__)


def _pool_half(x: torch.Tensor) -> torch.Tensor:
    """Average 2x2 cells; an odd side is padded by one (so 63 -> 32, as the UNet's convs)."""
    return F.avg_pool2d(x, 2, 2, padding=(x.shape[2] % 2, x.shape[3] % 2))


class _Down(nn.Module):
    """Halving: a strided conv (`op`) in some full adapters, else average pooling."""

    def __init__(self, channels: int, use_conv: bool) -> None:
        super().__init__()
        self.op = nn.Conv2d(channels, channels, 3, 2, 1) if use_conv else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x) if self.op is not None else _pool_half(x)


class _Residual(nn.Module):
    """conv (ksize) -> ReLU -> conv, plus the input; a width change goes through `in_conv`."""

    def __init__(self, in_c: int, out_c: int, down: bool, ksize: int, use_conv: bool) -> None:
        super().__init__()
        self.down_opt = _Down(in_c, use_conv) if down else None
        self.in_conv = nn.Conv2d(in_c, out_c, ksize, 1, ksize // 2) if in_c != out_c else None
        self.block1 = nn.Conv2d(out_c, out_c, 3, 1, 1)
        self.block2 = nn.Conv2d(out_c, out_c, ksize, 1, ksize // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.down_opt is not None:
            x = self.down_opt(x)
        if self.in_conv is not None:
            x = self.in_conv(x)
        return x + self.block2(F.relu(self.block1(x)))


class FullAdapter(nn.Module):
    """Four levels of `blocks` residual blocks after a pixel unshuffle and `conv_in`. SD: a
    halving at the start of levels 1-3; SDXL (unshuffle 16): a width change without halving
    at level 1 and one halving at level 2."""

    def __init__(self, cin: int, channels: list[int], blocks: int, ksize: int, use_conv: bool, xl: bool) -> None:
        super().__init__()
        self.xl, self.unshuffle = xl, 16 if xl else 8
        self.channels, self.blocks = channels, blocks
        halve = {2} if xl else {1, 2, 3}
        body = []
        for level, width in enumerate(channels):
            for j in range(blocks):
                first = j == 0 and level > 0
                body.append(_Residual(channels[level - 1] if first else width, width,
                                      first and level in halve, ksize, use_conv))
        self.body = nn.ModuleList(body)
        self.conv_in = nn.Conv2d(cin, channels[0], 3, 1, 1)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.conv_in(F.pixel_unshuffle(x, self.unshuffle))
        out = []
        for level in range(len(self.channels)):
            for j in range(self.blocks):
                x = self.body[level * self.blocks + j](x)
            out.append(x)
        return out

    def positions(self) -> list[Optional[int]]:
        """The input block each level's feature follows (None: not applied). SD: the last
        res block of each level (2, 5, 8, 11); SDXL: level 0's downsampler (3), then the last
        blocks of levels 1 and 2 (5, 8); SDXL's UNet has no fourth level."""
        return [3, 5, 8, None] if self.xl else [2, 5, 8, 11]


class _LightResidual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.block1 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.block2 = nn.Conv2d(channels, channels, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block2(F.relu(self.block1(x)))


class _Extractor(nn.Module):
    """The light adapter's level: (halve,) 1x1 conv down to a quarter width, residual
    blocks, 1x1 conv up."""

    def __init__(self, in_c: int, inner: int, out_c: int, blocks: int, down: bool) -> None:
        super().__init__()
        self.down = down
        self.in_conv = nn.Conv2d(in_c, inner, 1)
        self.body = nn.Sequential(*[_LightResidual(inner) for _ in range(blocks)])
        self.out_conv = nn.Conv2d(inner, out_c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.down:
            x = _pool_half(x)
        return self.out_conv(self.body(self.in_conv(x)))


class LightAdapter(nn.Module):
    xl, unshuffle = False, 8

    def __init__(self, cin: int, channels: list[int], blocks: int) -> None:
        super().__init__()
        self.channels = channels
        self.body = nn.ModuleList([
            _Extractor(cin if i == 0 else channels[i - 1], width // 4, width, blocks, down=i > 0)
            for i, width in enumerate(channels)
        ])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = F.pixel_unshuffle(x, self.unshuffle)
        out = []
        for level in self.body:
            x = level(x)
            out.append(x)
        return out

    def positions(self) -> list[Optional[int]]:
        return [2, 5, 8, 11]


# ----------------------------------------------------------------------------- loading


def from_diffusers_layout(sd: StateDict) -> dict[str, torch.Tensor]:
    """diffusers' `adapter.body.L.resnets.J.*` / `adapter.body.L.in_conv.*` keys -> TencentARC's
    `body.(2L+J).*` (two blocks a level, as every diffusers full adapter has)."""
    out = {}
    for key, value in sd.items():
        m = re.match(r"adapter\.body\.(\d+)\.resnets\.(\d+)\.(.*)", key)
        if m:
            key = f"body.{int(m.group(1)) * 2 + int(m.group(2))}.{m.group(3)}"
        else:
            m = re.match(r"adapter\.body\.(\d+)\.(.*)", key)
            key = f"body.{int(m.group(1)) * 2}.{m.group(2)}" if m else key.removeprefix("adapter.")
        out[key] = value
    return out


def is_t2i_adapter(sd: StateDict) -> bool:
    """TencentARC's full (conv_in + body.N blocks) or light (body.N.in_conv) layout, or diffusers'."""
    full = "conv_in.weight" in sd and "body.0.block1.weight" in sd
    return full or "body.0.in_conv.weight" in sd or "adapter.body.0.resnets.0.block1.weight" in sd


def _count(sd: StateDict, pattern: str) -> int:
    rx = re.compile(pattern)
    return len({m.group(1) for k in sd for m in [rx.match(k)] if m})


def build_adapter(sd: StateDict) -> nn.Module:
    """The adapter module whose shapes the (TencentARC-layout) weights have, not yet loaded."""
    if "body.0.in_conv.weight" in sd:
        levels = _count(sd, r"body\.(\d+)\.out_conv\.weight")
        channels = [int(sd[f"body.{i}.out_conv.weight"].shape[0]) for i in range(levels)]
        return LightAdapter(int(sd["body.0.in_conv.weight"].shape[1]), channels,
                            _count(sd, r"body\.0\.body\.(\d+)\.block1\.weight"))
    conv_in = sd["conv_in.weight"]
    cin, width = int(conv_in.shape[1]), int(conv_in.shape[0])
    blocks = _count(sd, r"body\.(\d+)\.block1\.weight") // 4
    ksize = int(sd["body.0.block2.weight"].shape[2])
    use_conv = any(k.endswith("down_opt.op.weight") for k in sd)
    xl = cin in (256, 768)  # 16 x 16 unshuffled pixels of one or three channels
    return FullAdapter(cin, [width, width * 2, width * 4, width * 4], max(1, blocks), ksize, use_conv, xl)


class T2IAdapter:
    """The CONTROL_NET socket value of a T2I-Adapter: `features(hint)` and where they go."""

    is_adapter = True

    def __init__(self, module: nn.Module, device: torch.device, dtype: torch.dtype) -> None:
        self.module, self.device, self.dtype = module.eval().requires_grad_(False), torch.device(device), dtype
        self.extra_args: dict = {}
        self.concat_mask = False

    @property
    def unshuffle(self) -> int:
        return int(self.module.unshuffle)

    @property
    def image_channels(self) -> int:
        first = self.module.conv_in if isinstance(self.module, FullAdapter) else self.module.body[0].in_conv
        return int(first.in_channels) // (self.unshuffle * self.unshuffle)

    def with_extra_args(self, **args) -> "T2IAdapter":
        return self

    def hint_size(self, height: int, width: int) -> tuple[int, int]:
        """The hint's pixel size for a latent of height x width pixels: rounded up to whole
        unshuffle cells."""
        step = self.unshuffle
        return math.ceil(height / step) * step, math.ceil(width / step) * step

    def features(self, pixels: torch.Tensor) -> list[tuple[int, torch.Tensor]]:
        """(input block, feature) pairs for a hint [B,3,H,W] in 0..1; a one-channel adapter
        reads the hint's mean."""
        if self.image_channels == 1 and pixels.shape[1] > 1:
            pixels = pixels.mean(dim=1, keepdim=True)
        with torch.inference_mode():
            feats = self.module(pixels.to(self.device, self.dtype))
        return [(block, f.float()) for block, f in zip(self.module.positions(), feats) if block is not None]

    def __repr__(self) -> str:
        return f"T2IAdapter({type(self.module).__name__}, xl={self.module.xl}, device={self.device})"


def load_t2i_adapter(sd: StateDict, device: torch.device, dtype: torch.dtype, name: str = "adapter") -> T2IAdapter:
    from .loader import instantiate
    from .memory_manager import MANAGER

    if "adapter.body.0.resnets.0.block1.weight" in sd:
        sd = from_diffusers_layout(sd)
    weights = dict(sd)
    module = instantiate(lambda: build_adapter(weights), weights, dtype, f"T2I-Adapter {name}")
    return T2IAdapter(MANAGER.place(module, device), device, dtype)


# ----------------------------------------------------------------------------- applying


def input_block_module(unet: nn.Module, index: int) -> Optional[nn.Module]:
    """The diffusers module whose output is the original UNet's input block `index` (>= 1):
    per level, its res blocks (or their attention, where the level has one), then its
    downsampler."""
    per_level = int(unet.config.layers_per_block) + 1
    level, j = divmod(index - 1, per_level)
    if index < 1 or level >= len(unet.down_blocks):
        return None
    block = unet.down_blocks[level]
    if j < per_level - 1:
        attentions = getattr(block, "attentions", None)
        return attentions[j] if attentions else block.resnets[j]
    return block.downsamplers[0] if block.downsamplers else None


def adapter_additions(adapters) -> dict[int, torch.Tensor]:
    """Per input block, the sum of the (adapter, features, strength) triples' features times
    their strengths."""
    out: dict[int, torch.Tensor] = {}
    for _adapter, features, strength in adapters:
        for block, feature in features:
            scaled = feature * strength
            out[block] = out[block] + scaled if block in out else scaled
    return out


@contextlib.contextmanager
def features_added(unet: nn.Module, additions: dict[int, torch.Tensor]) -> Iterator[None]:
    """Inside, the UNet adds `additions[k]` to input block k's output."""
    handles = []

    def hook_for(index: int, feature: torch.Tensor):
        def add(_module, _args, output):
            hidden = output[0] if isinstance(output, tuple) else output
            if hidden.shape != feature.shape:
                log.warning("T2I-Adapter feature %s does not fit UNet input block %d %s; skipped",
                            tuple(feature.shape), index, tuple(hidden.shape))
                return output
            hidden = hidden + feature.to(hidden)
            return (hidden, *output[1:]) if isinstance(output, tuple) else hidden
        return add

    try:
        for index, feature in additions.items():
            module = input_block_module(unet, index)
            if module is None:
                log.warning("T2I-Adapter feature for input block %d: the UNet has no such block; skipped", index)
                continue
            handles.append(module.register_forward_hook(hook_for(index, feature)))
        yield
    finally:
        for handle in handles:
            handle.remove()
