"""Aligning a face to a model's square input from its five keypoints, and pasting the
model's output back through a soft mask, so only the face region of the picture changes."""
from __future__ import annotations

import numpy as np

from .landmark_swap import feathered

# Where insightface's models expect the five keypoints in a 112 x 112 crop (ArcFace's
# template), and where face restorers (GFPGAN, GPEN, CodeFormer) expect them in 512 x 512.
ARCFACE_POINTS = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                           [41.5493, 92.3655], [70.7299, 92.2041]], np.float32)
FFHQ_POINTS = np.array([[192.98138, 239.94708], [318.90277, 240.1936], [256.63416, 314.01935],
                        [201.26117, 371.41043], [313.08905, 371.15118]], np.float32)


def arcface_template(size: int) -> np.ndarray:
    """The template for a size x size crop: 112-based sizes scale it, 128-based sizes
    (the swappers') scale it and move it right by 8/128 of the side."""
    if size % 112 == 0:
        return ARCFACE_POINTS * (size / 112)
    ratio = size / 128
    points = ARCFACE_POINTS * ratio
    points[:, 0] += 8 * ratio
    return points


def ffhq_template(size: int) -> np.ndarray:
    return FFHQ_POINTS * (size / 512)


def similarity(points: np.ndarray, template: np.ndarray) -> np.ndarray:
    """The 2 x 3 rotation-scale-translation that best maps `points` onto `template`."""
    from skimage.transform import SimilarityTransform

    transform = SimilarityTransform.from_estimate(np.asarray(points, np.float64), np.asarray(template, np.float64))
    if not transform:
        raise ValueError("the face's keypoints are degenerate (all in one place); it cannot be aligned")
    return np.asarray(transform.params[:2], np.float32)


def crop_face(picture: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    import cv2

    return cv2.warpAffine(picture, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=0.0)


def paste_face(picture: np.ndarray, face: np.ndarray, matrix: np.ndarray,
               crop_mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`face` (a crop made with `matrix`) put back into `picture` through a soft mask: the
    crop's area (or `crop_mask` in the crop) shrunk by a twentieth of its size on every
    side and feathered over another twentieth, as insightface pastes its swaps. Pixels
    outside it are left exactly as they were. Returns the picture and the mask used
    (float32 0..1 over the picture)."""
    import cv2

    height, width = picture.shape[:2]
    size = face.shape[0]
    inverse = cv2.invertAffineTransform(matrix)
    if crop_mask is None:
        crop_mask = np.zeros((size, size), np.float32)
        crop_mask[2:-2, 2:-2] = 1
    area = cv2.warpAffine(crop_mask.astype(np.float32), inverse, (width, height), flags=cv2.INTER_LINEAR)
    area = (area > 0.5).astype(np.uint8)
    ys, xs = np.nonzero(area)
    if len(xs) == 0:
        return picture, np.zeros((height, width), np.float32)
    side = float(np.sqrt((ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)))
    shrink = max(1, int(side // 20))
    inner = cv2.erode(area, np.ones((2 * shrink + 1, 2 * shrink + 1), np.uint8))
    weight = feathered(inner, max(2, int(side // 20)))
    back = cv2.warpAffine(face, inverse, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    mixed = back.astype(np.float32) * weight[..., None] + picture.astype(np.float32) * (1 - weight[..., None])
    result = np.where(weight[..., None] > 0, np.clip(mixed + 0.5, 0, 255).astype(np.uint8), picture)
    return result, weight


def hull_in_crop(points: np.ndarray, matrix: np.ndarray, size: int, grow: float = 0.08) -> np.ndarray:
    """The hull of a face's landmarks in a size x size crop made with `matrix`, grown by
    `grow` of the crop: restoring then changes the face, not its hair and background."""
    import cv2

    moved = np.asarray(points, np.float32) @ matrix[:, :2].T + matrix[:, 2]
    mask = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(moved).astype(np.int32)), 1)
    reach = max(1, int(size * grow))
    return cv2.dilate(mask, np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)).astype(np.float32)
