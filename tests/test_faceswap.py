"""The built-in landmark swap between two real photos, and the insightface-style path on
stand-in ONNX models with the real files' signatures: only the face region changes, the
swapped face looks more like the source, bad models and missing files are clear errors."""
from __future__ import annotations

import numpy as np
import pytest

from faceswap.alignment import arcface_template, similarity
from faceswap.faces import Face, parse_indexes, pick_faces, sort_faces, with_picture
from faceswap.finder import find_faces
from faceswap.inswapper import load_inswapper
from faceswap.landmark_swap import hull_mask, swap_by_landmarks
from faceswap.likeness import face_likeness
from nodes.folders import Folders
from tests.faceswap_support import (astronaut, grace_hopper, write_identity_swapper, write_recogniser, write_swapper,
                                    write_wrong_model)


@pytest.fixture(scope="module")
def photos():
    target, source = astronaut(), grace_hopper()
    (target_face,), (source_face,) = find_faces(target), find_faces(source)
    return target, target_face, source, source_face


def test_both_photos_have_one_face_with_a_full_mesh(photos):
    target, target_face, source, source_face = photos
    for face in (target_face, source_face):
        assert face.landmarks.shape == (468, 2) and face.kps.shape == (5, 2)
        left_eye, right_eye, nose, mouth_left, mouth_right = face.kps
        assert left_eye[0] < nose[0] < right_eye[0] and mouth_left[0] < mouth_right[0]
        assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])


def test_landmark_swap_changes_only_the_hull_and_brings_the_source_face(photos):
    target, target_face, source, source_face = photos
    swapped, mask = swap_by_landmarks(target, target_face.landmarks, source, source_face.landmarks)
    hull = hull_mask(target.shape[:2], target_face.landmarks).astype(bool)
    changed = (swapped != target).any(axis=-1)
    assert changed.sum() > 0.5 * hull.sum()
    assert not changed[~hull].any(), "pixels outside the target face's hull are unchanged"
    assert np.array_equal(swapped[~hull], target[~hull])
    assert mask.shape == target.shape[:2] and mask.max() <= 1 and not mask[~hull].any()
    # Likeness: the face warped into the source's mesh, correlated with the source face.
    (again,) = find_faces(swapped)
    before = face_likeness(target, target_face.landmarks, source, source_face.landmarks)
    after = face_likeness(swapped, again.landmarks, source, source_face.landmarks)
    assert after > before + 0.15, (before, after)
    # The target's geometry is kept: the re-found mesh lies where the old one was.
    assert np.abs(again.landmarks - target_face.landmarks).mean() < 0.03 * target_face.width


def test_likeness_of_a_face_with_itself_is_one(photos):
    target, target_face, _, _ = photos
    assert face_likeness(target, target_face.landmarks, target, target_face.landmarks) == pytest.approx(1.0)


def test_tiny_faces_are_left_alone(photos):
    target, target_face, source, source_face = photos
    tiny = target_face.landmarks * 0.02 + 10
    swapped, mask = swap_by_landmarks(target, tiny, source, source_face.landmarks)
    assert mask is None and swapped is target


def test_face_indexes_orders_and_genders():
    assert parse_indexes("0, 2", "input_faces_index") == [0, 2] and parse_indexes("", "x") == [0]
    with pytest.raises(ValueError, match="input_faces_index: 'a,1' is not a list"):
        parse_indexes("a,1", "input_faces_index")
    with pytest.raises(ValueError, match="start at 0"):
        parse_indexes("-1", "x")
    small = Face(bbox=np.array([0, 0, 10, 10]), gender=0)
    large = Face(bbox=np.array([50, 5, 90, 45]), gender=1)
    assert sort_faces([small, large], "large-small") == [large, small]
    assert sort_faces([large, small], "left-right") == [small, large]
    picked, notes = pick_faces([large, small], [0, 1, 4], "female", "target")
    assert picked == [(1, small)]
    assert notes == ["target face 0 is not female; skipped", "target face 4 asked for, but only 2 found"]


def test_five_keypoints_land_on_the_swappers_template(photos):
    target, target_face, _, _ = photos
    matrix = similarity(target_face.kps, arcface_template(128))
    moved = target_face.kps @ matrix[:, :2].T + matrix[:, 2]
    assert np.abs(moved - arcface_template(128)).max() < 6  # a similarity fits five real points closely
    assert arcface_template(128)[0, 0] == pytest.approx(38.2946 + 8)
    assert arcface_template(112)[0, 0] == pytest.approx(38.2946)


