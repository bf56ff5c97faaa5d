"""Offline detectors on a real photograph (scikit-image's astronaut, shipped inside its
wheel), regions (SEGS) from detections and masks, and the region filters."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from detection.builtin import BUILTIN_DETECTORS, builtin_detector
from detection.region_detector import RegionDetector
from detection.region_filters import by_confidence, by_label, by_order, by_range
from detection.regions import crop_region, mask_to_regions, regions_from_detections, segs_to_mask
from detection.types import Detection

FACE = (175, 68, 272, 168)  # Eileen Collins' face in skimage.data.astronaut(), drawn by hand
FACE_DETECTORS = [name for name in BUILTIN_DETECTORS if name.startswith("face")]


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


def box_iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.mark.parametrize("name", FACE_DETECTORS)
def test_each_offline_face_detector_finds_the_astronauts_face(astronaut, name):
    found = builtin_detector(name).detect(astronaut, 0.5)
    best = max(found, key=lambda d: box_iou(d.box, FACE))
    assert box_iou(best.box, FACE) > 0.6, (name, [d.box for d in found])
    assert best.label == "face" and 0.5 <= best.confidence <= 1.0


def test_person_detector_gives_a_body_mask_around_the_face(astronaut):
    (person,) = builtin_detector("person (mediapipe pose, with mask)").detect(astronaut, 0.5)
    x1, y1, x2, y2 = person.box
    assert x1 <= FACE[0] and y1 <= FACE[1] and x2 >= FACE[2] and y2 >= FACE[3]
    assert person.mask.shape == astronaut.shape[:2]
    assert person.mask[FACE[1]:FACE[3], FACE[0]:FACE[2]].mean() > 0.8
    assert person.mask[:, 450:].mean() < 0.1  # the right edge is the background


def test_face_mesh_outlines_faces_even_when_they_are_small(astronaut):
    import cv2

    detector = builtin_detector("face (mediapipe face mesh, with mask)")
    for side in (512, 128):  # at 128 px the face is about 25 px wide
        picture = cv2.resize(astronaut, (side, side), interpolation=cv2.INTER_AREA)
        (face,) = detector.detect(picture, 0.5)
        scale = side / 512
        assert box_iou(face.box, [v * scale for v in FACE]) > 0.6
        x1, y1, x2, y2 = (int(v) for v in face.box)
        box_area = (x2 - x1) * (y2 - y1)
        assert 0.5 * box_area < face.mask.sum() < 0.95 * box_area  # an outline, not the box
        assert face.mask[:y1].sum() == 0 and face.mask[y2:].sum() == 0


@pytest.mark.parametrize("name", list(BUILTIN_DETECTORS))
def test_no_detector_invents_objects_on_a_flat_picture(name):
    flat = np.full((256, 256, 3), 128, np.uint8)
    assert builtin_detector(name).detect(flat, 0.3) == []


def test_hands_are_not_invented_on_the_portrait(astronaut):
    assert builtin_detector("hand (mediapipe)").detect(astronaut, 0.5) == []


def test_region_detector_builds_segs_with_the_face_inside_its_crop_region(astronaut):
    image = torch.from_numpy(astronaut.astype(np.float32) / 255)[None]
    detector = RegionDetector(builtin_detector("face (OpenCV Haar cascade)"), "haar", use_masks=False)
    (height, width), segs = detector.detect(image, 0.5, 10, 2.0, 10)
    assert (height, width) == (512, 512) and len(segs) == 1
    seg = segs[0]
    cx1, cy1, cx2, cy2 = seg.crop_region
    bx1, by1, bx2, by2 = seg.bbox
    assert cx1 <= bx1 and cy1 <= by1 and cx2 >= bx2 and cy2 >= by2
    assert seg.cropped_image.shape == (1, cy2 - cy1, cx2 - cx1, 3)
    assert seg.cropped_mask.shape == (cy2 - cy1, cx2 - cx1)
    # the mask is the box grown by the dilation, nothing else
    mask = segs_to_mask(((height, width), segs))
    assert mask[by1:by2, bx1:bx2].min() == 1.0
    assert mask.sum() <= (bx2 - bx1 + 10) * (by2 - by1 + 10)
    assert torch.equal(seg.cropped_image[0], image[0, cy1:cy2, cx1:cx2])


def test_crop_regions_at_the_border_move_inside_and_never_leave_the_picture():
    assert crop_region((0, 0, 10, 10), 100, 80, 3.0) == (0, 0, 30, 30)
    assert crop_region((95, 70, 100, 80), 100, 80, 3.0) == (85, 50, 100, 80)
    assert crop_region((10, 10, 90, 70), 100, 80, 3.0) == (0, 0, 100, 80)
    x1, y1, x2, y2 = crop_region((50, 40, 51, 41), 100, 80, 3.0)  # a 1-pixel object
    assert x2 - x1 >= 1 and y2 - y1 >= 1 and x1 <= 50 < x2 and y1 <= 40 < y2


def test_one_pixel_and_border_detections_make_valid_regions_or_are_dropped():
    found = [Detection((-5.0, -3.0, 12.0, 9.0), 0.9, "face"), Detection((40.0, 40.0, 41.0, 41.0), 0.8, "face")]
    size, segs = regions_from_detections(found, (64, 64), dilation=0, crop_factor=2.0, drop_size=1)
    assert [s.bbox for s in segs] == [(0, 0, 12, 9), (40, 40, 41, 41)]
    assert all(s.cropped_mask.any() for s in segs)
    _, kept = regions_from_detections(found, (64, 64), dilation=0, crop_factor=2.0, drop_size=2)
    assert [s.bbox for s in kept] == [(0, 0, 12, 9)]


def test_mask_to_regions_splits_connected_parts_and_drops_small_ones():
    mask = np.zeros((64, 64), np.float32)
    mask[5:15, 5:20] = 1.0      # part A
    mask[40:60, 30:50] = 1.0    # part B, with a hole
    mask[48:52, 38:42] = 0.0
    mask[30, 60] = 1.0          # one pixel
    size, segs = mask_to_regions(mask, drop_size=2)
    assert [s.bbox for s in segs] == [(5, 5, 20, 15), (30, 40, 50, 60)]
    assert segs_to_mask((size, segs)).sum() == mask.sum() - 1
    _, filled = mask_to_regions(mask, drop_size=2, contour_fill=True)
    assert segs_to_mask((size, filled))[48:52, 38:42].min() == 1.0
    _, one = mask_to_regions(mask, combined=True, drop_size=1)
    assert len(one) == 1 and one[0].bbox == (5, 5, 61, 60)
    _, boxes = mask_to_regions(mask, drop_size=2, bbox_fill=True)
    assert segs_to_mask((size, boxes))[48:52, 38:42].min() == 1.0
    assert mask_to_regions(np.zeros((8, 8), np.float32))[1] == []


def test_filters_keep_and_leave_regions_by_label_range_order_and_confidence():
    found = [Detection((0, 0, 10, 10), 0.9, "face"), Detection((20, 20, 50, 50), 0.6, "hand"),
             Detection((60, 0, 64, 4), 0.3, "face")]
    segs = regions_from_detections(found, (64, 64), crop_factor=1.0)
    kept, left = by_label(segs, "face")
    assert [s.label for s in kept[1]] == ["face", "face"] and [s.label for s in left[1]] == ["hand"]
    assert len(by_label(segs, "all")[0][1]) == 3
    kept, _ = by_range(segs, "area(=w*h)", True, 50, 1000)
    assert [s.bbox for s in kept[1]] == [(0, 0, 10, 10), (20, 20, 50, 50)]
    outside, _ = by_range(segs, "confidence(0-100)", False, 50, 100)
    assert [s.confidence for s in outside[1]] == [pytest.approx(0.3)]
    largest, rest = by_order(segs, "area(=w*h)", True, 0, 1)
    assert [s.bbox for s in largest[1]] == [(20, 20, 50, 50)] and len(rest[1]) == 2
    sure, unsure = by_confidence(segs, 0.5)
    assert len(sure[1]) == 2 and len(unsure[1]) == 1
