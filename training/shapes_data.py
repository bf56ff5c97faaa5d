"""Procedural captioned images of one flat-coloured shape, for training the built-in model.

Each image holds a single filled shape (six kinds, ten colours, two sizes, a 3x3 grid of
positions) on a flat background of another colour. Captions name the shape and colour
always and the size, position and background only sometimes, so the model also learns
the prior for what a prompt leaves out. `parse_prompt` reads a prompt back into the
attributes it asks for; the scorer (`shape_scoring`) checks generated images against it.

Geometry is shared with the scorer: `shape_mask` rasterises any shape into any box, which
is how `render` draws and how the scorer builds its templates.
"""
from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "diamond", "cross")

# Well separated in RGB (closest pair, orange/yellow, is ~95 apart) so that a small
# model's colour drift still maps back to the intended name.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "orange": (250, 140, 0),
    "yellow": (250, 230, 30),
    "green": (30, 170, 50),
    "blue": (30, 70, 230),
    "purple": (140, 50, 190),
    "pink": (250, 130, 200),
    "white": (245, 245, 245),
    "black": (15, 15, 15),
    "gray": (128, 128, 128),
}
COLOUR_NAMES: tuple[str, ...] = tuple(COLOURS)

SIZES: tuple[str, ...] = ("small", "large")
# Bounding-box side at 128 px. Large must fit at a 1/4-centre with +10% jitter
# (56 * 1.1 / 2 = 30.8 < 32); small spans 5 latent cells after an 8x VAE, which is what
# a small star's points need to survive the autoencoder (at 4 cells they blur away).
SIZE_PIXELS: dict[str, int] = {"small": 40, "large": 56}
SIZE_JITTER = 0.10  # relative, uniform
POSITION_JITTER = 4.0  # pixels at 128 px, uniform per axis

