"""An interrupt is honoured within a second inside long work: UNet blocks, VAE blocks,
tiles, bands of a huge resize, and through the executor."""
from __future__ import annotations

import threading
import time

import pytest
import torch
import torch.nn.functional as F

from diffusion.interrupts import Interrupted, check_blocks, interruptible, raise_if_interrupted
from diffusion.model import DiffusionModel
from diffusion.tiling import tiled_map
from diffusion.types import ModelFamily, PredictionType
from diffusion.vae import VAE
from executor.run import Executor
from nodes import resize as resize_module
from nodes import resize_parts
from nodes.context import ExecutionInterrupted
from nodes.folders import Folders
from nodes.image_nodes import ImageScale
from nodes.registry import Node, NodeRegistry, register_node
from nodes.resize import IMAGE_UPSCALE_METHODS, resize
from nodes.spec import Int, NodeOutput, Output, Socket
from tests.tiny_models import build_tiny_diffusers_parts

SET_AFTER = 0.2  # seconds until the interrupt is set
HONOURED_WITHIN = 1.0


class Flag:
    """An interrupt flag set from another thread after `after` seconds."""

    def __init__(self, after: float = SET_AFTER, action=None) -> None:
        self.event = threading.Event()
        self.set_at: float | None = None
        self.timer = threading.Timer(after, self._set)
        self.action = action

    def _set(self) -> None:
        self.set_at = time.perf_counter()
        (self.action or self.event.set)()

    def __enter__(self) -> "Flag":
        self.timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self.timer.cancel()

    def waited(self) -> float:
        """Seconds from setting the flag until now."""
        assert self.set_at is not None, "the flag was never set"
        return time.perf_counter() - self.set_at


def slowed(module: torch.nn.Module, seconds: float, monkeypatch) -> None:
    """Make `module`'s forward sleep first (an artificially long block)."""
    forward = module.forward

    def slow(*args, **kwargs):
        time.sleep(seconds)
        return forward(*args, **kwargs)

    monkeypatch.setattr(module, "forward", slow)


@pytest.fixture(scope="module")
def parts():
    return build_tiny_diffusers_parts(ModelFamily.SD1)


@pytest.fixture
def model(parts):
    return DiffusionModel(parts["unet"], ModelFamily.SD1, PredictionType.EPSILON, torch.device("cpu"), torch.float32)


def unet_inputs():
    gen = torch.Generator().manual_seed(0)
    return torch.randn(1, 4, 8, 8, generator=gen), torch.tensor([500.0]), torch.randn(1, 77, 32, generator=gen)


# -- the check itself -----------------------------------------------------------------


def test_no_check_installed_does_nothing():
    raise_if_interrupted()
    with interruptible(lambda: False):
        raise_if_interrupted()
    with interruptible(lambda: True):
        with pytest.raises(Interrupted):
            raise_if_interrupted()
    raise_if_interrupted()  # the check is gone with its block


def test_execution_interrupted_is_an_interrupted():
    assert issubclass(ExecutionInterrupted, Interrupted)


def test_check_blocks_installs_once(parts):
    unet = parts["unet"]
    check_blocks(unet)
    before = sum(len(m._forward_pre_hooks) for m in unet.modules())
    check_blocks(unet)
    DiffusionModel(unet, ModelFamily.SD1, PredictionType.EPSILON, torch.device("cpu"), torch.float32)
    assert sum(len(m._forward_pre_hooks) for m in unet.modules()) == before
    assert before >= len(unet.down_blocks) + 1 + len(unet.up_blocks)
    check_blocks(None)  # a model without such blocks is left alone
    check_blocks(torch.nn.Linear(2, 2))


# -- (a) a UNet step, VAE blocks and tiles --------------------------------------------


def test_unet_forward_runs_normally_without_a_check(model, parts):
    x, t, ctx = unet_inputs()
    with torch.inference_mode():
        expected = parts["unet"](x, t, encoder_hidden_states=ctx, return_dict=False)[0]
    out = model.apply_model(x, t, ctx)
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    with interruptible(lambda: False):
        torch.testing.assert_close(model.apply_model(x, t, ctx), expected, rtol=0, atol=0)


