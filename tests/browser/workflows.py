"""UI-format workflows for the browser tests, written the way ComfyUI writes them."""
from __future__ import annotations

import copy


def txt2img_ui(steps: int = 2, size: int = 64, ckpt: str = "tiny.safetensors") -> dict:
    """ComfyUI's default graph in UI format 0.4 (ids and slots as ComfyUI numbers them)."""
    def node(id_, type_, pos, inputs, outputs, widgets, title=None):
        data = {"id": id_, "type": type_, "pos": pos, "size": [300, 120], "flags": {}, "order": 0, "mode": 0,
                "inputs": [{"name": n, "type": t, "link": l} for n, t, l in inputs],
                "outputs": [{"name": n, "type": t, "links": ls, "slot_index": i} for i, (n, t, ls) in enumerate(outputs)],
                "properties": {"Node name for S&R": type_}, "widgets_values": widgets}
        if title:
            data["title"] = title
        return data

    return {
        "last_node_id": 9, "last_link_id": 9,
        "nodes": [
            node(4, "CheckpointLoaderSimple", [26, 474], [], [("MODEL", "MODEL", [1]), ("CLIP", "CLIP", [3, 5]), ("VAE", "VAE", [8])], [ckpt]),
            node(6, "CLIPTextEncode", [415, 186], [("clip", "CLIP", 3)], [("CONDITIONING", "CONDITIONING", [4])], ["a blue square"], "Positive"),
            node(7, "CLIPTextEncode", [413, 389], [("clip", "CLIP", 5)], [("CONDITIONING", "CONDITIONING", [6])], ["text, watermark"]),
            node(5, "EmptyLatentImage", [473, 609], [], [("LATENT", "LATENT", [2])], [size, size, 1]),
            node(3, "KSampler", [863, 186], [("model", "MODEL", 1), ("positive", "CONDITIONING", 4), ("negative", "CONDITIONING", 6), ("latent_image", "LATENT", 2)],
                 [("LATENT", "LATENT", [7])], [156680208700286, "randomize", steps, 8, "euler", "normal", 1]),
            node(8, "VAEDecode", [1209, 188], [("samples", "LATENT", 7), ("vae", "VAE", 8)], [("IMAGE", "IMAGE", [9])], []),
            node(9, "SaveImage", [1451, 189], [("images", "IMAGE", 9)], [], ["ComfyUI"]),
        ],
        "links": [[1, 4, 0, 3, 0, "MODEL"], [2, 5, 0, 3, 3, "LATENT"], [3, 4, 1, 6, 0, "CLIP"], [4, 6, 0, 3, 1, "CONDITIONING"],
                  [5, 4, 1, 7, 0, "CLIP"], [6, 7, 0, 3, 2, "CONDITIONING"], [7, 3, 0, 8, 0, "LATENT"], [8, 4, 2, 8, 1, "VAE"],
                  [9, 8, 0, 9, 0, "IMAGE"]],
        "groups": [{"title": "Sampling", "bounding": [840, 100, 360, 500], "color": "#3f789e"}],
        "config": {}, "extra": {}, "version": 0.4,
    }


def as_version_1(ui: dict) -> dict:
    """The same graph in UI format version 1 (state object, links as objects)."""
    data = copy.deepcopy(ui)
    data["state"] = {"lastNodeId": data.pop("last_node_id"), "lastLinkId": data.pop("last_link_id"), "lastGroupId": 0, "lastRerouteId": 0}
    data["links"] = [dict(zip(("id", "origin_id", "origin_slot", "target_id", "target_slot", "type"), l)) for l in data["links"]]
    data["version"] = 1
    return data


def with_unknown_node(ui: dict) -> dict:
    """Insert an unknown node type between VAE Decode (8) and Save Image (9)."""
    data = copy.deepcopy(ui)
    data["nodes"].append({
        "id": 10, "type": "FancyUpscaler", "pos": [1300, 400], "size": [315, 82], "flags": {}, "order": 7, "mode": 0,
        "inputs": [{"name": "image", "type": "IMAGE", "link": 9}],
        "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [10], "slot_index": 0}],
        "properties": {"Node name for S&R": "FancyUpscaler"}, "widgets_values": [2, "lanczos"],
    })
    for node in data["nodes"]:
        if node["id"] == 9:
            node["inputs"][0]["link"] = 10
    data["links"] = [[9, 8, 0, 10, 0, "IMAGE"] if l[0] == 9 else l for l in data["links"]] + [[10, 10, 0, 9, 0, "IMAGE"]]
    data["last_node_id"], data["last_link_id"] = 10, 10
    return data


def with_primitive_seed(ui: dict, value: int = 42) -> dict:
    """A ComfyUI PrimitiveNode wired into KSampler's seed (a widget input)."""
    data = copy.deepcopy(ui)
    data["nodes"].append({
        "id": 10, "type": "PrimitiveNode", "pos": [600, 40], "size": [210, 82], "flags": {}, "order": 8, "mode": 0,
        "inputs": [], "outputs": [{"name": "INT", "type": "INT", "links": [11], "slot_index": 0, "widget": {"name": "seed"}}],
        "title": "seed", "properties": {"Run widget replace on values": False}, "widgets_values": [value, "fixed"],
    })
    for node in data["nodes"]:
        if node["id"] == 3:
            node["inputs"].append({"name": "seed", "type": "INT", "link": 11, "widget": {"name": "seed"}})
    data["links"].append([11, 10, 0, 3, 4, "INT"])
    data["last_node_id"], data["last_link_id"] = 10, 11
    return data
