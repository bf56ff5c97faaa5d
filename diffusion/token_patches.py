"""Self-attention speed-ups that change which tokens attend to which, applied while a MODEL
samples: HyperTile (attention within tiles of the image) and token merging (ToMe: similar
tokens share one query). Both wrap the UNet's self-attention processors (attn1) and need
the latent's size, read from the UNet's input at each call."""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator, Optional

import torch
import torch.nn.functional as F

from .attention_guidance import processors_wrapped


def self_attentions(unet: torch.nn.Module) -> list[torch.nn.Module]:
    return [module.attn1 for module in unet.modules() if hasattr(module, "attn1") and hasattr(module, "attn2")]


@contextlib.contextmanager
def latent_size_watched(unet: torch.nn.Module, holder: dict) -> Iterator[None]:
    """holder["size"] is (H, W) of the latent of the UNet call in progress."""
    def before(module: Any, args: tuple, kwargs: dict) -> None:
        sample = args[0] if args else kwargs.get("sample")
        holder["size"] = tuple(sample.shape[-2:])

    handle = unet.register_forward_pre_hook(before, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()


def _grid(tokens: int, size: tuple[int, int], max_depth: int) -> Optional[tuple[int, int, int]]:
    """(depth, rows, cols) when `tokens` is the latent's size halved `depth` times."""
    height, width = size
    for depth in range(max_depth + 1):
        scale = 2 ** depth
        if height % scale == 0 and width % scale == 0 and (height // scale) * (width // scale) == tokens:
            return depth, height // scale, width // scale
    return None


def tile_counts(length: int, min_tile: int, options: int, pick: int) -> int:
    """How many tiles to cut `length` tokens into: one of the first `options` divisors of
    length that are at least `min_tile` tokens long (`pick` chooses among them)."""
    min_tile = min(min_tile, length)
    divisors = [i for i in range(min_tile, length + 1) if length % i == 0][:max(1, options)]
    counts = [length // i for i in divisors]
    return counts[pick % len(counts)]


class HyperTilePatch:
    """Self-attention computed within tiles of about tile_size pixels (in latent tokens: /8)
    at the top `max_depth + 1` levels of the UNet; the tiling varies between calls among
    `swap_size` choices so that tile seams move."""

    name = "hypertile"

    def __init__(self, tile_size: int, swap_size: int, max_depth: int, scale_depth: bool) -> None:
        self.latent_tile = max(32, tile_size) // 8
        self.swap_size, self.max_depth, self.scale_depth = swap_size, max_depth, scale_depth
        self.calls = 0
        self.size: dict = {}

    def processor(self, previous: Any) -> Callable[..., torch.Tensor]:
        def tiled(attn: Any, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
            grid = _grid(hidden_states.shape[1], self.size.get("size", (0, 0)), self.max_depth) \
                if kwargs.get("encoder_hidden_states") is None and hidden_states.ndim == 3 else None
            if grid is None:
                return previous(attn, hidden_states, *args, **kwargs)
            depth, rows, cols = grid
            factor = 2 ** depth if self.scale_depth else 1
            self.calls += 1
            nh = tile_counts(rows, self.latent_tile * factor, self.swap_size, self.calls)
            nw = tile_counts(cols, self.latent_tile * factor, self.swap_size, self.calls + 1)
            if nh * nw == 1:
                return previous(attn, hidden_states, *args, **kwargs)
            batch, _, channels = hidden_states.shape
            th, tw = rows // nh, cols // nw
            tiles = hidden_states.reshape(batch, nh, th, nw, tw, channels).permute(0, 1, 3, 2, 4, 5)
            out = previous(attn, tiles.reshape(batch * nh * nw, th * tw, channels), *args, **kwargs)
            out = out.reshape(batch, nh, nw, th, tw, -1).permute(0, 1, 3, 2, 4, 5)
            return out.reshape(batch, rows * cols, -1)

        return tiled

    @contextlib.contextmanager
    def applied(self, unet: torch.nn.Module) -> Iterator[None]:
        with latent_size_watched(unet, self.size), processors_wrapped(self_attentions(unet), self.processor):
            yield


# -- token merging ---------------------------------------------------------------------------


def bipartite_merge(x: torch.Tensor, rows: int, cols: int, r: int, generator: torch.Generator):
    """ToMe's matching on [B, N, C] tokens of a rows x cols grid: one token per 2x2 cell is a
    destination; the r sources most similar to a destination are merged into it. Returns
    (merge, unmerge) functions."""
    batch, tokens, _ = x.shape
    cells_h, cells_w = rows // 2, cols // 2
    choice = torch.randint(4, (cells_h, cells_w, 1), generator=generator)
    marks = torch.zeros(cells_h, cells_w, 4, dtype=torch.int64).scatter_(2, choice, -1)
    marks = marks.view(cells_h, cells_w, 2, 2).transpose(1, 2).reshape(cells_h * 2, cells_w * 2)
    buffer = torch.zeros(rows, cols, dtype=torch.int64)
    buffer[:cells_h * 2, :cells_w * 2] = marks
    order = buffer.reshape(-1).argsort(stable=True).to(x.device)
    destinations = cells_h * cells_w
    a_idx, b_idx = order[destinations:], order[:destinations]
    r = min(r, a_idx.numel())
    metric = x / x.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    scores = metric[:, a_idx] @ metric[:, b_idx].transpose(-1, -2)
    best, best_dst = scores.max(dim=-1)
    ranked = best.argsort(dim=-1, descending=True)
    unmerged, merged = ranked[:, r:], ranked[:, :r]
    target = best_dst.gather(1, merged)

    def merge(t: torch.Tensor) -> torch.Tensor:
        channels = t.shape[-1]
        src, dst = t[:, a_idx], t[:, b_idx]
        kept = src.gather(1, unmerged.unsqueeze(-1).expand(-1, -1, channels))
        moving = src.gather(1, merged.unsqueeze(-1).expand(-1, -1, channels))
        dst = dst.scatter_reduce(1, target.unsqueeze(-1).expand(-1, -1, channels), moving, reduce="mean")
        return torch.cat([kept, dst], dim=1)

    def unmerge(t: torch.Tensor) -> torch.Tensor:
        channels = t.shape[-1]
        kept, dst = t[:, :unmerged.shape[1]], t[:, unmerged.shape[1]:]
        out = torch.empty(batch, tokens, channels, dtype=t.dtype, device=t.device)
        out[:, b_idx] = dst
        index = lambda i: a_idx[i].unsqueeze(-1).expand(-1, -1, channels)  # noqa: E731
        out.scatter_(1, index(unmerged), kept)
        out.scatter_(1, index(merged), dst.gather(1, target.unsqueeze(-1).expand(-1, -1, channels)))
        return out

    return merge, unmerge


class TokenMergePatch:
    """ToMe for SD: at full latent resolution, a `ratio` of the self-attention queries are
    merged into similar ones (keys and values keep every token), and the outputs spread
    back. The choice of destinations is seeded, so the same graph gives the same image."""

    name = "token_merging"

    def __init__(self, ratio: float, seed: int = 0) -> None:
        self.ratio, self.seed = ratio, seed
        self.size: dict = {}

    def processor(self, previous: Any) -> Callable[..., torch.Tensor]:
        def merged(attn: Any, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
            height, width = self.size.get("size", (0, 0))
            r = int(hidden_states.shape[1] * self.ratio) if hidden_states.ndim == 3 else 0
            if kwargs.get("encoder_hidden_states") is not None or hidden_states.shape[1] != height * width \
                    or r <= 0 or height < 2 or width < 2:
                return previous(attn, hidden_states, *args, **kwargs)
            generator = torch.Generator().manual_seed(self.seed)
            merge, unmerge = bipartite_merge(hidden_states, height, width, r, generator)
            kwargs = {**kwargs, "encoder_hidden_states": hidden_states}
            return unmerge(previous(attn, merge(hidden_states), *args, **kwargs))

        return merged

    @contextlib.contextmanager
    def applied(self, unet: torch.nn.Module) -> Iterator[None]:
        with latent_size_watched(unet, self.size), processors_wrapped(self_attentions(unet), self.processor):
            yield


# -- hypernetworks -----------------------------------------------------------------------------


ACTIVATIONS: dict[str, Callable[[], torch.nn.Module]] = {
    "linear": torch.nn.Identity, "relu": torch.nn.ReLU, "leakyrelu": torch.nn.LeakyReLU, "elu": torch.nn.ELU,
    "swish": torch.nn.Hardswish, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid, "softsign": torch.nn.Softsign,
    "mish": torch.nn.Mish,
}


def hypernetwork_module(weights: dict, activation: str, layer_norm: bool, activate_output: bool) -> torch.nn.Module:
    """One of a hypernetwork's small MLPs from its state dict (linear layers in order, each
    followed by the activation, and a LayerNorm where the file has one)."""
    stems = [key[:-len(".weight")] for key in weights if key.endswith(".weight")]
    layers: list[torch.nn.Module] = []
    index = 0
    while index < len(stems):
        weight, bias = weights[stems[index] + ".weight"], weights[stems[index] + ".bias"]
        linear = torch.nn.Linear(weight.shape[1], weight.shape[0])
        linear.load_state_dict({"weight": weight, "bias": bias})
        layers.append(linear)
        if activation != "linear" and (index < len(stems) - 1 or activate_output):
            layers.append(ACTIVATIONS[activation]())
        if layer_norm and index + 1 < len(stems):
            index += 1
            norm_weight = weights[stems[index] + ".weight"]
            norm = torch.nn.LayerNorm(norm_weight.shape[0])
            norm.load_state_dict({"weight": norm_weight, "bias": weights[stems[index] + ".bias"]})
            layers.append(norm)
        index += 1
    return torch.nn.Sequential(*layers).eval().requires_grad_(False)


def load_hypernetwork(path: Any) -> dict[int, tuple[torch.nn.Module, torch.nn.Module]]:
    """An A1111 hypernetwork file: by context width, the (key, value) networks. Read with
    weights-only unpickling."""
    data = torch.load(str(path), map_location="cpu", weights_only=True)
    activation = str(data.get("activation_func", "linear")).lower()
    if activation not in ACTIVATIONS:
        raise ValueError(f"hypernetwork activation {activation!r} is not supported ({', '.join(ACTIVATIONS)})")
    layer_norm, activate_output = bool(data.get("is_layer_norm", False)), bool(data.get("activate_output", False))
    nets = {}
    for key, pair in data.items():
        try:
            width = int(key)
        except (TypeError, ValueError):
            continue
        nets[width] = tuple(hypernetwork_module(sd, activation, layer_norm, activate_output) for sd in pair[:2])
    if not nets:
        raise ValueError("no hypernetwork layers in the file")
    return nets


class HypernetworkPatch:
    """Each attention's key and value inputs shifted by the hypernetwork's MLP of their width:
    k + knet(k) * strength, v + vnet(v) * strength (self-attention on the image features,
    cross-attention on the text)."""

    name = "hypernetwork"

    def __init__(self, nets: dict[int, tuple[torch.nn.Module, torch.nn.Module]], strength: float) -> None:
        self.nets, self.strength = nets, strength

    def processor(self, previous: Any) -> Callable[..., torch.Tensor]:
        def shifted(attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: Optional[torch.Tensor] = None,
                    attention_mask: Optional[torch.Tensor] = None, *args: Any, **kwargs: Any) -> torch.Tensor:
            context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
            pair = self.nets.get(int(context.shape[-1]))
            if pair is None or hidden_states.ndim != 3:
                return previous(attn, hidden_states, encoder_hidden_states, attention_mask, *args, **kwargs)
            knet, vnet = (net.to(context.device, context.dtype) for net in pair)
            k_in = context + knet(context) * self.strength
            v_in = context + vnet(context) * self.strength
            batch, heads = hidden_states.shape[0], attn.heads

            def split(t: torch.Tensor) -> torch.Tensor:
                return t.view(batch, -1, heads, t.shape[-1] // heads).transpose(1, 2)

            out = F.scaled_dot_product_attention(split(attn.to_q(hidden_states)), split(attn.to_k(k_in)),
                                                 split(attn.to_v(v_in)))
            out = out.transpose(1, 2).reshape(batch, -1, out.shape[1] * out.shape[-1])
            out = attn.to_out[1](attn.to_out[0](out))
            return out / attn.rescale_output_factor

        return shifted

    def applied(self, unet: torch.nn.Module) -> contextlib.AbstractContextManager:
        modules = [m for block in unet.modules() if hasattr(block, "attn1") and hasattr(block, "attn2")
                   for m in (block.attn1, block.attn2) if m is not None]
        return processors_wrapped(modules, self.processor)