def test_slow_unet_step_stops_between_blocks(model, parts, monkeypatch):
    unet = parts["unet"]
    for block in [*unet.down_blocks, unet.mid_block, *unet.up_blocks]:
        slowed(block, 0.3, monkeypatch)  # one step: about 2 s
    x, t, ctx = unet_inputs()
    with Flag() as flag, interruptible(flag.event.is_set):
        with pytest.raises(Interrupted):
            model.apply_model(x, t, ctx)
    assert flag.waited() < HONOURED_WITHIN


def test_vae_decode_stops_between_decoder_blocks(parts, monkeypatch):
    vae = VAE(parts["vae"], torch.device("cpu"), torch.float32)
    for block in vae.vae.decoder.up_blocks:
        slowed(block, 0.3, monkeypatch)
    with Flag() as flag, interruptible(flag.event.is_set):
        with pytest.raises(Interrupted):
            vae.decode(torch.zeros(1, 4, 8, 8))
    assert flag.waited() < HONOURED_WITHIN


def test_tiled_map_stops_between_tiles():
    def slow_tile(piece: torch.Tensor) -> torch.Tensor:
        time.sleep(0.3)
        return piece

    x = torch.zeros(1, 1, 64, 64)
    with Flag() as flag, interruptible(flag.event.is_set):
        with pytest.raises(Interrupted):
            tiled_map(x, slow_tile, 16, 4, 1)  # 25 tiles: about 7 s
    assert flag.waited() < HONOURED_WITHIN


# -- (b) a huge resize, in parts ------------------------------------------------------


@pytest.fixture
def small_parts(monkeypatch):
    """Thresholds lowered so moderate sizes go through the parts."""
    monkeypatch.setattr(resize_parts, "PARTS_ABOVE", 2_000)
    monkeypatch.setattr(resize_parts, "BANDS_ABOVE", 1_000)
    monkeypatch.setattr(resize_parts, "PART_PIXELS", 300)


SIZES = [(37, 53, 101, 77), (120, 90, 45, 61), (64, 64, 200, 30), (50, 200, 150, 20)]  # in h, w -> out h, w


