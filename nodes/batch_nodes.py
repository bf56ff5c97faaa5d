"""Batching, rebatching, compositing and quantising nodes (ComfyUI's post-processing,
compositing, rebatch and webcam nodes)."""
from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np
import torch

from .image_nodes import LoadImage, load_image_file
from .image_transform import resize_image
from .latent import MAX_RESOLUTION
from .registry import Node, register_node
from .resize import IMAGE_UPSCALE_METHODS, resize
from .spec import ANY_TYPE, Boolean, Combo, Float, Int, Output, Socket, String

BATCH_SLOTS = 50  # ComfyUI's Batch Images/Masks/Latents take up to 50 inputs


# -- batching --------------------------------------------------------------------------------


def batch_images(images: list[torch.Tensor]) -> torch.Tensor:
    """One batch, each image resized (bilinear, centre crop) to the first one's size; an RGB
    image among RGBA ones gets an opaque alpha."""
    channels = max(image.shape[-1] for image in images)
    first = images[0]
    out = []
    for image in images:
        if image.shape[-1] < channels:
            image = torch.cat([image, torch.ones(*image.shape[:-1], 1, dtype=image.dtype)], dim=-1)
        if tuple(image.shape[1:3]) != tuple(first.shape[1:3]):
            image = resize_image(image, first.shape[2], first.shape[1], "bilinear", "center")
        out.append(image)
    return torch.cat(out, dim=0)


def batch_masks(masks: list[torch.Tensor]) -> torch.Tensor:
    masks = [m.reshape(-1, *m.shape[-2:]) for m in masks]
    first = masks[0]
    out = [m if m.shape[-2:] == first.shape[-2:] else
           resize(m.unsqueeze(1), first.shape[-1], first.shape[-2], "bilinear", "center").squeeze(1) for m in masks]
    return torch.cat(out, dim=0)


def batch_latents(latents: list[dict]) -> dict:
    """The first latent's dict with every latent's samples appended (resized to the first's
    size); batch indices restart for each input, as their seeds do."""
    first = latents[0]["samples"]
    samples, indices = [], []
    for latent in latents:
        s = latent["samples"]
        if s.shape[1:] != first.shape[1:]:
            s = resize(s, first.shape[-1], first.shape[-2], "bilinear", "center")
        samples.append(s)
        indices += list(latent.get("batch_index", range(s.shape[0])))
    return {**latents[0], "samples": torch.cat(samples, dim=0), "batch_index": indices}


def _batch_node(node_id: str, display: str, category: str, group: str, prefix: str, socket: str, fn, doc: str):
    """A node with `group.prefix0` ... `group.prefix49` inputs (ComfyUI's growing input list;
    the first two required), joined by fn in slot order."""
    body: dict = {"__doc__": doc, "__module__": __name__, "OUTPUTS": (Output(socket, socket),)}
    for index in range(BATCH_SLOTS):
        body[f"{group}.{prefix}{index}"] = Socket(socket, optional=index >= 2)

    def execute(self, ctx, **inputs: Any) -> tuple:
        values = [inputs[f"{group}.{prefix}{i}"] for i in range(BATCH_SLOTS) if inputs.get(f"{group}.{prefix}{i}")
                  is not None]
        return (fn(values),)

    body["execute"] = execute
    return register_node(node_id, category=category, display_name=display)(type(node_id, (Node,), body))


BatchImagesNode = _batch_node("BatchImagesNode", "Batch Images", "image", "images", "image", "IMAGE", batch_images,
                              "Joins images into one batch (resized to the first one's size).")
BatchMasksNode = _batch_node("BatchMasksNode", "Batch Masks", "mask", "masks", "mask", "MASK", batch_masks,
                             "Joins masks into one batch (resized to the first one's size).")
BatchLatentsNode = _batch_node("BatchLatentsNode", "Batch Latents", "latent", "latents", "latent", "LATENT",
                               batch_latents, "Joins latents into one batch (resized to the first one's size).")


# -- rebatching ------------------------------------------------------------------------------


