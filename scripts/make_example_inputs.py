"""Draws the pictures the shipped templates name, so they run before a user has images of
their own: `example.png` (a red square on white, 128x128, what the built-in model draws;
img2img recolours it, inpaint and outpaint paint into it) and `face.png` (a drawn face for
the face-swap template's source slot). Both are made here with Pillow, not taken from
anywhere. `python scripts/make_example_inputs.py` rewrites data/inputs/; the server copies
them into the input folder when it has no file of that name (server/example_inputs.py)."""
from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parent.parent / "data" / "inputs"
SIZE = 128


def example() -> Image.Image:
    image = Image.new("RGB", (SIZE, SIZE), (255, 255, 255))
    ImageDraw.Draw(image).rectangle((36, 36, 91, 91), fill=(220, 30, 30))
    return image


def face() -> Image.Image:
    image = Image.new("RGB", (SIZE, SIZE), (150, 180, 210))
    draw = ImageDraw.Draw(image)
    draw.ellipse((30, 14, 98, 112), fill=(232, 190, 160))  # head
    draw.pieslice((26, 6, 102, 70), 180, 360, fill=(90, 60, 40))  # hair
    for x in (46, 72):  # eyes
        draw.ellipse((x - 7, 52, x + 7, 60), fill=(255, 255, 255))
        draw.ellipse((x - 3, 53, x + 3, 59), fill=(60, 40, 30))
    draw.polygon([(64, 62), (58, 80), (68, 80)], fill=(210, 160, 130))  # nose
    draw.arc((48, 80, 80, 98), 20, 160, fill=(160, 60, 60), width=3)  # mouth
    return image


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, picture in (("example.png", example()), ("face.png", face())):
        picture.save(OUT / name, format="PNG", optimize=True)
        print(OUT / name, (OUT / name).stat().st_size, "bytes")


if __name__ == "__main__":
    main()
