"""The built-in face swap: the source face's texture warped onto the target face's mesh
(Delaunay triangles over the 468 landmarks, an affine map per triangle), its colours
matched to the target's, cloned in (Poisson blending) and blended through a feathered
hull mask. It keeps the target's pose, shape and expression: plausible, not roop quality."""
from __future__ import annotations

from typing import Optional

import numpy as np

MIN_FACE_SIDE = 12  # pixels: smaller faces are left alone (too few pixels per triangle)


def hull_mask(shape: tuple[int, int], points: np.ndarray) -> np.ndarray:
    """1 inside the convex hull of `points`, 0 outside (uint8)."""
    import cv2

    mask = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(points).astype(np.int32)), 1)
    return mask


def source_coordinates(shape: tuple[int, int], target_points: np.ndarray, source_points: np.ndarray,
                       region: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each pixel of `region` (a mask over the target), where it comes from in the
    source: the pixel's barycentric coordinates in its Delaunay triangle of the target mesh,
    applied to the same triangle of the source mesh. Returns map_x, map_y (float32, -1
    outside) and the mask of pixels that fell in a triangle."""
    from scipy.spatial import Delaunay

    triangulation = Delaunay(target_points.astype(np.float64))
    ys, xs = np.nonzero(region)
    pixels = np.stack([xs, ys], axis=1).astype(np.float64)
    simplex = triangulation.find_simplex(pixels)
    inside = simplex >= 0
    pixels, simplex = pixels[inside], simplex[inside]
    transform = triangulation.transform[simplex]  # (n, 3, 2): inverse matrix and origin
    partial = np.einsum("nij,nj->ni", transform[:, :2], pixels - transform[:, 2])
    weights = np.concatenate([partial, 1 - partial.sum(axis=1, keepdims=True)], axis=1)
    corners = source_points.astype(np.float64)[triangulation.simplices[simplex]]  # (n, 3, 2)
    mapped = np.einsum("ni,nij->nj", weights, corners)
    map_x = np.full(shape, -1, np.float32)
    map_y = np.full(shape, -1, np.float32)
    covered = np.zeros(shape, np.uint8)
    map_x[ys[inside], xs[inside]] = mapped[:, 0]
    map_y[ys[inside], xs[inside]] = mapped[:, 1]
    covered[ys[inside], xs[inside]] = 1
    return map_x, map_y, covered


def match_colours(face: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`face`'s colours moved to `reference`'s mean and spread in Lab, measured inside `mask`
    (skin tone and lighting follow the target picture)."""
    import cv2

    if not mask.any():
        return face
    face_lab = cv2.cvtColor(face, cv2.COLOR_RGB2LAB).astype(np.float32)
    reference_lab = cv2.cvtColor(reference, cv2.COLOR_RGB2LAB).astype(np.float32)
    inside = mask > 0
    for channel in range(3):
        values, wanted = face_lab[..., channel][inside], reference_lab[..., channel][inside]
        spread = values.std()
        scale = wanted.std() / spread if spread > 1e-3 else 1.0
        face_lab[..., channel] = (face_lab[..., channel] - values.mean()) * scale + wanted.mean()
    return cv2.cvtColor(np.clip(face_lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def feathered(mask: np.ndarray, reach: int) -> np.ndarray:
    """A soft version of `mask` (float32 0..1) that stays inside it: eroded first by the
    blur's reach, so pixels outside the mask keep a weight of exactly 0."""
    import cv2

    reach = max(1, int(reach))
    kernel = np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)
    inner = cv2.erode(mask, kernel)
    soft = cv2.GaussianBlur(inner.astype(np.float32), (2 * reach + 1, 2 * reach + 1), reach / 2)
    return np.clip(soft, 0, 1) * (mask > 0)


def _clone(face: np.ndarray, picture: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Poisson-blend `face` into `picture` inside `mask`; where the mask touches the border
    (OpenCV's cloning needs a margin) the colour-matched face is used as it is."""
    import cv2

    ys, xs = np.nonzero(mask)
    height, width = mask.shape
    if len(xs) == 0 or xs.min() < 2 or ys.min() < 2 or xs.max() > width - 3 or ys.max() > height - 3:
        return face
    x1, x2, y1, y2 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    centre = (int((x1 + x2) // 2), int((y1 + y2) // 2))
    patch, patch_mask = face[y1:y2, x1:x2], (mask[y1:y2, x1:x2] * 255).astype(np.uint8)
    try:
        return cv2.seamlessClone(patch, picture, patch_mask, centre, cv2.NORMAL_CLONE)
    except cv2.error:
        return face


def swap_by_landmarks(picture: np.ndarray, target_points: np.ndarray, source_picture: np.ndarray,
                      source_points: np.ndarray) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """`picture` (RGB uint8) with the face at `target_points` replaced by the source face;
    also the blend mask used (None when the face was too small and nothing changed).
    Pixels outside the target's hull are returned unchanged."""
    import cv2

    target_points = np.asarray(target_points, np.float32)
    low, high = target_points.min(axis=0), target_points.max(axis=0)
    side = float(min(high - low))
    if side < MIN_FACE_SIDE:
        return picture, None
    shape = picture.shape[:2]
    hull = hull_mask(shape, target_points)
    map_x, map_y, covered = source_coordinates(shape, target_points, np.asarray(source_points, np.float32), hull)
    warped = cv2.remap(np.ascontiguousarray(source_picture[..., :3]), map_x, map_y, cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REFLECT)
    region = hull & covered
    warped = np.where(region[..., None] > 0, warped, picture)
    matched = match_colours(warped, picture, region)
    cloned = _clone(matched, picture, cv2.erode(region, np.ones((3, 3), np.uint8)))
    weight = feathered(region, round(side * 0.06))[..., None]
    blended = np.clip(cloned.astype(np.float32) * weight + picture.astype(np.float32) * (1 - weight) + 0.5, 0, 255)
    return np.where(weight > 0, blended.astype(np.uint8), picture), weight[..., 0]
