"""Text encoding and conditioning nodes."""
from __future__ import annotations

from typing import Any

from diffusion.prompt_weights import EMBEDDING_PREFIX

from .registry import Node, register_node
from .spec import Int, Output, Socket, String


def embedding_lookup(ctx: Any, text: str) -> Any:
    """The models/embeddings lookup when the prompt names an embedding, else None (so a
    prompt without one never scans the folder)."""
    if ctx is None or EMBEDDING_PREFIX not in text:
        return None
    from diffusion.embeddings import EmbeddingFolder

    return EmbeddingFolder(ctx.folders.model_dirs("embeddings"))


@register_node("CLIPSetLastLayer", category="conditioning", display_name="CLIP Set Last Layer")
class CLIPSetLastLayer(Node):
    """Stops the text encoder at an earlier layer ("CLIP skip"): -1 is the last layer, -2 the one before."""

    clip = Socket("CLIP")
    stop_at_clip_layer = Int(default=-1, min=-24, max=-1, step=1)
    OUTPUTS = (Output("CLIP", "CLIP"),)

    def execute(self, ctx, clip, stop_at_clip_layer: int) -> tuple:
        return (clip.with_last_layer(stop_at_clip_layer),)


@register_node("CLIPTextEncode", category="conditioning", display_name="CLIP Text Encode (Prompt)")
class CLIPTextEncode(Node):
    """Encodes a prompt with the text encoder. Supports (word:1.2) emphasis and prompts longer
    than 77 tokens."""

    text = String(multiline=True, tooltip="The prompt. (word:1.2) weighs a word up, (word:0.8) down.")
    clip = Socket("CLIP", tooltip="The text encoder from a checkpoint loader.")
    OUTPUTS = (Output("CONDITIONING", "CONDITIONING"),)

    def execute(self, ctx, text: str, clip) -> tuple:
        lookup = embedding_lookup(ctx, text)
        cond, pooled = clip.encode_text(text, lookup) if lookup is not None else clip.encode_text(text)
        return ([[cond, {"pooled_output": pooled}]],)

    @classmethod
    def fingerprint(cls, folders: Any, text: str = "", **_: Any) -> Any:
        """A prompt naming embeddings re-runs when the embedding files change."""
        if folders is None or EMBEDDING_PREFIX not in str(text):
            return None
        stamps = []
        for root in folders.model_dirs("embeddings"):
            if root.is_dir():
                stamps += sorted([p.name, p.stat().st_mtime_ns] for p in root.rglob("*") if p.is_file())
        return stamps


@register_node("ConditioningCombine", category="conditioning", display_name="Conditioning (Combine)")
class ConditioningCombine(Node):
    """Combines two conditionings: the sampler averages the predictions for each."""

    conditioning_1 = Socket("CONDITIONING")
    conditioning_2 = Socket("CONDITIONING")
    OUTPUTS = (Output("CONDITIONING", "CONDITIONING"),)

    def execute(self, ctx, conditioning_1: list, conditioning_2: list) -> tuple:
        return (conditioning_1 + conditioning_2,)
