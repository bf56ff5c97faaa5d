"""YOLOv8 .pt / .onnx detectors without ultralytics (detection/yolo).

The test writes its own tiny Ultralytics-style checkpoints: stub classes carrying the module
paths, class names and attribute layout Ultralytics pickles, registered as fake
`ultralytics.*` modules only while the files are saved. The stubs have their own reference
forward, written independently of detection/yolo (per-level decoding, xyxy then centre
form), so the loaded network is checked against it.
"""
from __future__ import annotations

import contextlib
import copy
import os
import pickle
import sys
import types
import zipfile
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import torch
from torch import nn

from detection.types import DetectorError
from detection.yolo import YoloDetector, export_onnx, load_yolo
from detection.yolo import layers as our_layers
from detection.yolo.boxes import decode, letterbox, masks, nms
from detection.yolo.unpickle import allowed_global

SIZE = 160
WIDTHS = (4, 8, 16, 32, 64)  # P1..P5 channels: YOLOv8's topology at toy width

CONV, BLOCK, HEAD, TASKS = (
    "ultralytics.nn.modules.conv", "ultralytics.nn.modules.block",
    "ultralytics.nn.modules.head", "ultralytics.nn.tasks",
)


# ---- stubs with Ultralytics' paths and attributes, and a reference forward ----

class Conv(nn.Module):
    __module__ = CONV

    def __init__(self, c1, c2, k=1, s=1):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=0.001, momentum=0.03)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Concat(nn.Module):
    __module__ = CONV

    def __init__(self, d=1):
        super().__init__()
        self.d = d

    def forward(self, xs):
        return torch.cat(xs, self.d)


class Bottleneck(nn.Module):
    __module__ = BLOCK

    def __init__(self, c1, c2, shortcut):
        super().__init__()
        self.cv1, self.cv2 = Conv(c1, c2, 3), Conv(c2, c2, 3)
        self.add = shortcut and c1 == c2

    def forward(self, x):
        return x * self.add + self.cv2(self.cv1(x))


class C2f(nn.Module):
    __module__ = BLOCK

    def __init__(self, c1, c2, n=1, shortcut=False):
        super().__init__()
        self.c = c2 // 2
        self.cv1 = Conv(c1, 2 * self.c)
        self.cv2 = Conv((2 + n) * self.c, c2)
        self.m = nn.ModuleList(Bottleneck(self.c, self.c, shortcut) for _ in range(n))

    def forward(self, x):
        ys = list(self.cv1(x).split((self.c, self.c), 1))
        for block in self.m:
            ys.append(block(ys[-1]))
        return self.cv2(torch.cat(ys, 1))


class C3k2(C2f):  # a YOLO11 block the loader does not know
    __module__ = BLOCK