def test_inswapper_path_changes_only_the_face_region(tmp_path, photos):
    target, target_face, source, source_face = photos
    swapper = load_inswapper(write_swapper(tmp_path / "inswapper_128.onnx"))
    assert (swapper.target_input, swapper.source_input, swapper.side, swapper.emap.shape) == \
        ("target", "source", 128, (512, 512))
    from faceswap.insightface_models import Recogniser

    recogniser = Recogniser(write_recogniser(tmp_path / "w600k_r50.onnx"))
    source_face = Face(source_face, embedding=recogniser.embed(source, source_face))
    assert source_face.embedding.shape == (512,)
    swapped, mask = swapper.swap(target, target_face, source_face)
    changed = (swapped != target).any(axis=-1)
    x1, y1, x2, y2 = target_face.bbox
    grow = 0.6 * (x2 - x1)
    region = np.zeros_like(changed)
    region[int(max(0, y1 - grow)):int(y2 + grow), int(max(0, x1 - grow)):int(x2 + grow)] = True
    assert changed.sum() > 0.3 * (x2 - x1) * (y2 - y1)
    assert not changed[~region].any() and (mask[changed] > 0).all()
    # The stand-in model paints one colour per identity: the face's middle takes that colour.
    centre = swapped[int((y1 + y2) / 2), int((x1 + x2) / 2)].astype(int)
    other = Face(source_face, embedding=-source_face.embedding)
    centre_other = swapper.swap(target, target_face, other)[0][int((y1 + y2) / 2), int((x1 + x2) / 2)].astype(int)
    assert np.abs(centre - centre_other).sum() > 30


def test_a_model_of_another_shape_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError) as error:
        load_inswapper(write_wrong_model(tmp_path / "other.onnx"))
    message = str(error.value)
    assert "other.onnx" in message and "'target' [1, 3, 128, 128]" in message and "'source' [1, 512]" in message
    assert "x [1, 3, 64, 64]" in message
    with pytest.raises(ValueError, match="last initializer is \\[512, 256\\]"):
        load_inswapper(tmp_path / _with_wrong_emap(tmp_path))


def _with_wrong_emap(tmp_path) -> str:
    """A swapper whose last initializer is not square."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(write_swapper(tmp_path / "base.onnx")))
    model.graph.initializer.append(numpy_helper.from_array(np.zeros((512, 256), np.float32), "not_emap"))
    onnx.save(model, str(tmp_path / "wrong_emap.onnx"))
    return "wrong_emap.onnx"


def test_a_missing_recogniser_is_named(tmp_path, photos):
    from faceswap.swapper import SwapChoices, source_faces, swap_engine

    folders = Folders.under(tmp_path)
    write_swapper(folders.models / "insightface" / "inswapper_128.onnx")
    engine, notes = swap_engine(folders, "inswapper_128.onnx")
    assert engine.needs_identity and notes == []
    with pytest.raises(FileNotFoundError) as error:
        source_faces(folders, photos[2], engine, SwapChoices())
    assert str(folders.models / "insightface" / "models" / "buffalo_l" / "w600k_r50.onnx") in str(error.value)


def test_a_source_face_keeps_its_crop(photos):
    _, _, source, source_face = photos
    kept = with_picture(source_face, source)
    crop, points = kept.face_picture, kept.face_landmarks
    assert crop.dtype == np.uint8 and points.min() >= 0
    assert points[:, 0].max() < crop.shape[1] and points[:, 1].max() < crop.shape[0]


def test_alignment_and_paste_back_agree(tmp_path, photos):
    """A swapper that returns its input leaves the face as it was (to rounding of two warps)."""
    target, target_face, _, source_face = photos
    swapper = load_inswapper(write_identity_swapper(tmp_path / "identity.onnx"))
    source = Face(source_face, embedding=np.ones(512, np.float32))
    swapped, mask = swapper.swap(target, target_face, source)
    inside = mask > 0.5
    assert inside.sum() > 0.5 * target_face.width ** 2
    difference = np.abs(swapped.astype(int) - target)[inside]
    assert difference.mean() < 4 and np.median(difference) <= 3


def test_a_face_at_the_picture_border_swaps_without_leaving_it(photos):
    target, target_face, source, source_face = photos
    x1, y1, x2, y2 = target_face.bbox.astype(int)
    cut = np.ascontiguousarray(target[:, x1 + (x2 - x1) // 3:])  # the face's left third cut off
    (face,) = find_faces(cut)
    swapped, mask = swap_by_landmarks(cut, face.landmarks, source, source_face.landmarks)
    hull = hull_mask(cut.shape[:2], face.landmarks).astype(bool)
    changed = (swapped != cut).any(-1)
    assert changed.any() and not changed[~hull].any()


def test_a_face_model_without_a_picture_is_refused_by_the_built_in_swap(photos):
    from faceswap.swapper import LandmarkSwap

    target, target_face, _, _ = photos
    reactor_made = Face(bbox=target_face.bbox, kps=target_face.kps, embedding=np.ones(512, np.float32))
    with pytest.raises(ValueError, match="holds no picture of the face"):
        LandmarkSwap().swap(target, target_face, reactor_made)
