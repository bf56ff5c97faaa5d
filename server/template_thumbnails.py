"""A small picture of a UI graph (its nodes as boxes, its links as lines), the thumbnail
the template browser shows for a shipped workflow."""
from __future__ import annotations

import io

from PIL import Image, ImageDraw

SIZE = 512
MARGIN = 28
BACKGROUND, BOX, OUTLINE, TEXT, LINK = (24, 26, 32), (53, 57, 66), (92, 98, 112), (220, 224, 232), (112, 168, 230)


def graph_thumbnail(graph: dict) -> bytes:
    """WEBP bytes; the graph is scaled to fit, keeping its proportions."""
    nodes = [n for n in graph.get("nodes", []) if isinstance(n.get("pos"), list) and isinstance(n.get("size"), list)]
    image = Image.new("RGB", (SIZE, SIZE), BACKGROUND)
    draw = ImageDraw.Draw(image)
    if nodes:
        left = min(n["pos"][0] for n in nodes)
        top = min(n["pos"][1] for n in nodes)
        right = max(n["pos"][0] + n["size"][0] for n in nodes)
        bottom = max(n["pos"][1] + n["size"][1] for n in nodes)
        scale = (SIZE - 2 * MARGIN) / max(right - left, bottom - top, 1)
        offset_x = MARGIN + ((SIZE - 2 * MARGIN) - (right - left) * scale) / 2
        offset_y = MARGIN + ((SIZE - 2 * MARGIN) - (bottom - top) * scale) / 2

        def box(node: dict) -> tuple[float, float, float, float]:
            x, y = offset_x + (node["pos"][0] - left) * scale, offset_y + (node["pos"][1] - top) * scale
            return x, y, x + node["size"][0] * scale, y + node["size"][1] * scale

        boxes = {node["id"]: box(node) for node in nodes}
        for link in graph.get("links", []):
            if isinstance(link, list) and link[1] in boxes and link[3] in boxes:
                source, target = boxes[link[1]], boxes[link[3]]
                draw.line([(source[2], source[1] + 10), (target[0], target[1] + 10)], fill=LINK, width=3)
        for node in nodes:
            x0, y0, x1, y1 = boxes[node["id"]]
            draw.rounded_rectangle((x0, y0, x1, y1), radius=6, fill=BOX, outline=OUTLINE, width=2)
            label = str(node.get("title") or node.get("type", ""))
            width = max(int((x1 - x0) / 7), 3)
            draw.text((x0 + 6, y0 + 5), label if len(label) <= width else label[: width - 1] + "…", fill=TEXT)
    out = io.BytesIO()
    image.save(out, format="WEBP", quality=85)
    return out.getvalue()
