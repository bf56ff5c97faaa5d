"""T2I-Adapters: their networks against diffusers' own (an independent implementation), the
places their features reach in the UNet (ComfyUI's: after an input block, skip included),
and a ComfyUI-shaped workflow that loads one with ControlNetLoader."""
from __future__ import annotations

import contextlib
import logging

import pytest
import torch
from diffusers import T2IAdapter as DiffusersAdapter
from diffusers import UNet2DConditionModel
from safetensors.torch import save_file

from diffusion.controlnet import load_controlnet
from diffusion.model import DiffusionModel
from diffusion.t2i_adapter import T2IAdapter, features_added, load_t2i_adapter
from diffusion.types import ModelFamily, PredictionType
from tests.tiny_models import _perturb, build_tiny_diffusers_parts, write_original_checkpoint

CPU = torch.device("cpu")
WIDTHS = [32, 64, 128, 128]


def _diffusers_adapter(kind: str, channels_in: int = 3, seed: int = 0) -> torch.nn.Module:
    widths = WIDTHS[:3] if kind == "light_adapter" else WIDTHS
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        adapter = DiffusersAdapter(in_channels=channels_in, channels=widths, num_res_blocks=4 if kind == "light_adapter"
                                   else 2, downscale_factor=16 if kind == "full_adapter_xl" else 8, adapter_type=kind)
    _perturb(adapter, torch.Generator().manual_seed(seed + 1), 0.05)
    return adapter.eval()


def _light_to_tencentarc(sd: dict) -> dict:
    """diffusers' light adapter keys -> TencentARC's (body.L.body.J...), written for the test."""
    return {k.removeprefix("adapter.").replace(".resnets.", ".body."): v for k, v in sd.items()}


def _write(tmp_path, name: str, sd: dict):
    path = tmp_path / name
    save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    return path


@pytest.mark.parametrize("kind,channels_in", [("full_adapter", 3), ("full_adapter", 1), ("full_adapter_xl", 3),
                                              ("light_adapter", 3)])
def test_adapter_networks_match_diffusers(tmp_path, kind, channels_in):
    reference = _diffusers_adapter(kind, channels_in)
    sd = reference.state_dict()
    if kind == "light_adapter":  # light adapters are shared in TencentARC's layout
        sd = _light_to_tencentarc(sd)
    adapter = load_controlnet(_write(tmp_path, f"{kind}.safetensors", sd), CPU, torch.float32)
    assert isinstance(adapter, T2IAdapter) and adapter.image_channels == channels_in
    assert adapter.unshuffle == (16 if kind == "full_adapter_xl" else 8)
    hint = torch.rand(2, 3, 128, 64, generator=torch.Generator().manual_seed(3))  # even at every level:
    # diffusers pools odd sizes differently (ceil mode) from the original (padding)
    with torch.no_grad():
        want = reference(hint.mean(1, keepdim=True) if channels_in == 1 else hint)
    got = adapter.features(hint)
    blocks = {"full_adapter": [2, 5, 8, 11], "light_adapter": [2, 5, 8, 11], "full_adapter_xl": [3, 5, 8]}[kind]
    assert [block for block, _ in got] == blocks
    for (_, feature), expected in zip(got, want):
        torch.testing.assert_close(feature, expected, rtol=1e-5, atol=1e-5)


def test_tencentarc_full_adapter_with_strided_convs_loads(tmp_path):
    """Adapters trained with strided-conv downsampling and 3x3 skips (the ksize and the
    down_opt.op weights tell them) build and run; odd sizes round up as the UNet's do."""
    from diffusion.t2i_adapter import FullAdapter

    module = FullAdapter(192, WIDTHS, 2, 3, True, False)
    _perturb(module, torch.Generator().manual_seed(0), 0.05)
    adapter = load_controlnet(_write(tmp_path, "conv.safetensors", module.state_dict()), CPU, torch.float32)
    assert adapter.module.body[2].down_opt.op is not None and adapter.module.body[0].block2.kernel_size == (3, 3)
    shapes = [tuple(f.shape[-2:]) for _, f in adapter.features(torch.rand(1, 3, 8 * 7, 8 * 5))]
    assert shapes == [(7, 5), (4, 3), (2, 2), (1, 1)]


