"""SDXL's own text encode nodes: a prompt per encoder with the size conditioning the UNet
was trained on (base), and the aesthetic score of the refiner."""
from __future__ import annotations

from typing import Any

from .conditioning import embedding_lookup
from .latent import MAX_RESOLUTION
from .registry import Node, register_node
from .spec import Float, Int, Output, Socket, String

COND_OUT = (Output("CONDITIONING", "CONDITIONING"),)
CATEGORY = "advanced/conditioning"


def _size(default: int = 1024) -> Int:
    return Int(default=default, min=0, max=MAX_RESOLUTION)


def _tokens(ctx: Any, clip: Any, text: str) -> dict:
    return clip.tokenize(text, embeddings=embedding_lookup(ctx, text))


def encode_per_encoder(ctx: Any, clip: Any, texts: dict[str, str]) -> tuple:
    """cond and pooled with each encoder reading its own prompt (`texts` by encoder name:
    l, g); rows are padded with empty-prompt rows so every encoder has as many."""
    rows = {}
    for name, text in texts.items():
        rows[name] = _tokens(ctx, clip, text)[name]
    longest = max(len(r) for r in rows.values())
    empty = clip.tokenize("")
    for name, encoder_rows in rows.items():
        encoder_rows += [empty[name][0]] * (longest - len(encoder_rows))
    return clip.encode_rows(rows)


@register_node("CLIPTextEncodeSDXL", category=CATEGORY)
class CLIPTextEncodeSDXL(Node):
    """SDXL base: text_g for the big encoder, text_l for the small one, and the image size,
    crop and target size the UNet is told about."""

    clip = Socket("CLIP")
    width = _size()
    height = _size()
    crop_w = _size(0)
    crop_h = _size(0)
    target_width = _size()
    target_height = _size()
    text_g = String(multiline=True)
    text_l = String(multiline=True)
    OUTPUTS = COND_OUT

    def execute(self, ctx, clip, width: int, height: int, crop_w: int, crop_h: int, target_width: int,
                target_height: int, text_g: str, text_l: str) -> tuple:
        names = {spec.name for spec in clip.encoders}
        if names != {"l", "g"}:
            raise ValueError("CLIPTextEncodeSDXL needs SDXL's two text encoders (clip_l and clip_g); "
                             f"this CLIP has {', '.join(sorted(names))}")
        cond, pooled = encode_per_encoder(ctx, clip, {"l": text_l, "g": text_g})
        extras = {"pooled_output": pooled, "width": width, "height": height, "crop_w": crop_w, "crop_h": crop_h,
                  "target_width": target_width, "target_height": target_height}
        return ([[cond, extras]],)


@register_node("CLIPTextEncodeSDXLRefiner", category=CATEGORY)
class CLIPTextEncodeSDXLRefiner(Node):
    """SDXL refiner: the prompt with the aesthetic score (about 6 for positive, 2.5 for
    negative prompts) and the image size."""

    ascore = Float(default=6.0, min=0.0, max=1000.0, step=0.01)
    width = _size()
    height = _size()
    text = String(multiline=True)
    clip = Socket("CLIP")
    OUTPUTS = COND_OUT

    def execute(self, ctx, ascore: float, width: int, height: int, text: str, clip) -> tuple:
        cond, pooled = clip.encode_rows(_tokens(ctx, clip, text))
        return ([[cond, {"pooled_output": pooled, "aesthetic_score": ascore, "width": width, "height": height}]],)
