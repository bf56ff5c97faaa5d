"""The YOLOv8 building blocks (backbone and neck), written for inference only.

Instances are never built by calling these classes: they come out of an Ultralytics
checkpoint through the allow-list unpickler, which restores each layer's `__dict__` as
Ultralytics saved it. So every attribute a forward reads has the name Ultralytics gives
it (`conv`, `bn`, `act`, `cv1`, `m`, ...), and nothing here has an `__init__`.
"""
from __future__ import annotations

import torch
from torch import nn


class Conv(nn.Module):
    """Convolution, batch norm, activation. A fused checkpoint has no `bn`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        bn = getattr(self, "bn", None)
        if bn is not None:
            x = bn(x)
        return self.act(x)


class Bottleneck(nn.Module):
    """Two convolutions with an optional shortcut (`add`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    """Split in two halves, chain bottlenecks on the second, concatenate every stage."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = list(self.cv1(x).chunk(2, 1))
        for block in self.m:
            parts.append(block(parts[-1]))
        return self.cv2(torch.cat(parts, 1))


class SPPF(nn.Module):
    """Spatial pyramid pooling: the same max-pool applied three times in a row."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.cv1(x)
        y1 = self.m(x)
        y2 = self.m(y1)
        return self.cv2(torch.cat((x, y1, y2, self.m(y2)), 1))


class Concat(nn.Module):
    """Concatenates a list of feature maps along dimension `d`."""

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(xs, self.d)


class DFL(nn.Module):
    """Distribution focal loss decoding: the expected value of each side's `c1`-bin
    distribution, computed by a fixed 1x1 convolution whose weights are 0..c1-1."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, a = x.shape
        x = x.view(b, 4, self.c1, a).transpose(2, 1).softmax(1)
        return self.conv(x).view(b, 4, a)


class Proto(nn.Module):
    """Segment head's mask prototypes at 1/4 of the input size."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(self.cv2(self.upsample(self.cv1(x))))