@pytest.mark.parametrize("method", IMAGE_UPSCALE_METHODS)
@pytest.mark.parametrize("size", SIZES)
def test_banded_resize_matches_one_call(method, size, small_parts):
    in_h, in_w, out_h, out_w = size
    x = torch.rand(2, 3, in_h, in_w, generator=torch.Generator().manual_seed(1))
    assert resize_parts.needs_parts(x, out_w, out_h)
    expected = resize_module._resize_whole(x, out_w, out_h, method)
    torch.testing.assert_close(resize(x, out_w, out_h, method), expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("method", IMAGE_UPSCALE_METHODS)
def test_resize_by_planes_is_exact(method, monkeypatch):
    monkeypatch.setattr(resize_parts, "PARTS_ABOVE", 2_000)
    monkeypatch.setattr(resize_parts, "PART_PIXELS", 2 * 48 * 40)  # two planes a part
    x = torch.rand(3, 3, 40, 30, generator=torch.Generator().manual_seed(2))
    expected = resize_module._resize_whole(x, 36, 48, method)
    torch.testing.assert_close(resize(x, 36, 48, method), expected, rtol=0, atol=0)


def test_ordinary_resize_is_the_single_call():
    x = torch.rand(1, 3, 512, 512, generator=torch.Generator().manual_seed(3))
    assert not resize_parts.needs_parts(x, 1024, 1024)
    expected = F.interpolate(x, size=(1024, 1024), mode="bicubic", align_corners=False)
    torch.testing.assert_close(resize(x, 1024, 1024, "bicubic"), expected, rtol=0, atol=0)
    huge = torch.empty(1, 3, 12000, 12000)  # only its shape is read
    assert resize_parts.needs_parts(huge, 512, 512) and resize_parts.needs_parts(x, 12000, 12000)


def slow_whole(monkeypatch, seconds: float = 0.05) -> list[int]:
    """Each part of a resize sleeps first; returns the list the parts are counted in."""
    calls: list[int] = []
    whole = resize_module._resize_whole

    def slow(samples, width, height, method):
        calls.append(1)
        time.sleep(seconds)
        return whole(samples, width, height, method)

    monkeypatch.setattr(resize_module, "_resize_whole", slow)
    return calls


def test_banded_resize_stops_between_parts(small_parts, monkeypatch):
    calls = slow_whole(monkeypatch)
    x = torch.rand(1, 3, 100, 100)
    with Flag() as flag, interruptible(flag.event.is_set):
        with pytest.raises(Interrupted):
            resize(x, 400, 400, "bilinear")  # hundreds of parts: well over 10 s
    assert flag.waited() < HONOURED_WITHIN
    assert calls  # it was under way


# -- (c) through the executor ---------------------------------------------------------

LONG = NodeRegistry()


@register_node("LongDiffusionWork", category="test", registry=LONG)
class LongDiffusionWork(Node):
    """Diffusion-side work that checks only raise_if_interrupted (never the node context)."""

    a = Int(default=0, min=0, max=10)
    OUTPUTS = (Output("INT", "INT"),)

    def execute(self, ctx, a: int) -> tuple:
        for _ in range(200):  # 10 s unless interrupted
            raise_if_interrupted()
            time.sleep(0.05)
        return (a,)


@register_node("TestPixels", category="test", registry=LONG)
class TestPixels(Node):
    """A grey IMAGE of the given size."""

    size = Int(default=64, min=1, max=4096)
    OUTPUTS = (Output("IMAGE", "IMAGE"),)

    def execute(self, ctx, size: int) -> tuple:
        return (torch.full((1, size, size, 3), 0.5),)


@register_node("IntOut", category="test", output_node=True, registry=LONG)
class IntOut(Node):
    """An output node for an INT."""

    value = Socket("INT")
    OUTPUTS = ()

    def execute(self, ctx, value: int) -> NodeOutput:
        return NodeOutput((), {"value": [value]})


@register_node("ImageShape", category="test", output_node=True, registry=LONG)
class ImageShape(Node):
    """An output node showing an IMAGE's shape."""

    image = Socket("IMAGE")
    OUTPUTS = ()

    def execute(self, ctx, image: torch.Tensor) -> NodeOutput:
        return NodeOutput((), {"shape": list(image.shape)})


LONG.add(ImageScale)


def run_interrupted(executor: Executor, prompt: dict):
    with Flag(action=executor.interrupt) as flag:
        result = executor.run(prompt)
    return result, flag.waited()


def test_executor_interrupt_inside_long_diffusion_work(tmp_path):
    executor = Executor(Folders.under(tmp_path), registry=LONG)
    prompt = {"1": {"class_type": "LongDiffusionWork", "inputs": {"a": 1}},
              "2": {"class_type": "IntOut", "inputs": {"value": ["1", 0]}}}
    result, waited = run_interrupted(executor, prompt)
    assert result.status == "interrupted"
    assert result.error["node_id"] == "1"
    assert waited < HONOURED_WITHIN
    assert [k for k, _ in result.messages][-1] == "execution_interrupted"


def test_executor_interrupt_inside_a_huge_image_scale(tmp_path, small_parts, monkeypatch):
    slow_whole(monkeypatch)
    executor = Executor(Folders.under(tmp_path), registry=LONG)
    prompt = {"1": {"class_type": "TestPixels", "inputs": {"size": 100}},
              "2": {"class_type": "ImageScale", "inputs": {"image": ["1", 0], "upscale_method": "bicubic",
                                                           "width": 400, "height": 400, "crop": "disabled"}},
              "3": {"class_type": "ImageShape", "inputs": {"image": ["2", 0]}}}
    result, waited = run_interrupted(executor, prompt)
    assert result.status == "interrupted"
    assert result.error["node_id"] == "2"
    assert waited < HONOURED_WITHIN
    monkeypatch.undo()  # ordinary speed and thresholds again
    again = executor.run(prompt)  # the next run is not affected
    assert again.status == "success"
    assert again.outputs["3"] == {"shape": [1, 400, 400, 3]}