class SPPF(nn.Module):
    __module__ = BLOCK

    def __init__(self, c1, c2, k=5):
        super().__init__()
        self.cv1, self.cv2 = Conv(c1, c1 // 2), Conv(c1 // 2 * 4, c2)
        self.m = nn.MaxPool2d(k, 1, k // 2)

    def forward(self, x):
        ys = [self.cv1(x)]
        for _ in range(3):
            ys.append(self.m(ys[-1]))
        return self.cv2(torch.cat(ys, 1))


class DFL(nn.Module):
    __module__ = BLOCK

    def __init__(self, c1=16):
        super().__init__()
        self.conv = nn.Conv2d(c1, 1, 1, bias=False).requires_grad_(False)
        self.conv.weight.data[:] = torch.arange(c1, dtype=torch.float).view(1, c1, 1, 1)
        self.c1 = c1


class Proto(nn.Module):
    __module__ = BLOCK

    def __init__(self, c1, c_, c2):
        super().__init__()
        self.cv1 = Conv(c1, c_, 3)
        self.upsample = nn.ConvTranspose2d(c_, c_, 2, 2, 0, bias=True)
        self.cv2, self.cv3 = Conv(c_, c_, 3), Conv(c_, c2)

    def forward(self, x):
        return self.cv3(self.cv2(self.upsample(self.cv1(x))))


class Detect(nn.Module):
    __module__ = HEAD

    def __init__(self, nc, ch):
        super().__init__()
        self.nc, self.nl, self.reg_max = nc, len(ch), 16
        self.no = nc + 4 * self.reg_max
        self.stride = torch.tensor([8.0, 16.0, 32.0])
        self.dynamic, self.export, self.shape = False, False, None
        self.anchors, self.strides = torch.empty(0), torch.empty(0)
        c2, c3 = max(16, ch[0] // 4, 4 * self.reg_max), max(ch[0], min(nc, 100))
        self.cv2 = nn.ModuleList(nn.Sequential(Conv(x, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 64, 1)) for x in ch)
        self.cv3 = nn.ModuleList(nn.Sequential(Conv(x, c3, 3), Conv(c3, c3, 3), nn.Conv2d(c3, nc, 1)) for x in ch)
        self.dfl = DFL(self.reg_max)

    def forward(self, xs):
        columns = []
        for level, x in enumerate(xs):
            b, _, h, w = x.shape
            bins = self.cv2[level](x).view(b, 4, self.reg_max, h, w).softmax(2)
            left, top, right, bottom = (bins * torch.arange(self.reg_max).view(1, 1, -1, 1, 1)).sum(2).unbind(1)
            gx = torch.arange(w).view(1, 1, w) + 0.5
            gy = torch.arange(h).view(1, h, 1) + 0.5
            s = float(self.stride[level])
            x1, y1, x2, y2 = (gx - left) * s, (gy - top) * s, (gx + right) * s, (gy + bottom) * s
            xywh = torch.stack(((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1), 1)
            columns.append(torch.cat((xywh, self.cv3[level](x).sigmoid()), 1).flatten(2))
        return torch.cat(columns, 2)


class Segment(Detect):
    __module__ = HEAD

    def __init__(self, nc, ch, nm=32, npr=16):
        super().__init__(nc, ch)
        self.nm, self.npr = nm, npr
        self.proto = Proto(ch[0], npr, nm)
        c4 = max(ch[0] // 4, nm)
        self.cv4 = nn.ModuleList(nn.Sequential(Conv(x, c4, 3), Conv(c4, c4, 3), nn.Conv2d(c4, nm, 1)) for x in ch)

    def forward(self, xs):
        coeffs = torch.cat([self.cv4[i](x).flatten(2) for i, x in enumerate(xs)], 2)
        return torch.cat((Detect.forward(self, xs), coeffs), 1), self.proto(xs[0])


class DetectionModel(nn.Module):
    __module__ = TASKS

    def forward(self, x):
        kept = {}
        for layer in self.model:
            if layer.f != -1:
                x = kept[layer.f] if isinstance(layer.f, int) else [x if j == -1 else kept[j] for j in layer.f]
            x = layer(x)
            kept[layer.i] = x
        return x


class SegmentationModel(DetectionModel):
    __module__ = TASKS


class IterableSimpleNamespace(types.SimpleNamespace):
    __module__ = "ultralytics.utils"


STUBS = {CONV: [Conv, Concat], BLOCK: [Bottleneck, C2f, C3k2, SPPF, DFL, Proto], HEAD: [Detect, Segment],
         TASKS: [DetectionModel, SegmentationModel], "ultralytics.utils": [IterableSimpleNamespace]}


@contextlib.contextmanager
def fake_ultralytics():
    """The stub modules in sys.modules while checkpoints are written, and only then."""
    names = ["ultralytics", "ultralytics.nn", "ultralytics.nn.modules", *STUBS]
    assert not any(n in sys.modules for n in names)
    for name in names:
        sys.modules[name] = types.ModuleType(name)
        for cls in STUBS.get(name, []):
            setattr(sys.modules[name], cls.__name__, cls)
    try:
        yield
    finally:
        for name in names:
            sys.modules.pop(name, None)


def build_model(nc, names, segment=False, block=C2f):
    """YOLOv8 (backbone, PAN neck, head on P3-P5) at toy width, `f`/`i`/`type`/`np` set."""
    c1, c2, c3, c4, c5 = WIDTHS
    up = lambda: nn.Upsample(None, 2, "nearest")  # noqa: E731
    with torch.random.fork_rng():
        torch.manual_seed(3 + segment)
        spec = [
            (-1, Conv(3, c1, 3, 2)), (-1, Conv(c1, c2, 3, 2)), (-1, block(c2, c2, 1, True)),
            (-1, Conv(c2, c3, 3, 2)), (-1, C2f(c3, c3, 2, True)), (-1, Conv(c3, c4, 3, 2)),
            (-1, C2f(c4, c4, 2, True)), (-1, Conv(c4, c5, 3, 2)), (-1, C2f(c5, c5, 1, True)),
            (-1, SPPF(c5, c5)), (-1, up()), ([-1, 6], Concat()), (-1, C2f(c5 + c4, c4)),
            (-1, up()), ([-1, 4], Concat()), (-1, C2f(c4 + c3, c3)), (-1, Conv(c3, c3, 3, 2)),
            ([-1, 12], Concat()), (-1, C2f(c3 + c4, c4)), (-1, Conv(c4, c4, 3, 2)),
            ([-1, 9], Concat()), (-1, C2f(c4 + c5, c5)),
            ([15, 18, 21], (Segment if segment else Detect)(nc, (c3, c4, c5))),
        ]
        for i, (f, layer) in enumerate(spec):
            layer.i, layer.f, layer.type = i, f, f"{type(layer).__module__}.{type(layer).__name__}"
            layer.np = sum(p.numel() for p in layer.parameters())
            for bn in (m for m in layer.modules() if isinstance(m, nn.BatchNorm2d)):
                bn.weight.data.uniform_(0.8, 1.2)
                bn.bias.data.normal_(0, 0.1)
    model = (SegmentationModel if segment else DetectionModel)()
    model.model = nn.Sequential(*(layer for _, layer in spec))
    model.save = [4, 6, 9, 12, 15, 18, 21]
    model.names, model.stride, model.inplace = names, torch.tensor([8.0, 16.0, 32.0]), True
    model.yaml = {"nc": nc, "scales": {"n": [0.33, 0.25, 1024]}, "yaml_file": "yolov8n.yaml"}
    model.args = IterableSimpleNamespace(imgsz=SIZE, task="segment" if segment else "detect")
    return model.eval()


def picture(seed=0, h=120, w=160):
    rng = np.random.default_rng(seed)
    img = np.tile(np.linspace(40, 200, w, dtype=np.float32), (h, 1))[..., None].repeat(3, 2)
    img = np.ascontiguousarray(img.astype(np.uint8))
    for _ in range(6):
        x, y, r = int(rng.integers(0, w)), int(rng.integers(0, h)), int(rng.integers(5, 25))
        cv2.circle(img, (x, y), r, tuple(int(v) for v in rng.integers(0, 255, 3)), -1)
    return img


def calibrate(model, img):
    """Makes random weights behave like a trained model on `img`: batch-norm statistics
    from the picture (activations keep unit scale), box sides spread over the 16 bins and
    leaning short, class logits spread with about 3% of the anchors over 0.5, and mask
    logits changing sign across the picture so masks cover part of their boxes."""
    batch = torch.from_numpy(letterbox(img, (SIZE, SIZE))[0])
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # a cumulative average over one batch: exactly this picture's
    head, seen = model.model[-1], {}
    box, cls, coef = ([b[-1] for b in getattr(head, name, [])] for name in ("cv2", "cv3", "cv4"))
    watched = box + cls + coef + ([head.proto] if coef else [])
    hooks = [m.register_forward_hook(lambda m, i, o: seen.__setitem__(m, o)) for m in watched]
    with torch.no_grad():
        model.train()(batch)
        model.eval()(batch)
        for hook in hooks:
            hook.remove()
        for bn in norms:
            bn.momentum = 0.03

        def rescale(convs, spread):  # last convs' weights scaled so their outputs spread this much
            raw = torch.cat([(seen[c] - c.bias.view(1, -1, 1, 1)).flatten(2) for c in convs], 2)[0]
            gain = spread / float(raw.std())
            for conv in convs:
                conv.weight *= gain
            return raw * gain

        rescale(box, 3.0)
        for conv in box:  # favour short sides: boxes of a few cells, not the whole picture
            conv.bias.copy_(-0.6 * (torch.arange(conv.bias.numel()) % 16))
        shift = -float(torch.quantile(rescale(cls, 2.5).flatten(), 0.97))
        for conv in cls:
            conv.bias.fill_(shift)
        if coef:  # bias along the prototypes' main spatial pattern, made zero-mean
            rescale(coef, 0.1)
            protos = seen[head.proto].flatten(2)[0]  # nm x HW
            mean = protos.mean(1)
            v = torch.linalg.svd(protos - mean[:, None], full_matrices=False)[0][:, 0]
            v -= (v @ mean) / (mean @ mean) * mean
            for conv in coef:
                conv.bias.copy_(v * 3.0 / float((v @ protos).std()))


def save_checkpoint(path, model, **extra):
    model.model[-1].stride = model.model[-1].stride.half()
    torch.save({
        "date": datetime.now().isoformat(), "version": "8.0.196", "license": "AGPL-3.0", "docs": "x",
        "epoch": -1, "best_fitness": None, "model": model.half(), "ema": None, "updates": None,
        "optimizer": None, "train_args": {"imgsz": SIZE, "save_dir": Path("runs/detect/train")},
        "train_metrics": {"metrics/mAP50(B)": np.float64(0.5), "fitness": np.float64(0.4)},
        "train_results": {"epoch": [1, 2], "map": np.array([0.1, 0.2])}, **extra,
    }, path)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Toy-sized convolutions: one thread is fastest, far faster than two on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Checkpoints written with the stubs present; the stubs are gone before any loading."""
    root, img, refs = tmp_path_factory.mktemp("yolo"), picture(), {}
    with fake_ultralytics():
        for kind, nc, names, seg in (("det", 2, {0: "face", 1: "hand"}, False), ("seg", 1, {0: "person"}, True)):
            model = build_model(nc, names, seg)
            calibrate(model, img)
            save_checkpoint(root / f"{kind}.pt", model)
            refs[kind] = copy.deepcopy(model).float()
        save_checkpoint(root / "c3k2.pt", build_model(1, {0: "x"}, block=C3k2))
        torch.save({"epoch": 3, "model": None, "ema": None, "train_args": {}}, root / "nomodel.pt")
    assert "ultralytics" not in sys.modules
    return root, refs, img


def test_loader_recovers_weights_and_forward(files):
    root, refs, img = files
    for kind in ("det", "seg"):
        det = load_yolo(root / f"{kind}.pt")
        theirs = refs[kind].state_dict()
        ours = det.network.state_dict()
        assert set(ours) == set(theirs)
        assert all(torch.equal(ours[k].float(), theirs[k].float()) for k in theirs)
        assert det.size == (SIZE, SIZE) and det.segment == (kind == "seg")
        x = torch.from_numpy(letterbox(img, det.size)[0])
        with torch.no_grad():
            got, want = det.network(x), refs[kind](x)
        if kind == "seg":
            torch.testing.assert_close(got[1], want[1], rtol=1e-4, atol=1e-4)
            got, want = got[0], want[0]
        assert got.shape == (1, 4 + refs[kind].model[-1].nc + (32 if kind == "seg" else 0), 525)
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-3)


def test_box_decoding_by_hand(files):
    """Zero box logits: every side is the mean of 16 bins (7.5), so w = h = 15 x stride."""
    net = load_yolo(files[0] / "det.pt").network
    for branch in net.model[-1].cv2:
        branch[-1].weight.data.zero_(), branch[-1].bias.data.zero_()
    with torch.no_grad():
        out = net(torch.zeros(1, 3, 64, 96))[0]
    # P3 is 8 x 12 cells of stride 8: cell 13 is row 1, column 1
    assert out[:, 13][:4].tolist() == [12.0, 12.0, 120.0, 120.0]
    assert out[:, 96 + 24 + 5][:4].tolist() == [80.0, 48.0, 480.0, 480.0]  # P5: row 1, col 2 of 2 x 3
    assert out.shape == (6, 96 + 24 + 6)


def in_a_gap(det, img):
    """A threshold in the widest gap between the top confidences (at least 3 above it), so
    the tiny drifts between backends cannot move a detection across it; and its detections."""
    scores = sorted((d.confidence for d in det.detect(img, 0.05)), reverse=True)[:30]
    assert len(scores) >= 4
    cut = max((scores[i] - scores[i + 1], i) for i in range(2, len(scores) - 1))[1]
    threshold = (scores[cut] + scores[cut + 1]) / 2
    found = det.detect(img, threshold)
    assert len(found) == cut + 1
    return threshold, found


def assert_same(found, again, masks=False):
    assert len(again) == len(found)
    for d in found:
        match = min(again, key=lambda o: 1e3 * abs(o.confidence - d.confidence) + np.abs(np.subtract(o.box, d.box)).sum())
        assert match.label == d.label and abs(match.confidence - d.confidence) < 1e-3
        np.testing.assert_allclose(match.box, d.box, rtol=1e-3, atol=1.0)
        assert not masks or np.mean(match.mask != d.mask) < 0.002


def test_detect_and_onnx_agree(files, tmp_path):
    root, _, img = files
    det = load_yolo(root / "det.pt")
    assert det.labels == ["face", "hand"]
    threshold, found = in_a_gap(det, img)
    h, w = img.shape[:2]
    for d in found:
        x1, y1, x2, y2 = d.box
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
        assert d.label in ("face", "hand") and d.confidence > threshold and d.mask is None
    assert det.detect(img, 1.0) == [] and det.detect(np.zeros((9, 700, 3), np.uint8), 0.9) is not None
    rect = YoloDetector.from_network(det.network, rect=True)  # 128 x 160 input for this picture
    assert all(0 <= d.box[0] < d.box[2] <= w and 0 <= d.box[1] < d.box[3] <= h for d in rect.detect(img, 0.3))
    export_onnx(det, tmp_path / "det.onnx", size=SIZE)
    onnx_det = load_yolo(tmp_path / "det.onnx")
    assert onnx_det.labels == ["face", "hand"] and onnx_det.size == (SIZE, SIZE) and onnx_det.network is None
    assert_same(found, onnx_det.detect(img, threshold))
    bare = onnx.load(tmp_path / "det.onnx")
    del bare.metadata_props[:]
    onnx.save(bare, tmp_path / "bare.onnx")
    assert load_yolo(tmp_path / "bare.onnx").labels == ["0", "1"]  # no names metadata


def test_segment_masks_and_onnx(files, tmp_path):
    root, _, img = files
    det = load_yolo(root / "seg.pt")
    assert det.labels == ["person"]
    threshold, found = in_a_gap(det, img)
    h, w = img.shape[:2]
    for d in found:
        assert d.mask.shape == (h, w) and d.mask.dtype == np.float32
        assert set(np.unique(d.mask)) <= {0.0, 1.0}
        x1, y1, x2, y2 = d.box
        outside = d.mask.copy()
        outside[int(np.ceil(y1)) : int(np.ceil(y2)), int(np.ceil(x1)) : int(np.ceil(x2))] = 0
        assert outside.sum() == 0
    assert any(0 < d.mask.sum() < 0.9 * (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]) for d in found)
    assert det.detect(img, 1.0) == []
    export_onnx(det, tmp_path / "seg.onnx", size=SIZE)
    onnx_det = load_yolo(tmp_path / "seg.onnx")
    assert onnx_det.segment and onnx_det.labels == ["person"]
    assert_same(found, onnx_det.detect(img, threshold), masks=True)


def test_letterbox_and_mapping_back():
    img = picture(h=300, w=200)
    batch, fit = letterbox(img, (SIZE, SIZE))
    assert batch.shape == (1, 3, SIZE, SIZE) and fit.scaled_hw == (160, 107) and (fit.left, fit.top) == (26, 0)
    assert np.all(batch[0, :, :, :26] == np.float32(114 / 255)) and np.all(batch[0, :, :, 133:] == np.float32(114 / 255))
    box = np.array([[20.0, 30.0, 150.0, 280.0]])
    gain = 107 / 200, 160 / 300
    in_input = box * [gain[0], gain[1], gain[0], gain[1]] + [26, 0, 26, 0]
    np.testing.assert_allclose(fit.to_picture(in_input), box, atol=1e-9)
    np.testing.assert_allclose(fit.to_picture(np.array([[0.0, -5, 999, 170]])), [[0, 0, 200, 300]])
    wide = letterbox(picture(), (SIZE, SIZE))[1]
    assert (wide.left, wide.top, wide.scaled_hw) == (0, 20, (120, 160))
    np.testing.assert_allclose(wide.to_picture(np.array([[10.0, 30, 50, 70]])), [[10, 10, 50, 50]])


def test_nms_and_classwise_decode():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [5, 0, 15, 10], [20, 20, 30, 30]], float)
    # IoU with box 0: 0.82 (suppressed at 0.7), 0.33 (kept)
    assert nms(boxes, np.array([0.9, 0.8, 0.7, 0.6]), 0.7).tolist() == [0, 2, 3]
    assert nms(boxes, np.array([0.9, 0.8, 0.7, 0.6]), 0.85).tolist() == [0, 1, 2, 3]
    # centre form, two classes: the overlapping box of the other class survives
    pred = np.array([[5, 6, 25], [5, 5, 25], [10, 10, 10], [10, 10, 10],
                     [0.9, 0.1, 0.3], [0.1, 0.8, 0.1]], np.float32)
    found = decode(pred, 2, 0.25, 0.7, 300)
    assert found.classes.tolist() == [0, 1, 0] and found.coeffs is None
    np.testing.assert_allclose(found.boxes[0], [0, 0, 10, 10])
    assert decode(pred, 2, 0.85, 0.7, 300).classes.tolist() == [0]


def test_masks_from_prototypes():
    """Prototype 0 is on left of proto column 20, prototype 1 above proto row 20: the masks
    split the picture there once the letterbox padding (20 rows at the top) is removed."""
    fit = letterbox(picture(), (SIZE, SIZE))[1]  # 120 x 160 picture, top padding 20
    protos = np.full((2, 40, 40), -6.0, np.float32)
    protos[0, :, :20] = 6.0
    protos[1, :20, :] = 6.0
    left, top = masks(protos, np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[0, 0, 160, 120]] * 2, float), fit)
    assert left[:, :79].min() == 1 and left[:, 81:].max() == 0
    assert top[:59].min() == 1 and top[61:].max() == 0  # input row 80 is picture row 60
    cropped = masks(protos, np.array([[1.0, 0.0]]), np.array([[10.5, 20, 60, 50]]), fit)[0]
    assert cropped.sum() == 49 * 30 and cropped[20:50, 11:60].min() == 1  # columns 11..59


def test_allow_list_maps_by_class_name():
    assert allowed_global("ultralytics.nn.modules", "Conv") is our_layers.Conv
    assert allowed_global("ultralytics.nn.modules.conv", "Conv") is our_layers.Conv
    assert allowed_global("ultralytics.nn.modules.block", "C2f") is our_layers.C2f
    assert allowed_global("ultralytics.nn.modules.conv", "DWConv") is our_layers.Conv  # newer v8 heads
    assert allowed_global("torch.nn.modules.conv", "Conv2d") is nn.Conv2d
    for module, name in (("posix", "system"), ("builtins", "eval"), ("subprocess", "Popen"),
                         ("torch", "load"), ("ultralytics.nn.modules.block", "C3k2")):
        with pytest.raises(DetectorError, match=name):
            allowed_global(module, name)


def test_unusable_files(files, tmp_path):
    for name, message in (("c3k2.pt", "unknown YOLO layer C3k2"), ("nomodel.pt", "no YOLO model")):
        with pytest.raises(DetectorError, match=message):
            load_yolo(files[0] / name)
    data = (files[0] / "det.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    (tmp_path / "cut.onnx").write_bytes(b"\x08\x07garbage")
    (tmp_path / "model.bin").write_bytes(data)
    with zipfile.ZipFile(tmp_path / "script.pt", "w") as archive:  # torch.load would hand it to torch.jit
        archive.writestr("script/data.pkl", b"")
        archive.writestr("script/constants.pkl", b"")
    for name, message in (("cut.pt", "truncated"), ("cut.onnx", "onnxruntime"), ("script.pt", "TorchScript"),
                          ("model.bin", "not a YOLO model file"), ("missing.pt", "no model file")):
        with pytest.raises(DetectorError, match=message):
            load_yolo(tmp_path / name)


class _Shell:  # unpickled by plain pickle, it would run a shell command
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class _Exec(_Shell):
    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').close()",)


@pytest.mark.parametrize("payload,refused", [(_Shell, "system"), (_Exec, "builtins.exec")])
def test_malicious_pickle_runs_nothing(files, tmp_path, payload, refused):
    control, marker = tmp_path / "control", tmp_path / "pwned"
    pickle.loads(pickle.dumps(payload(control)))
    assert control.exists()  # the payload works where nothing stops it
    torch.save({"model": None, "train_args": payload(marker)}, tmp_path / "evil.pt")
    with pytest.raises(DetectorError, match=refused):
        load_yolo(tmp_path / "evil.pt")
    # the old non-zip torch format is refused before it is unpickled at all
    torch.save({"x": payload(marker)}, tmp_path / "old.pt", _use_new_zipfile_serialization=False)
    with pytest.raises(DetectorError, match="not a torch checkpoint zip"):
        load_yolo(tmp_path / "old.pt")
    assert not marker.exists()