# ----------------------------------------------------------------------------- in the UNet

SD_LIKE_UNET = dict(block_out_channels=tuple(WIDTHS), layers_per_block=2, cross_attention_dim=32,
                    down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                    up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3, attention_head_dim=8)


def _unet(seed: int = 0, **overrides) -> UNet2DConditionModel:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(sample_size=8, norm_num_groups=32, **{**SD_LIKE_UNET, **overrides})
    _perturb(unet, torch.Generator().manual_seed(seed + 1))
    return unet.eval()


def test_features_go_where_diffusers_puts_them_on_attention_levels():
    """On levels with attention both place the feature after the level's last block, before
    its downsampler: the same UNet output."""
    unet = _unet(down_block_types=("CrossAttnDownBlock2D",) * 4, up_block_types=("CrossAttnUpBlock2D",) * 4)
    adapter = _diffusers_adapter("full_adapter")
    hint = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    x, t, ctx = torch.randn(1, 4, 8, 8), torch.tensor([500.0]), torch.randn(1, 7, 32)
    with torch.no_grad():
        feats = adapter(hint)
        want = unet(x, t, ctx, down_intrablock_additional_residuals=[f * 0.8 for f in feats]).sample
        with features_added(unet, {block: f * 0.8 for block, f in zip([2, 5, 8, 11], feats)}):
            got = unet(x, t, ctx).sample
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_a_feature_after_a_plain_level_reaches_its_skip_too():
    """ComfyUI adds the feature to the hidden state the skip connection keeps (diffusers only
    to the one going on): input block 11 is the last level's second res block."""
    unet = _unet()
    seen = []
    hook = unet.down_blocks[3].register_forward_hook(lambda _m, _a, out: seen.append(out[1][1].clone()))
    x, t, ctx = torch.randn(1, 4, 8, 8), torch.tensor([300.0]), torch.randn(1, 7, 32)
    feature = torch.randn(1, 128, 1, 1)
    with torch.no_grad():
        unet(x, t, ctx)
        with features_added(unet, {11: feature}):
            unet(x, t, ctx)
    hook.remove()
    torch.testing.assert_close(seen[1] - seen[0], feature.expand_as(seen[0]), rtol=1e-5, atol=1e-5)


def test_a_feature_that_does_not_fit_is_skipped_with_a_warning(caplog):
    unet = _unet()
    x, t, ctx = torch.randn(1, 4, 8, 8), torch.tensor([300.0]), torch.randn(1, 7, 32)
    with torch.no_grad():
        plain = unet(x, t, ctx).sample
        with caplog.at_level(logging.WARNING), features_added(unet, {2: torch.ones(1, 5, 3, 3), 40: torch.ones(1)}):
            odd = unet(x, t, ctx).sample
    assert torch.equal(plain, odd)
    assert "does not fit UNet input block 2" in caplog.text and "no such block" in caplog.text


@contextlib.contextmanager
def _counting(module: torch.nn.Module):
    calls = []
    handle = module.register_forward_hook(lambda *_: calls.append(1))
    try:
        yield calls
    finally:
        handle.remove()


@pytest.fixture(scope="module")
def folders(make_folders):
    """A tiny SD1 checkpoint with the real UNet's layout (4 levels, 2 blocks each) and an
    adapter for it in models/controlnet."""
    app = make_folders({}, dirs=("controlnet", "checkpoints"), input=True)
    parts = build_tiny_diffusers_parts(ModelFamily.SD1)
    parts["unet"] = _unet()
    write_original_checkpoint(parts, ModelFamily.SD1, app.models / "checkpoints" / "sd1_full.safetensors")
    save_file(_diffusers_adapter("full_adapter").state_dict(), str(app.models / "controlnet" / "t2i_depth.safetensors"))
    return app


