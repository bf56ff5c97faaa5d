"""Image upscale models: ESRGAN's RRDBNet (old and new key layouts) and Real-ESRGAN's
compact SRVGGNet, written here in plain torch, run in overlapping tiles.

Layouts recognised by their keys:
* RRDBNet, new (BasicSR): conv_first, body.N.rdbK.convJ, conv_body, conv_up1/2, conv_hr, conv_last;
  a conv_first with 12 or 48 input channels means pixel-unshuffled input (x2 / x1 models);
* RRDBNet, old (original ESRGAN): model.0, model.1.sub.N.RDBK.convJ.0, model.1.sub.<last>,
  then the upsampling convs, the HR conv and the last conv as model.<i>;
* SRVGGNetCompact: body.<i> convs with PReLU weights between them, pixel shuffle at the end
  plus a nearest-neighbour upscale of the input.
"""
from __future__ import annotations

import math
import os
import pickle
import re
from pathlib import Path
from typing import Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from .memory_manager import MANAGER
from .checkpoint_io import PICKLE_EXTENSIONS, read_state_dict
from .families import StateDict, describe_keys

TILE = 512
OVERLAP = 32


class DenseBlock(nn.Module):
    """Five 3x3 convs, each seeing all earlier outputs; scaled residual (ESRGAN's RDB)."""

    def __init__(self, nf: int, gc: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(nf, gc, 3, 1, 1)
        self.conv2 = nn.Conv2d(nf + gc, gc, 3, 1, 1)
        self.conv3 = nn.Conv2d(nf + 2 * gc, gc, 3, 1, 1)
        self.conv4 = nn.Conv2d(nf + 3 * gc, gc, 3, 1, 1)
        self.conv5 = nn.Conv2d(nf + 4 * gc, nf, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            feats.append(F.leaky_relu(conv(torch.cat(feats, 1)), 0.2))
        return self.conv5(torch.cat(feats, 1)) * 0.2 + x


class RRDB(nn.Module):
    """Three dense blocks inside a scaled residual."""

    def __init__(self, nf: int, gc: int) -> None:
        super().__init__()
        self.rdb1, self.rdb2, self.rdb3 = DenseBlock(nf, gc), DenseBlock(nf, gc), DenseBlock(nf, gc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    """ESRGAN's generator in BasicSR's naming (new layout)."""

    def __init__(self, in_nc: int, out_nc: int, nf: int, nb: int, gc: int, upsamples: int, unshuffle: int) -> None:
        super().__init__()
        self.unshuffle, self.upsamples = unshuffle, upsamples
        self.conv_first = nn.Conv2d(in_nc * unshuffle * unshuffle, nf, 3, 1, 1)
        self.body = nn.Sequential(*[RRDB(nf, gc) for _ in range(nb)])
        self.conv_body = nn.Conv2d(nf, nf, 3, 1, 1)
        for i in range(upsamples):
            self.add_module(f"conv_up{i + 1}", nn.Conv2d(nf, nf, 3, 1, 1))
        self.conv_hr = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv_last = nn.Conv2d(nf, out_nc, 3, 1, 1)
        self.scale = 2**upsamples // unshuffle

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.unshuffle > 1:
            x = F.pixel_unshuffle(x, self.unshuffle)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        for i in range(self.upsamples):
            conv = getattr(self, f"conv_up{i + 1}")
            feat = F.leaky_relu(conv(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
        return self.conv_last(F.leaky_relu(self.conv_hr(feat), 0.2))


class SRVGGNetCompact(nn.Module):
    """Real-ESRGAN's compact model: plain convs with PReLU, pixel shuffle, plus the
    nearest-upscaled input."""

    def __init__(self, in_nc: int, out_nc: int, nf: int, num_conv: int, scale: int, prelu: bool) -> None:
        super().__init__()
        self.scale = scale
        layers: list[nn.Module] = [nn.Conv2d(in_nc, nf, 3, 1, 1)]
        for i in range(num_conv + 1):
            layers.append(nn.PReLU(num_parameters=nf) if prelu else nn.LeakyReLU(0.1))
            if i < num_conv:
                layers.append(nn.Conv2d(nf, nf, 3, 1, 1))
        layers.append(nn.Conv2d(nf, out_nc * scale * scale, 3, 1, 1))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.pixel_shuffle(self.body(x), self.scale)
        return out + F.interpolate(x, scale_factor=self.scale, mode="nearest")


def _indices(sd: StateDict, pattern: str) -> list[int]:
    rx = re.compile(pattern)
    return sorted({int(m.group(1)) for k in sd for m in [rx.match(k)] if m})


def old_to_new_esrgan(sd: StateDict) -> dict[str, torch.Tensor]:
    """Original ESRGAN keys (model.N...) -> BasicSR keys (conv_first, body..., conv_last)."""
    out: dict[str, torch.Tensor] = {}
    blocks = _indices(sd, r"model\.1\.sub\.(\d+)\.RDB")
    rx = re.compile(r"model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias)$")
    for key, value in sd.items():
        m = rx.match(key)
        if m:
            out[f"body.{m.group(1)}.rdb{m.group(2)}.conv{m.group(3)}.{m.group(4)}"] = value
    trunk = max(_indices(sd, r"model\.1\.sub\.(\d+)\.weight"), default=len(blocks))
    tail = [i for i in _indices(sd, r"model\.(\d+)\.weight") if i >= 2]
    names = [f"conv_up{i + 1}" for i in range(len(tail) - 2)] + ["conv_hr", "conv_last"]
    renames = {"model.0": "conv_first", f"model.1.sub.{trunk}": "conv_body",
               **{f"model.{i}": name for i, name in zip(tail, names)}}
    for old, new in renames.items():
        for param in ("weight", "bias"):
            if f"{old}.{param}" in sd:
                out[f"{new}.{param}"] = sd[f"{old}.{param}"]
    return out


def build_upscale_model(sd: StateDict) -> nn.Module:
    """The model a state dict describes (see the module docstring), weights loaded, eval mode."""
    if "model.0.weight" in sd and any(k.startswith("model.1.sub.") for k in sd):
        sd = old_to_new_esrgan(sd)
    if "conv_first.weight" in sd:
        first = sd["conv_first.weight"]
        nf, in_channels = int(first.shape[0]), int(first.shape[1])
        out_nc = int(sd["conv_last.weight"].shape[0])
        unshuffle = {out_nc * 4: 2, out_nc * 16: 4}.get(in_channels, 1)
        gc = int(sd["body.0.rdb1.conv1.weight"].shape[0])
        model: nn.Module = RRDBNet(in_channels // (unshuffle * unshuffle), out_nc, nf,
                                   len(_indices(sd, r"body\.(\d+)\.")), gc,
                                   len(_indices(sd, r"conv_up(\d+)\.weight")), unshuffle)
    elif "body.0.weight" in sd and sd["body.0.weight"].ndim == 4:
        convs = [i for i in _indices(sd, r"body\.(\d+)\.weight") if sd[f"body.{i}.weight"].ndim == 4]
        first, last = sd[f"body.{convs[0]}.weight"], sd[f"body.{convs[-1]}.weight"]
        in_nc, nf = int(first.shape[1]), int(first.shape[0])
        scale = int(math.isqrt(int(last.shape[0]) // in_nc))
        model = SRVGGNetCompact(in_nc, in_nc, nf, len(convs) - 2, scale, prelu="body.1.weight" in sd)
    else:
        raise ValueError(f"unsupported upscale model (found {describe_keys(sd)})")
    model.load_state_dict(dict(sd), strict=True)
    return model.eval().requires_grad_(False)


class UpscaleModel:
    """The UPSCALE_MODEL socket value: a network and its scale; `upscale` runs it in tiles."""

    def __init__(self, module: nn.Module, device: torch.device) -> None:
        self.module, self.device = MANAGER.place(module, device), torch.device(device)
        self.scale = int(module.scale)

    def upscale(self, image: torch.Tensor, tile: int = TILE, overlap: int = OVERLAP) -> torch.Tensor:
        """IMAGE [B,H,W,3] -> [B,H*s,W*s,3]; tiles halve on out-of-memory, like ComfyUI's."""
        from fractions import Fraction

        from .tiling import tiled_map

        pixels = image[..., :3].movedim(-1, 1).float()

        def run(piece: torch.Tensor) -> torch.Tensor:
            with torch.inference_mode():
                return self.module(piece.to(self.device)).float().cpu()

        while True:
            try:
                with MANAGER.using([self.module], "upscale_model"):
                    out = tiled_map(pixels, run, tile, min(overlap, tile // 4), Fraction(self.scale))
                break
            except torch.OutOfMemoryError:
                if tile <= 64:
                    raise
                tile //= 2
        return out.clamp(0.0, 1.0).movedim(1, -1).contiguous()


def read_upscale_weights(path: Union[str, os.PathLike]) -> dict[str, torch.Tensor]:
    """The tensors of an upscale model file; BasicSR's {"params_ema": ...} / {"params": ...}
    wrappers and DataParallel's "module." prefix are removed. Pickles load weights-only."""
    path = Path(path)
    if path.suffix.lower() in PICKLE_EXTENSIONS:
        try:
            data = torch.load(str(path), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            raise ValueError(f"refused to load {path.name}: not plain tensors ({exc})") from exc
        for key in ("params_ema", "params", "state_dict"):
            if isinstance(data, dict) and isinstance(data.get(key), dict):
                data = data[key]
                break
        if not isinstance(data, dict):
            raise ValueError(f"{path.name} holds a {type(data).__name__}, not a state dict")
        sd = {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
    else:
        sd = read_state_dict(path)
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def load_upscale_model(path: Union[str, os.PathLike], device: torch.device) -> UpscaleModel:
    """An UpscaleModel from a .pth/.pt/.safetensors file."""
    return UpscaleModel(build_upscale_model(read_upscale_weights(path)), device)
