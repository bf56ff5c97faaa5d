"""Per-block model merges for one family's UNet layout (ComfyUI's model_specific merges).

Each input is a ratio named by the start of the original-layout UNet keys it governs
(`input_blocks.4.`, `middle_block.1.`, ...); a key takes the ratio of the longest name it
starts with, as ModelMergeBlocks does with its three names.
"""
from __future__ import annotations

from .registry import Node, register_node
from .spec import Float, Output, Socket

CATEGORY = "advanced/model_merging/model_specific"


def _block_names(levels: int, trailing_dot: bool) -> list[str]:
    dot = "." if trailing_dot else ""
    return (["time_embed.", "label_emb."] + [f"input_blocks.{i}{dot}" for i in range(levels)]
            + [f"middle_block.{i}{dot}" for i in range(3)] + [f"output_blocks.{i}{dot}" for i in range(levels)]
            + ["out."])


def _execute(self, ctx, model1, model2, **ratios: float) -> tuple:
    from diffusion.merging import block_strengths, merge_models

    return (merge_models(model1, model2, block_strengths(ratios)),)


def _merge_node(node_id: str, blocks: list[str], doc: str) -> type[Node]:
    """A node class whose inputs are model1, model2 and one ratio per block name (names with
    dots cannot be written as class attributes, so the class is built from a dict)."""
    body: dict = {"__doc__": doc, "__module__": __name__, "model1": Socket("MODEL"), "model2": Socket("MODEL")}
    body.update({name: Float(default=1.0, min=0.0, max=1.0, step=0.01) for name in blocks})
    body["OUTPUTS"] = (Output("MODEL", "MODEL"),)
    body["execute"] = _execute
    return register_node(node_id, category=CATEGORY)(type(node_id, (Node,), body))


_SD_DOC = "Merge two {} UNets with one ratio per block (1.0 keeps model1's block)."
ModelMergeSD1 = _merge_node("ModelMergeSD1", _block_names(12, True), _SD_DOC.format("SD1"))
ModelMergeSD2 = _merge_node("ModelMergeSD2", _block_names(12, True), _SD_DOC.format("SD2"))
ModelMergeSDXL = _merge_node("ModelMergeSDXL", _block_names(9, False), _SD_DOC.format("SDXL"))