POSITIONS: tuple[str, ...] = (
    "top left", "top", "top right",
    "left", "centre", "right",
    "bottom left", "bottom", "bottom right",
)
# Centre of each position as fractions (x, y) of the image side.
POSITION_CENTRES: dict[str, tuple[float, float]] = {
    name: ((i % 3 + 1) / 4, (i // 3 + 1) / 4) for i, name in enumerate(POSITIONS)
}

SUPERSAMPLE = 4  # draw at 4x, box-downscale: soft edges without ringing


def _star_points() -> list[tuple[float, float]]:
    """Five-pointed star, one point up, normalised to the unit box."""
    outer, inner = 1.0, 0.382  # regular pentagram proportions
    pts = []
    for k in range(10):
        r = outer if k % 2 == 0 else inner
        a = -math.pi / 2 + k * math.pi / 5
        pts.append((r * math.cos(a), r * math.sin(a)))
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    x0, y0, w, h = min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)
    return [((x - x0) / w, (y - y0) / h) for x, y in pts]


_T = 1 / 3  # cross arm width, as a fraction of its size
# Unit-box outlines (x, y in [0, 1], y down); every shape touches all four box sides, so a
# shape's bounding box is exactly its nominal box (the star is stretched ~5% in height).
_OUTLINES: dict[str, list[tuple[float, float]] | None] = {
    "circle": None,  # ellipse
    "square": [(0, 0), (1, 0), (1, 1), (0, 1)],
    "triangle": [(0.5, 0), (1, 1), (0, 1)],
    "star": _star_points(),
    "diamond": [(0.5, 0), (1, 0.5), (0.5, 1), (0, 0.5)],
    "cross": [(_T, 0), (2 * _T, 0), (2 * _T, _T), (1, _T), (1, 2 * _T), (2 * _T, 2 * _T),
              (2 * _T, 1), (_T, 1), (_T, 2 * _T), (0, 2 * _T), (0, _T), (_T, _T)],
}


@dataclass(frozen=True)
class Scene:
    shape: str
    colour: str
    background: str
    size: str
    position: str


def random_scene(rng: random.Random, small_share: float | None = None) -> Scene:
    """Uniform over every attribute; the background never equals the shape colour.

    `small_share` biases the size (the VAE trains on more small shapes, its hard case).
    """
    shape = rng.choice(SHAPES)
    colour = rng.choice(COLOUR_NAMES)
    background = rng.choice([c for c in COLOUR_NAMES if c != colour])
    if small_share is None:
        size = rng.choice(SIZES)
    else:
        size = "small" if rng.random() < small_share else "large"
    return Scene(shape, colour, background, size, rng.choice(POSITIONS))


def recoloured(scene: Scene, rng: random.Random) -> Scene:
    """The same shape in the same place with another shape colour (60%), another
    background (20%) or both (20%); the two colours still differ."""
    r = rng.random()
    colour, background = scene.colour, scene.background
    if r < 0.8:
        colour = rng.choice([c for c in COLOUR_NAMES if c not in (scene.colour, background)])
    if r >= 0.6:
        background = rng.choice([c for c in COLOUR_NAMES if c not in (scene.background, colour)])
    return Scene(scene.shape, colour, background, scene.size, scene.position)


def _draw(draw: ImageDraw.ImageDraw, shape: str, box: tuple[float, float, float, float],
          fill) -> None:
    x0, y0, x1, y1 = box
    outline = _OUTLINES[shape]
    if outline is None:
        draw.ellipse(box, fill=fill)
    else:
        draw.polygon([(x0 + u * (x1 - x0), y0 + v * (y1 - y0)) for u, v in outline], fill=fill)


def scene_box(scene: Scene, image_size: int = 128,
              rng: random.Random | None = None) -> tuple[float, float, float, float]:
    """The shape's bounding box (x0, y0, x1, y1) in pixels, jittered when rng is given."""
    scale = image_size / 128
    side = SIZE_PIXELS[scene.size] * scale
    fx, fy = POSITION_CENTRES[scene.position]
    cx, cy = fx * image_size, fy * image_size
    if rng is not None:
        side *= 1 + rng.uniform(-SIZE_JITTER, SIZE_JITTER)
        cx += rng.uniform(-POSITION_JITTER, POSITION_JITTER) * scale
        cy += rng.uniform(-POSITION_JITTER, POSITION_JITTER) * scale
    half = side / 2
    lo, hi = half + 1, image_size - 1 - half  # keep a 1 px margin
    cx, cy = min(max(cx, lo), hi), min(max(cy, lo), hi)
    return (cx - half, cy - half, cx + half, cy + half)


def shape_mask(shape: str, box: tuple[float, float, float, float],
               image_size: int | tuple[int, int]) -> np.ndarray:
    """Coverage in [0, 1] (float32, HxW) of `shape` stretched to fill `box`.

    `image_size` is the side of a square image or its (width, height).
    """
    s = SUPERSAMPLE
    w, h = (image_size, image_size) if isinstance(image_size, int) else image_size
    canvas = Image.new("L", (w * s, h * s), 0)
    _draw(ImageDraw.Draw(canvas), shape, tuple(v * s for v in box), 255)
    return np.asarray(canvas.reduce(s), dtype=np.float32) / 255.0


def render(scene: Scene, image_size: int = 128, rng: random.Random | None = None) -> Image.Image:
    """RGB image of the scene; rng adds size/position jitter, None gives canonical placement."""
    return draw_scene(scene, scene_box(scene, image_size, rng), image_size)


def draw_scene(scene: Scene, box: tuple[float, float, float, float], image_size: int = 128) -> Image.Image:
    """RGB image of the scene with its shape filling `box` (see scene_box)."""
    s = SUPERSAMPLE
    img = Image.new("RGB", (image_size * s, image_size * s), COLOURS[scene.background])
    _draw(ImageDraw.Draw(img), scene.shape, tuple(v * s for v in box), COLOURS[scene.colour])
    return img.reduce(s)


# ---------------------------------------------------------------- captions

def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _position_phrase(position: str, rng: random.Random) -> str:
    """A prepositional phrase for the position, e.g. 'in the top left corner'."""
    if position == "centre":
        return rng.choice(["in the centre", "in the center", "in the middle",
                           "at the centre", "at the center", "centred", "centered"])
    if " " in position:  # corner
        v, h = position.split()
        words = rng.choice([position, position, f"{'upper' if v == 'top' else 'lower'} {h}"])
        return rng.choice([f"in the {words}", f"at the {words}", f"in the {words} corner"])
    if position in ("top", "bottom"):
        return rng.choice([f"at the {position}", f"at the {position}",
                           f"at the {position} centre", f"at the {position} center",
                           f"along the {position}"])
    return rng.choice([f"on the {position}", f"on the {position}", f"at the {position}",
                       f"on the {position} side"])


def _bare_position(position: str, rng: random.Random) -> str:
    """The position as a bare label for comma-separated captions."""
    if position == "centre":
        return rng.choice(["centre", "center", "middle"])
    return position


def _size_word(size: str, rng: random.Random) -> str:
    """Mostly the plain word, sometimes a synonym people type."""
    if rng.random() >= 0.2:
        return size
    return rng.choice(["tiny", "little"] if size == "small" else ["big", "huge"])


def _colour_word(colour: str, rng: random.Random) -> str:
    return "grey" if colour == "gray" and rng.random() < 0.3 else colour


def caption(scene: Scene, rng: random.Random) -> str:
    """A varied caption naming shape and colour, and size/position/background sometimes.

    Omission rates: position 30%, size 30%, background 15%. Deterministic given rng.
    """
    with_size = rng.random() >= 0.30
    with_position = rng.random() >= 0.30
    with_background = rng.random() >= 0.15
    style = rng.random()

    noun = f"{_size_word(scene.size, rng)} " if with_size else ""
    noun += f"{_colour_word(scene.colour, rng)} {scene.shape}"

    if style < 0.15:  # terse, comma separated: "blue square, centre, white background"
        parts = [noun]
        if with_position:
            parts.append(_bare_position(scene.position, rng))
        if with_background:
            parts.append(f"{_colour_word(scene.background, rng)} background")
        return ", ".join(parts)

    phrase = f"{_article(noun)} {noun}"
    if with_position:
        phrase += " " + _position_phrase(scene.position, rng)

    if style < 0.30 and with_background:  # background first
        background = _colour_word(scene.background, rng)
        lead = rng.choice([_article(background), "a plain"])
        return f"{lead} {background} background with {phrase}"

    prefix = rng.choice(["", "", "", "a picture of ", "an image of ", "a drawing of ",
                         "a simple drawing of "])
    text = prefix + phrase
    if with_background:
        bg = _colour_word(scene.background, rng)
        a = _article(bg)
        text += rng.choice([f" on {a} {bg} background", f" on {a} {bg} background",
                            f", {bg} background", f" against {a} {bg} background",
                            f" with {a} {bg} background"])
    return text


# ---------------------------------------------------------------- prompt parsing

_COLOUR_SYNONYMS = {"grey": "gray", "violet": "purple"}
_SIZE_WORDS = {"small": "small", "tiny": "small", "little": "small",
               "large": "large", "big": "large", "huge": "large"}
_SHAPE_WORDS = {s: s for s in SHAPES} | {s + "s": s for s in SHAPES} | {
    "crosses": "cross", "plus": "cross", "rhombus": "diamond", "pentagram": "star"}
_BACKGROUND_WORDS = {"background", "backdrop", "bg"}
_CENTRE_WORDS = {"centre", "center", "middle", "centred", "centered", "central"}
_VERTICAL = {"top": "top", "upper": "top", "bottom": "bottom", "lower": "bottom"}
_HORIZONTAL = {"left": "left", "right": "right"}


def _colour_of(token: str) -> str | None:
    token = _COLOUR_SYNONYMS.get(token, token)
    return token if token in COLOURS else None


def parse_prompt(text: str) -> dict[str, str]:
    """The attributes a prompt asks for: keys among shape, colour, background, size, position.

    Only attributes the prompt mentions are returned. The background is the colour next
    to "background"; the shape colour is the colour nearest before the shape word (or
    else the first other colour word).
    """
    tokens = re.findall(r"[a-z]+", text.lower())
    out: dict[str, str] = {}

    background_idx: set[int] = set()
    for i, tok in enumerate(tokens):
        if tok not in _BACKGROUND_WORDS or "background" in out:
            continue
        # "white background", "a white coloured background"; else "background of/is white"
        after = range(i + 2, min(i + 4, len(tokens))) if tokens[i + 1:i + 2] in (["of"], ["is"]) else ()
        for j in [*range(i - 1, max(i - 4, -1), -1), *after]:
            if _colour_of(tokens[j]):
                out["background"] = _colour_of(tokens[j])
                background_idx.add(j)
                break

    shape_idx = next((i for i, t in enumerate(tokens) if t in _SHAPE_WORDS), None)
    if shape_idx is not None:
        out["shape"] = _SHAPE_WORDS[tokens[shape_idx]]

    colour_idx = [i for i, t in enumerate(tokens) if _colour_of(t) and i not in background_idx]
    if colour_idx:
        before = [i for i in colour_idx if shape_idx is not None and shape_idx - 4 < i < shape_idx]
        out["colour"] = _colour_of(tokens[before[-1] if before else colour_idx[0]])

    sizes = [_SIZE_WORDS[t] for t in tokens if t in _SIZE_WORDS]
    if sizes:
        out["size"] = sizes[0]

    v = next((_VERTICAL[t] for t in tokens if t in _VERTICAL), None)
    h = next((_HORIZONTAL[t] for t in tokens if t in _HORIZONTAL), None)
    if v and h:
        out["position"] = f"{v} {h}"
    elif v or h:
        out["position"] = v or h
    elif any(t in _CENTRE_WORDS for t in tokens):
        out["position"] = "centre"
    return out


# ---------------------------------------------------------------- batches

def to_tensor(images: list[Image.Image]) -> torch.Tensor:
    """[N,3,H,W] float32 in [-1, 1] from RGB images."""
    arr = np.stack([np.asarray(im.convert("RGB"), dtype=np.float32) for im in images])
    return torch.from_numpy(arr).permute(0, 3, 1, 2).div(127.5).sub(1.0).contiguous()


def make_batch(seed: int, count: int,
               image_size: int = 128) -> tuple[torch.Tensor, list[str], list[Scene]]:
    """`count` jittered random scenes: (images [N,3,H,W] in [-1,1], captions, scenes).

    Fully determined by `seed`.
    """
    rng = random.Random(seed)
    scenes, images, captions = [], [], []
    for _ in range(count):
        scene = random_scene(rng)
        images.append(render(scene, image_size, rng))
        captions.append(caption(scene, rng))
        scenes.append(scene)
    return to_tensor(images), captions, scenes