def _prompt(strength: float) -> dict:
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd1_full.safetensors"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": "a tower"}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": ""}},
        "4": {"class_type": "ControlNetLoader", "inputs": {"control_net_name": "t2i_depth.safetensors"}},
        "5": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0x808080}},
        "6": {"class_type": "ControlNetApplyAdvanced",
              "inputs": {"positive": ["2", 0], "negative": ["3", 0], "control_net": ["4", 0], "image": ["5", 0],
                         "strength": strength, "start_percent": 0.0, "end_percent": 1.0}},
        "7": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "8": {"class_type": "KSampler",
              "inputs": {"model": ["1", 0], "positive": ["6", 0], "negative": ["6", 1], "latent_image": ["7", 0],
                         "seed": 4, "steps": 3, "cfg": 5.0, "sampler_name": "euler", "scheduler": "normal",
                         "denoise": 1.0}},
        "9": {"class_type": "VAEDecode", "inputs": {"samples": ["8", 0], "vae": ["1", 2]}},
        "10": {"class_type": "PreviewImage", "inputs": {"images": ["9", 0]}},
    }


def _latent(executor, prompt: dict) -> torch.Tensor:
    from executor.cache import compute_keys

    result = executor.run(prompt)
    assert result.status == "success", result.error
    plan = executor.plans.get(prompt, executor.registry, executor.folders)
    keys = compute_keys(plan.workflow, plan.checked.order, plan.checked.values, executor.registry, executor.folders)
    return executor.cache.get(keys["8"]).outputs[0]["samples"]


def test_adapter_workflow_through_controlnet_nodes(folders, caplog):
    from executor.run import Executor

    executor = Executor(folders)
    adapter = load_controlnet(folders.models / "controlnet" / "t2i_depth.safetensors", CPU, torch.float32)
    assert isinstance(adapter, T2IAdapter)
    off = _latent(executor, _prompt(0.0))
    with caplog.at_level(logging.WARNING):
        on = _latent(executor, _prompt(1.0))
    assert "does not fit" not in caplog.text  # every feature found its block
    assert not torch.allclose(on, off)
    assert torch.isfinite(on).all()


def test_adapter_features_are_computed_once_per_sampling(folders):
    from diffusion.controlnet import ControlHint
    from diffusion.loader import load_checkpoint
    from diffusion.sampling import sample

    parts = load_checkpoint(folders.models / "checkpoints" / "sd1_full.safetensors", device=CPU, dtype=torch.float32)
    adapter = load_controlnet(folders.models / "controlnet" / "t2i_depth.safetensors", CPU, torch.float32)
    cond, _ = parts.clip.encode_text("a tower")
    link = ControlHint(adapter, torch.rand(1, 64, 64, 3), 0.7)
    positive = [[cond, {"control": link}]]
    negative = [[parts.clip.encode_text("")[0], {"control": link}]]
    with _counting(adapter.module) as calls:
        sample(parts.model, torch.zeros(1, 4, 8, 8), positive, negative, seed=1, steps=4, cfg=4.0,
               sampler_name="euler", scheduler="normal")
    assert len(calls) == 1


def test_sdxl_adapter_features_fit_an_sdxl_layout_unet(caplog):
    """The XL adapter's three used features land after level 0's downsampler and the last
    blocks of levels 1 and 2, where an SDXL UNet's widths and sizes are."""
    unet = _unet(block_out_channels=(32, 64, 128), down_block_types=("DownBlock2D",) + ("CrossAttnDownBlock2D",) * 2,
                 up_block_types=("CrossAttnUpBlock2D",) * 2 + ("UpBlock2D",), cross_attention_dim=32,
                 addition_embed_type="text_time", addition_time_embed_dim=8,
                 projection_class_embeddings_input_dim=16 + 6 * 8)
    model = DiffusionModel(unet, ModelFamily.SDXL, PredictionType.EPSILON, CPU, torch.float32)
    adapter = load_t2i_adapter(_diffusers_adapter("full_adapter_xl").state_dict(), CPU, torch.float32)
    feats = adapter.features(torch.rand(1, 3, 128, 128))
    x, t, ctx = torch.randn(1, 4, 16, 16), torch.tensor([400.0]), torch.randn(1, 7, 32)
    pooled = torch.randn(1, 16)
    with caplog.at_level(logging.WARNING):
        plain = model.apply_model(x, t, ctx, pooled)
        guided = model.apply_model(x, t, ctx, pooled, control=[(adapter, feats, 1.0)])
    assert "T2I-Adapter" not in caplog.text
    assert not torch.allclose(plain, guided)
