"""Face, hand and person detectors from the models inside the mediapipe 0.10.14 wheel
(its `solutions` graphs: BlazeFace short and full range, the palm detector with hand
landmarks, BlazePose with its person segmentation). Nothing is downloaded."""
from __future__ import annotations

import threading
import warnings
from typing import Any, Optional

import numpy as np

from .types import Detection, DetectorError

_LOWEST = 0.05  # mediapipe's own cut-off; the caller's threshold is applied afterwards
_MARGIN = 0.12  # landmarks hug the hand or body: grow their box by this share per side


def _solutions() -> Any:
    # mediapipe 0.10.14 calls a protobuf method that warns on every graph run; nothing to act on.
    warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype", category=UserWarning)
    try:
        from mediapipe.python import solutions
    except ImportError as error:
        raise DetectorError(f"mediapipe is not installed ({error}); the setup installs mediapipe 0.10.14") from error
    return solutions


def _rgb(picture: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(picture[..., :3], dtype=np.uint8)


def _box_of_points(xs: np.ndarray, ys: np.ndarray, width: int, height: int) -> tuple[float, float, float, float]:
    x1, x2, y1, y2 = xs.min() * width, xs.max() * width, ys.min() * height, ys.max() * height
    dx, dy = (x2 - x1) * _MARGIN, (y2 - y1) * _MARGIN
    return (max(0.0, x1 - dx), max(0.0, y1 - dy), min(float(width), x2 + dx), min(float(height), y2 + dy))


class MediapipeFaceDetector:
    """BlazeFace: `full` range finds small and distant faces, `short` is made for faces
    that fill much of the picture (within about two metres of a camera)."""

    def __init__(self, full_range: bool = True) -> None:
        self._graph = _solutions().face_detection.FaceDetection(
            model_selection=1 if full_range else 0, min_detection_confidence=_LOWEST)
        self._lock = threading.Lock()
        self.labels = ["face"]

    def detect(self, picture: np.ndarray, threshold: float) -> list[Detection]:
        height, width = picture.shape[:2]
        with self._lock:
            result = self._graph.process(_rgb(picture))
        found = []
        for detection in result.detections or []:
            score = float(detection.score[0])
            box = detection.location_data.relative_bounding_box
            if score < threshold:
                continue
            x1, y1 = max(0.0, box.xmin * width), max(0.0, box.ymin * height)
            x2, y2 = min(float(width), (box.xmin + box.width) * width), min(float(height), (box.ymin + box.height) * height)
            if x2 > x1 and y2 > y1:
                found.append(Detection((x1, y1, x2, y2), score, "face"))
        return found


class MediapipeHandDetector:
    """The palm detector and hand landmarks; a hand's box is its 21 landmarks' box, grown."""

    def __init__(self, max_hands: int = 8) -> None:
        self._graph = _solutions().hands.Hands(static_image_mode=True, max_num_hands=max_hands,
                                               min_detection_confidence=_LOWEST)
        self._lock = threading.Lock()
        self.labels = ["hand"]

    def detect(self, picture: np.ndarray, threshold: float) -> list[Detection]:
        height, width = picture.shape[:2]
        with self._lock:
            result = self._graph.process(_rgb(picture))
        found = []
        for landmarks, handedness in zip(result.multi_hand_landmarks or [], result.multi_handedness or []):
            score = float(handedness.classification[0].score)
            if score < threshold:
                continue
            xs = np.array([p.x for p in landmarks.landmark])
            ys = np.array([p.y for p in landmarks.landmark])
            found.append(Detection(_box_of_points(xs, ys, width, height), score, "hand"))
        return found


class MediapipePersonDetector:
    """BlazePose with its segmentation: one person per picture (the most prominent), with
    a mask of the whole body; confidence is the mean visibility of its better-seen half of
    landmarks (a half-length portrait is still a sure person)."""

    def __init__(self) -> None:
        self._graph = _solutions().pose.Pose(static_image_mode=True, enable_segmentation=True,
                                             min_detection_confidence=_LOWEST)
        self._lock = threading.Lock()
        self.labels = ["person"]

    def detect(self, picture: np.ndarray, threshold: float) -> list[Detection]:
        height, width = picture.shape[:2]
        with self._lock:
            result = self._graph.process(_rgb(picture))
        if result.pose_landmarks is None:
            return []
        points = result.pose_landmarks.landmark
        visibility = np.sort([p.visibility for p in points])[::-1]
        score = float(np.mean(visibility[: max(1, len(visibility) // 2)]))
        if score < threshold:
            return []
        mask = None if result.segmentation_mask is None else \
            (np.asarray(result.segmentation_mask, dtype=np.float32) > 0.5).astype(np.float32)
        if mask is not None and mask.any():
            ys, xs = np.nonzero(mask)
            box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
        else:
            seen = [p for p in points if p.visibility > 0.5] or list(points)
            box = _box_of_points(np.clip([p.x for p in seen], 0, 1), np.clip([p.y for p in seen], 0, 1), width, height)
            mask = None
        return [Detection(box, score, "person", mask)]


class MediapipeFaceMaskDetector:
    """Faces with their outline: BlazeFace (full range) finds each face, then the face-mesh
    model runs on that face alone, enlarged, so small faces get a mask too; the mask is the
    hull of the 468 mesh points (an ellipse in the box where the mesh finds nothing), and
    the points come with it (the face swap warps faces by them)."""

    _CONTEXT = 1.6  # the crop around a face given to the mesh model, as a multiple of its box
    _MESH_SIDE = 256  # crops smaller than this are enlarged to it

    def __init__(self) -> None:
        self._faces = MediapipeFaceDetector(full_range=True)
        self._mesh = _solutions().face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1,
                                                     min_detection_confidence=_LOWEST)
        self._lock = threading.Lock()
        self.labels = ["face"]

    def landmarks(self, picture: np.ndarray, box: tuple[float, float, float, float]) -> Optional[np.ndarray]:
        """The face mesh's 468 points (pixel x, y) for the face in `box`, or None where the
        mesh model finds no face there."""
        import cv2

        height, width = picture.shape[:2]
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        half = max(box[2] - box[0], box[3] - box[1]) * self._CONTEXT / 2
        x1, y1 = int(max(0, cx - half)), int(max(0, cy - half))
        x2, y2 = int(min(width, cx + half + 1)), int(min(height, cy + half + 1))
        crop = picture[y1:y2, x1:x2]
        scale = max(1.0, self._MESH_SIDE / max(1, min(crop.shape[:2])))
        enlarged = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC) if scale > 1 else crop
        with self._lock:
            result = self._mesh.process(_rgb(enlarged))
        if not result.multi_face_landmarks:
            return None
        return np.array([[x1 + p.x * enlarged.shape[1] / scale, y1 + p.y * enlarged.shape[0] / scale]
                         for p in result.multi_face_landmarks[0].landmark], np.float32)

    @staticmethod
    def _outline(shape: tuple[int, int], box: tuple[float, float, float, float],
                 points: Optional[np.ndarray]) -> np.ndarray:
        import cv2

        mask = np.zeros(shape, np.uint8)
        if points is not None:
            cv2.fillConvexPoly(mask, cv2.convexHull(points.round().astype(np.int32)), 1)
        if not mask.any():
            centre = (int(round((box[0] + box[2]) / 2)), int(round((box[1] + box[3]) / 2)))
            axes = (max(1, int((box[2] - box[0]) / 2)), max(1, int((box[3] - box[1]) / 2)))
            cv2.ellipse(mask, centre, axes, 0, 0, 360, 1, -1)
        return mask.astype(np.float32)

    def detect(self, picture: np.ndarray, threshold: float) -> list[Detection]:
        found = []
        for face in self._faces.detect(picture, threshold):
            points = self.landmarks(picture, face.box)
            mask = self._outline(picture.shape[:2], face.box, points)
            ys, xs = np.nonzero(mask)
            box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
            found.append(Detection(box, face.confidence, "face", mask, points))
        return found
