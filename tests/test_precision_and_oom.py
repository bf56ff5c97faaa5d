"""Precision flags reaching the loaders (bf16 and fp8-stored UNets give finite results on the
CPU), the VAE's NaN retry in float32, and out-of-memory recovery inside a node, with an
allocator faked to refuse big decodes."""
from __future__ import annotations

import argparse
import logging

import pytest
import torch

from diffusion import precision
from diffusion.loader import load_checkpoint
from diffusion.oom import OutOfMemory, retry_on_out_of_memory, small_footprint
from diffusion.precision import Precision
from diffusion.sampling import sample

CPU = torch.device("cpu")


@pytest.fixture
def flags(monkeypatch):
    """Apply memory/precision flags as `main.py serve` does; restored afterwards."""
    from cli.memory_flags import add_memory_flags, apply_memory_flags
    from diffusion.memory_manager import MANAGER, MemorySettings

    monkeypatch.setenv("SD_STUDIO_DEVICE", "cpu")
    parser = argparse.ArgumentParser()
    add_memory_flags(parser)
    yield lambda *argv: apply_memory_flags(parser.parse_args(list(argv)))
    from diffusion import speed

    precision.configure(Precision())
    speed.configure(speed.SpeedSettings(), CPU)
    MANAGER.configure(None, MemorySettings())


def _latent(parts, seed: int = 1) -> torch.Tensor:
    cond, pooled = parts.clip.encode_text("a blue square")
    positive, negative = [[cond, {"pooled_output": pooled}]], [[parts.clip.encode_text("")[0], {}]]
    return sample(parts.model, torch.zeros(1, 4, 8, 8), positive, negative, seed=seed, steps=3, cfg=4.0,
                  sampler_name="euler", scheduler="normal")


def test_precision_flags_parse(flags):
    from cli.memory_flags import add_memory_flags, precision_settings

    parser = argparse.ArgumentParser()
    add_memory_flags(parser)
    assert precision_settings(parser.parse_args(["--bf16-unet", "--fp16-vae", "--cpu-vae"])) == \
        Precision(unet=torch.bfloat16, vae=torch.float16, cpu_vae=True)
    assert precision_settings(parser.parse_args(["--force-fp16"])) == \
        Precision(torch.float16, torch.float16, torch.float16)
    assert precision_settings(parser.parse_args(["--force-fp32", "--fp8_e4m3fn-unet"])).unet == torch.float8_e4m3fn
    with pytest.raises(SystemExit):
        parser.parse_args(["--bf16-unet", "--fp16-unet"])
    from comfy_compat import install_surface

    install_surface()
    from comfy import cli_args

    flags("--bf16-vae")
    assert cli_args.args.bf16_vae is True and cli_args.args.fp16_vae is False


def test_bf16_unet_runs_on_the_cpu(folders, flags):
    path = folders.models / "checkpoints" / "sd1.safetensors"
    reference = _latent(load_checkpoint(path, device=CPU))
    flags("--bf16-unet", "--bf16-vae")
    parts = load_checkpoint(path, device=CPU)
    assert next(parts.model.unet.parameters()).dtype == torch.bfloat16 and parts.model.dtype == torch.bfloat16
    assert parts.vae.dtype == torch.bfloat16 and next(parts.clip.encoders[0].model.parameters()).dtype == torch.float32
    latent = _latent(parts)
    assert torch.isfinite(latent).all()
    assert torch.nn.functional.cosine_similarity(latent.flatten(), reference.flatten(), dim=0) > 0.95
    image = parts.vae.decode(latent)
    assert torch.isfinite(image).all()


def test_fp8_stored_unet_computes_upcast(folders, flags):
    path = folders.models / "checkpoints" / "sd1.safetensors"
    reference = _latent(load_checkpoint(path, device=CPU))
    flags("--fp8_e4m3fn-unet")
    parts = load_checkpoint(path, device=CPU)
    weights = [p for p in parts.model.unet.parameters() if p.ndim > 1]
    assert {p.dtype for p in weights} == {torch.float8_e4m3fn} and parts.model.dtype == torch.float32
    latent = _latent(parts)
    assert torch.isfinite(latent).all()
    assert torch.nn.functional.cosine_similarity(latent.flatten(), reference.flatten(), dim=0) > 0.9
    assert {p.dtype for p in weights} == {torch.float8_e4m3fn}  # stored as fp8 again after each layer


