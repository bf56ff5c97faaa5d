"""Picture-side arithmetic shared by both YOLO backends: the letterbox that fits a picture
into the network input, the decoding of raw predictions into boxes (threshold, class-wise
non-maximum suppression, back to picture pixels) and the segment masks."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

PAD_VALUE = 114  # the grey Ultralytics pads with; the models were trained on it
# Boxes of different classes are shifted this far apart so one NMS pass never lets a box
# of one class suppress a box of another.
CLASS_OFFSET = 8192.0
MAX_CANDIDATES = 30000


@dataclass(frozen=True)
class Fit:
    """Where the resized picture sits inside the network input."""

    picture_hw: tuple[int, int]
    input_hw: tuple[int, int]
    scaled_hw: tuple[int, int]
    left: int
    top: int

    def to_picture(self, boxes: np.ndarray) -> np.ndarray:
        """Input-pixel x1, y1, x2, y2 -> picture pixels, clipped to the picture."""
        h, w = self.picture_hw
        gain_y, gain_x = self.scaled_hw[0] / h, self.scaled_hw[1] / w
        out = boxes.astype(np.float64).copy()
        out[:, [0, 2]] = ((out[:, [0, 2]] - self.left) / gain_x).clip(0, w)
        out[:, [1, 3]] = ((out[:, [1, 3]] - self.top) / gain_y).clip(0, h)
        return out


def input_shape(picture_hw: tuple[int, int], size: int, stride: int, rect: bool) -> tuple[int, int]:
    """The network input for a picture: `size` x `size`, or with `rect` the smallest
    stride-multiple rectangle holding the picture scaled to fit `size`."""
    if not rect:
        return size, size
    h, w = picture_hw
    ratio = min(size / h, size / w)
    return (
        max(stride, math.ceil(round(h * ratio) / stride) * stride),
        max(stride, math.ceil(round(w * ratio) / stride) * stride),
    )


def letterbox(picture: np.ndarray, input_hw: tuple[int, int]) -> tuple[np.ndarray, Fit]:
    """The picture scaled to fit `input_hw` keeping its aspect, centred on grey padding,
    as a 1 x 3 x H x W float32 array in 0..1."""
    h, w = picture.shape[:2]
    in_h, in_w = input_hw
    ratio = min(in_h / h, in_w / w)
    new_h, new_w = max(1, min(in_h, round(h * ratio))), max(1, min(in_w, round(w * ratio)))
    if (new_h, new_w) != (h, w):
        picture = cv2.resize(picture, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    top = round((in_h - new_h) / 2 - 0.1)
    left = round((in_w - new_w) / 2 - 0.1)
    padded = cv2.copyMakeBorder(
        np.ascontiguousarray(picture), top, in_h - new_h - top, left, in_w - new_w - left,
        cv2.BORDER_CONSTANT, value=(PAD_VALUE, PAD_VALUE, PAD_VALUE),
    )
    batch = padded.transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    return np.ascontiguousarray(batch), Fit((h, w), (in_h, in_w), (new_h, new_w), left, top)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of the boxes kept by greedy non-maximum suppression, best score first."""
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1).clip(0) * (y2 - y1).clip(0)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        inter_w = (np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest])).clip(0)
        inter_h = (np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest])).clip(0)
        inter = inter_w * inter_h
        iou = inter / np.maximum(areas[best] + areas[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


@dataclass(frozen=True)
class Found:
    """Kept predictions in network-input pixels."""

    boxes: np.ndarray  # K x 4, x1 y1 x2 y2
    scores: np.ndarray  # K
    classes: np.ndarray  # K
    coeffs: Optional[np.ndarray]  # K x nm for segment models


def decode(pred: np.ndarray, nc: int, threshold: float, iou: float, max_det: int) -> Found:
    """One picture's `[4 + nc (+ nm), N]` prediction -> boxes over `threshold` surviving
    class-wise NMS, at most `max_det` of them."""
    scores_all = pred[4 : 4 + nc]
    classes = scores_all.argmax(0)
    scores = scores_all[classes, np.arange(pred.shape[1])]
    picked = np.nonzero(scores > threshold)[0]
    if picked.size > MAX_CANDIDATES:
        picked = picked[np.argsort(-scores[picked])[:MAX_CANDIDATES]]
    cx, cy, bw, bh = pred[:4, picked].astype(np.float64)
    boxes = np.stack((cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2), 1)
    scores, classes = scores[picked].astype(np.float64), classes[picked]
    kept = nms(boxes + classes[:, None] * CLASS_OFFSET, scores, iou)[:max_det]
    coeffs = pred[4 + nc :, picked].T[kept] if pred.shape[0] > 4 + nc else None
    return Found(boxes[kept], scores[kept], classes[kept], coeffs)


def masks(protos: np.ndarray, coeffs: np.ndarray, boxes: np.ndarray, fit: Fit) -> list[np.ndarray]:
    """Full-picture masks (float32 0/1) of each box: prototypes weighted by the box's
    coefficients, sigmoid, the letterbox padding cut off, resized to the picture,
    thresholded at 0.5 and cropped to the box (given in picture pixels)."""
    nm, mh, mw = protos.shape
    h, w = fit.picture_hw
    logits = (coeffs.astype(np.float32) @ protos.reshape(nm, -1).astype(np.float32)).reshape(-1, mh, mw)
    y_scale, x_scale = mh / fit.input_hw[0], mw / fit.input_hw[1]
    top, left = int(round(fit.top * y_scale)), int(round(fit.left * x_scale))
    bottom = max(top + 1, int(round((fit.top + fit.scaled_hw[0]) * y_scale)))
    right = max(left + 1, int(round((fit.left + fit.scaled_hw[1]) * x_scale)))
    rows, cols = np.arange(h)[:, None], np.arange(w)[None, :]
    out = []
    for logit, (x1, y1, x2, y2) in zip(logits, boxes):
        prob = 0.5 * (1.0 + np.tanh(0.5 * logit[top:bottom, left:right]))  # sigmoid, no overflow
        full = cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR)
        inside = (cols >= x1) & (cols < x2) & (rows >= y1) & (rows < y2)
        out.append(((full > 0.5) & inside).astype(np.float32))
    return out