def rebatch_latents(latents: list[dict], size: int) -> list[dict]:
    """Latents regrouped into batches of `size` (a change of latent size starts a new one);
    each keeps its noise mask (dropped where it is all ones) and its batch indices."""
    out: list[dict] = []
    current: Optional[dict] = None
    done = 0

    def emit(batch: dict) -> None:
        if batch["noise_mask"].mean() == 1.0:
            batch = {k: v for k, v in batch.items() if k != "noise_mask"}
        out.append(batch)

    for latent in latents:
        samples = latent["samples"]
        count = samples.shape[0]
        mask = latent.get("noise_mask")
        if mask is None:
            mask = torch.ones(count, 1, samples.shape[-2] * 8, samples.shape[-1] * 8)
        mask = mask.reshape(-1, 1, *mask.shape[-2:])
        if mask.shape[0] < count:
            mask = mask.repeat(math.ceil(count / mask.shape[0]), 1, 1, 1)[:count]
        entry = {"samples": samples, "noise_mask": mask,
                 "batch_index": list(latent.get("batch_index", range(done, done + count)))}
        done += count
        if current is None:
            current = entry
        elif current["samples"].shape[-2:] != samples.shape[-2:]:
            emit(current)
            current = entry
        else:
            current = {"samples": torch.cat([current["samples"], samples]),
                       "noise_mask": torch.cat([current["noise_mask"], mask]),
                       "batch_index": current["batch_index"] + entry["batch_index"]}
        while current["samples"].shape[0] > size:
            emit({"samples": current["samples"][:size], "noise_mask": current["noise_mask"][:size],
                  "batch_index": current["batch_index"][:size]})
            current = {"samples": current["samples"][size:], "noise_mask": current["noise_mask"][size:],
                       "batch_index": current["batch_index"][size:]}
    if current is not None:
        emit(current)
    return out


@register_node("RebatchLatents", category="latent/batch", display_name="Rebatch Latents")
class RebatchLatents(Node):
    """A list of latents regrouped into batches of batch_size (the sampler then runs each
    batch at once)."""

    INPUT_IS_LIST = True
    latents = Socket("LATENT")
    batch_size = Int(default=1, min=1, max=4096)
    OUTPUTS = (Output("LATENT", "LATENT", is_list=True),)

    def execute(self, ctx, latents: list, batch_size: list) -> tuple:
        return (rebatch_latents(latents, int(batch_size[0])),)


@register_node("RebatchImages", category="image/batch", display_name="Rebatch Images")
class RebatchImages(Node):
    """A list of image batches regrouped into batches of batch_size."""

    INPUT_IS_LIST = True
    images = Socket("IMAGE")
    batch_size = Int(default=1, min=1, max=4096)
    OUTPUTS = (Output("IMAGE", "IMAGE", is_list=True),)

    def execute(self, ctx, images: list, batch_size: list) -> tuple:
        size = int(batch_size[0])
        frames = [frame.unsqueeze(0) for batch in images for frame in batch]
        return ([torch.cat(frames[i:i + size]) for i in range(0, len(frames), size)],)


# -- compositing and quantising ------------------------------------------------------------------