def test_half_precision_vae_nan_is_decoded_again_in_float32(parts, caplog):
    from diffusion.vae import VAE

    vae = VAE(parts.vae.vae, CPU, torch.float16)
    vae.vae.to(torch.float16)
    latent = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))

    def overflow(module, _args, output):  # what SDXL's VAE does in fp16
        return output.masked_fill(torch.ones_like(output, dtype=torch.bool), float("nan")) \
            if output.dtype == torch.float16 else output

    handle = vae.vae.decoder.conv_out.register_forward_hook(overflow)
    try:
        with caplog.at_level(logging.WARNING):
            image = vae.decode(latent)
    finally:
        handle.remove()
        vae.vae.to(torch.float32)
    assert torch.isfinite(image).all() and vae.dtype == torch.float32
    assert "decoding again in float32" in caplog.text
    torch.testing.assert_close(image, parts.vae.decode(latent))


# ----------------------------------------------------------------------------- out of memory


def _oom(size: str = "2.00 GiB") -> torch.OutOfMemoryError:
    return torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {size}. GPU 0 has a total capacity of 8 GiB")


def test_retry_runs_again_in_the_small_footprint_then_names_the_size():
    seen = []

    def flaky():
        seen.append(small_footprint())
        if len(seen) == 1:
            raise _oom()
        return "done"

    assert retry_on_out_of_memory(flaky, "VAEDecode (node 8)") == "done" and seen == [False, True]

    def always():
        raise _oom("3.50 GiB")

    with pytest.raises(OutOfMemory, match=r"VAEDecode \(node 8\) ran out of memory \(it asked for 3.50 GiB more\)"):
        retry_on_out_of_memory(always, "VAEDecode (node 8)")
    with pytest.raises(ValueError):  # other errors are not retried
        retry_on_out_of_memory(lambda: (_ for _ in ()).throw(ValueError("bad")), "x")
    assert not small_footprint()


@pytest.fixture
def tight_allocator(monkeypatch):
    """A fake allocator: an autoencoder decode over `limit` latent pixels raises CUDA's
    out-of-memory error (tiles stay under it)."""
    from diffusers import AutoencoderKL

    state = {"limit": 10 ** 9, "refused": 0}
    original = AutoencoderKL.decode

    def decode(self, z, *args, **kwargs):
        if z.shape[-1] * z.shape[-2] > state["limit"]:
            state["refused"] += 1
            raise _oom()
        return original(self, z, *args, **kwargs)

    monkeypatch.setattr(AutoencoderKL, "decode", decode)
    return state


def _decode_prompt(width: int) -> dict:
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd1.safetensors"}},
        "2": {"class_type": "EmptyLatentImage", "inputs": {"width": width, "height": 64, "batch_size": 1}},
        "3": {"class_type": "VAEDecode", "inputs": {"samples": ["2", 0], "vae": ["1", 2]}},
        "4": {"class_type": "PreviewImage", "inputs": {"images": ["3", 0]}},
    }


def test_out_of_memory_in_a_node_is_recovered_with_tiles(executor, tight_allocator):
    tight_allocator["limit"] = 8 * 70  # a 64 x 640 decode does not fit; its 512-pixel tiles do
    result = executor.run(_decode_prompt(640))
    assert result.status == "success", result.error
    assert tight_allocator["refused"] == 1


def test_out_of_memory_twice_fails_the_prompt_clearly_and_the_next_runs(executor, tight_allocator):
    tight_allocator["limit"] = 10  # not even a tile fits
    result = executor.run(_decode_prompt(128))
    assert result.status == "error"
    assert result.error["node_type"] == "VAEDecode" and result.error["node_id"] == "3"
    assert "ran out of memory (it asked for 2.00 GiB more)" in result.error["exception_message"]
    tight_allocator["limit"] = 10 ** 9
    assert executor.run(_decode_prompt(64)).status == "success"


def test_compile_flag_applies_to_cuda_models_only(flags, parts, monkeypatch):
    from diffusion import speed, torch_compile
    from diffusion.model import DiffusionModel
    from diffusion.torch_compile import TorchCompilePatch

    flags("--compile")
    assert speed.SPEED.compile
    unet, family, pred = parts.model.unet, parts.model.family, parts.model.prediction_type
    assert DiffusionModel(unet, family, pred, CPU, torch.float32).unet_patches == ()  # CPU results unchanged
    monkeypatch.setattr(torch_compile, "compile_unavailable", lambda backend, device: None)
    on_gpu = DiffusionModel(unet, family, pred, torch.device("cuda"), torch.float16)
    assert [type(p) for p in on_gpu.unet_patches] == [TorchCompilePatch]
    monkeypatch.setattr(torch_compile, "compile_unavailable", lambda backend, device: "no triton here")
    assert DiffusionModel(unet, family, pred, torch.device("cuda"), torch.float16).unet_patches == ()