def _fit(t: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """[H,W,C] resized (bicubic, centre crop) to height x width."""
    if tuple(t.shape[:2]) == (height, width):
        return t
    return resize_image(t.unsqueeze(0), width, height, "bicubic", "center")[0]


@register_node("PorterDuffImageComposite", category="mask/compositing", display_name="Porter-Duff Image Composite")
class PorterDuffImageComposite(Node):
    """Composites two images with their masks by one of the Porter-Duff operators (masks as
    everywhere here: 1 = transparent)."""

    source = Socket("IMAGE")
    source_alpha = Socket("MASK")
    destination = Socket("IMAGE")
    destination_alpha = Socket("MASK")
    mode = Combo(choices=["ADD", "CLEAR", "DARKEN", "DST", "DST_ATOP", "DST_IN", "DST_OUT", "DST_OVER", "LIGHTEN",
                          "MULTIPLY", "OVERLAY", "SCREEN", "SRC", "SRC_ATOP", "SRC_IN", "SRC_OUT", "SRC_OVER", "XOR"],
                 default="DST")
    OUTPUTS = (Output("IMAGE", "IMAGE"), Output("MASK", "MASK"))

    def execute(self, ctx, source: torch.Tensor, source_alpha: torch.Tensor, destination: torch.Tensor,
                destination_alpha: torch.Tensor, mode: str) -> tuple:
        from diffusion.image_filters import porter_duff

        source_alpha = source_alpha.reshape(-1, *source_alpha.shape[-2:])
        destination_alpha = destination_alpha.reshape(-1, *destination_alpha.shape[-2:])
        count = min(len(source), len(source_alpha), len(destination), len(destination_alpha))
        if source.shape[-1] != destination.shape[-1]:
            raise ValueError(f"source has {source.shape[-1]} channels, destination {destination.shape[-1]}")
        images, masks = [], []
        for i in range(count):
            height, width = destination.shape[1:3]
            d_alpha = _fit(1.0 - destination_alpha[i].unsqueeze(-1), height, width)
            src = _fit(source[i], height, width)
            s_alpha = _fit(1.0 - source_alpha[i].unsqueeze(-1), height, width)
            colour, alpha = porter_duff(src, s_alpha, destination[i], d_alpha, mode)
            images.append(colour)
            masks.append(1.0 - alpha[..., 0])
        return (torch.stack(images), torch.stack(masks))


def bayer_matrix(order: int) -> np.ndarray:
    """The normalised (-0.5..0.5) ordered-dither matrix of size 2**order."""
    if order == 0:
        return np.zeros((1, 1))
    size = 4 ** order
    inner = size * bayer_matrix(order - 1)
    return np.block([[inner - 1.5, inner + 0.5], [inner + 1.5, inner - 0.5]]) / size


def quantize_image(image: torch.Tensor, colors: int, dither: str) -> torch.Tensor:
    """One [H,W,3] image reduced to a palette of `colors` (median cut), mapped to it plainly,
    with Floyd-Steinberg error diffusion, or with an ordered (Bayer) threshold pattern."""
    from PIL import Image

    pixels = (image[..., :3].clamp(0, 1) * 255).to(torch.uint8).cpu().numpy()
    picture = Image.fromarray(pixels, mode="RGB")
    palette = picture.quantize(colors=colors)
    if dither.startswith("bayer-"):
        order = int(math.log2(int(dither.split("-")[1])))
        spread = 2 * 256 / (len(palette.getpalette()) // 3)
        threshold = spread * bayer_matrix(order) + 0.5
        size = threshold.shape[0]
        height, width = pixels.shape[:2]
        tiled = np.tile(threshold, (height // size + 1, width // size + 1))[:height, :width]
        shifted = np.clip(pixels.astype(np.float32) + tiled[..., None], 0, 255).astype(np.uint8)
        picture, mode = Image.fromarray(shifted, mode="RGB"), Image.Dither.NONE
    else:
        mode = Image.Dither.FLOYDSTEINBERG if dither == "floyd-steinberg" else Image.Dither.NONE
    result = picture.quantize(palette=palette, dither=mode).convert("RGB")
    return torch.from_numpy(np.asarray(result, dtype=np.float32) / 255.0)


@register_node("ImageQuantize", category="image/postprocessing")
class ImageQuantize(Node):
    """Reduces an image to a palette of at most `colors` colours, optionally dithered."""

    image = Socket("IMAGE")
    colors = Int(default=256, min=1, max=256, step=1)
    dither = Combo(choices=["none", "floyd-steinberg", "bayer-2", "bayer-4", "bayer-8", "bayer-16"])
    OUTPUTS = (Output("IMAGE", "IMAGE"),)

    def execute(self, ctx, image: torch.Tensor, colors: int, dither: str) -> tuple:
        return (torch.stack([quantize_image(frame, colors, dither) for frame in image]).to(image),)


# -- resize image or mask ---------------------------------------------------------------------


RESIZE_TYPES = ["scale dimensions", "scale by multiplier", "scale longer dimension", "scale shorter dimension",
                "scale width", "scale height", "scale total pixels", "match size", "scale to multiple"]


def _side(default: int = 512) -> Int:
    return Int(default=default, min=0, max=MAX_RESOLUTION, step=1, optional=True)


def resize_target(kind: str, width: int, height: int, o: dict) -> tuple[int, int, str]:
    """(width, height, crop) a ResizeImageMaskNode setting asks for an input of width x height."""
    if kind == "scale by multiplier":
        return round(width * o["multiplier"]), round(height * o["multiplier"]), "disabled"
    if kind in ("scale dimensions", "scale width", "scale height"):
        w = o["width"] if kind != "scale height" else 0
        h = o["height"] if kind != "scale width" else 0
        if w == 0 and h == 0:
            return width, height, "disabled"
        w = w or max(1, round(width * h / height))
        h = h or max(1, round(height * w / width))
        return w, h, o["crop"] if kind == "scale dimensions" else "disabled"
    if kind in ("scale longer dimension", "scale shorter dimension"):
        size = o["longer_size"] if kind == "scale longer dimension" else o["shorter_size"]
        portrait = height > width if kind == "scale longer dimension" else height < width
        if width == height:
            return size, size, "disabled"
        return (round(width / height * size), size, "disabled") if portrait else \
            (size, round(height / width * size), "disabled")
    if kind == "scale total pixels":
        scale = math.sqrt(int(o["megapixels"] * 1024 * 1024) / (width * height))
        return round(width * scale), round(height * scale), "disabled"
    raise ValueError(f"unknown resize type {kind!r}")


def _scale_to_multiple(x: torch.Tensor, multiple: int, method: str) -> torch.Tensor:
    """Cover the largest multiple-of-`multiple` size inside the input, then centre crop."""
    height, width = x.shape[-2:]
    target_w, target_h = (width // multiple) * multiple, (height // multiple) * multiple
    if multiple <= 1 or not target_w or not target_h or (target_w, target_h) == (width, height):
        return x
    if target_w / width >= target_h / height:
        scaled_w, scaled_h = target_w, max(target_h, math.ceil(height * target_w / width))
    else:
        scaled_w, scaled_h = max(target_w, math.ceil(width * target_h / height)), target_h
    scaled = resize(x, scaled_w, scaled_h, method)
    top, left = (scaled_h - target_h) // 2, (scaled_w - target_w) // 2
    return scaled[..., top:top + target_h, left:left + target_w]


_RESIZE_BODY: dict = {
    "__doc__": "Resizes an image or a mask: to a size, by a factor, by one side, to a pixel count, to another "
               "image's size or to a multiple.",
    "__module__": __name__,
    "input": Socket(ANY_TYPE),
    "resize_type": Combo(choices=RESIZE_TYPES),
    "resize_type.width": _side(),
    "resize_type.height": _side(),
    "resize_type.crop": Combo(choices=["disabled", "center"], default="center", optional=True),
    "resize_type.multiplier": Float(default=1.0, min=0.01, max=8.0, step=0.01, optional=True),
    "resize_type.longer_size": _side(),
    "resize_type.shorter_size": _side(),
    "resize_type.megapixels": Float(default=1.0, min=0.01, max=16.0, step=0.01, optional=True),
    "resize_type.match": Socket(ANY_TYPE, optional=True),
    "resize_type.multiple": Int(default=8, min=1, max=MAX_RESOLUTION, step=1, optional=True),
    "scale_method": Combo(choices=IMAGE_UPSCALE_METHODS, default="area"),
    "OUTPUTS": (Output(ANY_TYPE, "resized"),),
}


def _resize_execute(self, ctx, input: torch.Tensor, resize_type: str, scale_method: str, **options: Any) -> tuple:
    o = {"width": 512, "height": 512, "crop": "center", "multiplier": 1.0, "longer_size": 512, "shorter_size": 512,
         "megapixels": 1.0, "multiple": 8, "match": None}
    o.update({k.split(".", 1)[1]: v for k, v in options.items() if v is not None})
    is_image = input.ndim == 4
    x = input.movedim(-1, 1) if is_image else input.unsqueeze(1)
    height, width = x.shape[-2:]
    if resize_type == "scale to multiple":
        out = _scale_to_multiple(x, int(o["multiple"]), scale_method)
    else:
        if resize_type == "match size":
            if o["match"] is None:
                raise ValueError("match size needs an image or mask connected to 'match'")
            match = o["match"]
            target_h, target_w = (match.shape[1:3] if match.ndim == 4 else match.shape[-2:])
            crop = o["crop"]
        else:
            target_w, target_h, crop = resize_target(resize_type, width, height, o)
        out = x if (target_w, target_h) == (width, height) and crop == "disabled" else \
            resize(x, int(target_w), int(target_h), scale_method, crop)
    return (out.movedim(1, -1) if is_image else out.squeeze(1),)


_RESIZE_BODY["execute"] = _resize_execute
ResizeImageMaskNode = register_node("ResizeImageMaskNode", category="transform", display_name="Resize Image/Mask")(
    type("ResizeImageMaskNode", (Node,), _RESIZE_BODY))


# -- webcam ------------------------------------------------------------------------------------


@register_node("WebcamCapture", category="image", display_name="Webcam Capture")
class WebcamCapture(Node):
    """An image the editor captured from the webcam and uploaded (a file name with its
    folder, e.g. "webcam/1.png [temp]"); width and height are the capture size the editor
    asks for (0: the camera's own). Captured again at each queue unless capture_on_queue is off."""

    image = String(default="")
    width = Int(default=0, min=0, max=MAX_RESOLUTION, step=1)
    height = Int(default=0, min=0, max=MAX_RESOLUTION, step=1)
    capture_on_queue = Boolean(default=True)
    OUTPUTS = (Output("IMAGE", "IMAGE"),)

    def execute(self, ctx, image: str, width: int, height: int, capture_on_queue: bool) -> tuple:
        if not image:
            raise ValueError("no webcam image has been captured yet")
        return (load_image_file(ctx.folders.annotated_path(image, "input"))[0],)

    @classmethod
    def fingerprint(cls, folders: Any, image: str = "", capture_on_queue: bool = True, **_: Any) -> Any:
        return LoadImage.fingerprint(folders, image=image)
