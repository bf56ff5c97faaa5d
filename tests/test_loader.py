"""Checkpoint loading: original single files and diffusers folders against the modules
they were written from (tests/tiny_models.py maps diffusers -> original independently)."""
from __future__ import annotations

import pathlib
import socket

import pytest
import torch

from diffusion.checkpoint_io import read_state_dict
from diffusion.families import detect_family, detect_prediction_type, sdxl_size_ids
from diffusion.loader import CheckpointParts, load_checkpoint, load_vae
from diffusion.types import ModelFamily, PredictionType
from tests import tiny_models as tm

CPU = torch.device("cpu")
ATOL = 1e-5
FAMILIES = list(ModelFamily)


def _load(path, **kw) -> CheckpointParts:
    return load_checkpoint(path, device=CPU, dtype=torch.float32, **kw)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """family -> (diffusers parts, original-layout .safetensors path)."""
    root = tmp_path_factory.mktemp("ckpt")
    out = {}
    for family in FAMILIES:
        parts = tm.build_tiny_diffusers_parts(family, seed=3)
        out[family] = (parts, tm.write_original_checkpoint(parts, family, root / f"{family.value}.safetensors"))
    return out


@pytest.fixture(scope="module")
def loaded(tiny):
    return {family: _load(path) for family, (_, path) in tiny.items()}


def _unet_inputs(parts, seed=0):
    g = torch.Generator().manual_seed(seed)
    unet = parts["unet"]
    x = torch.randn(2, 4, 8, 8, generator=g)
    t = torch.tensor([7.0, 613.5])
    ctx = torch.randn(2, 77, unet.config.cross_attention_dim, generator=g)
    pooled = torch.randn(2, tm.G_PROJECTION_DIM, generator=g) if parts["family"] == ModelFamily.SDXL else None
    return x, t, ctx, pooled


def _reference_unet(parts, x, t, ctx, pooled):
    kwargs = {}
    if pooled is not None:
        ids = torch.tensor([[64.0, 64.0, 0.0, 0.0, 64.0, 64.0]]).repeat(x.shape[0], 1)
        kwargs["added_cond_kwargs"] = {"text_embeds": pooled, "time_ids": ids}
    with torch.no_grad():
        return parts["unet"](x, t, encoder_hidden_states=ctx, **kwargs).sample


def _assert_unet_parity(parts, model, seed=0):
    x, t, ctx, pooled = _unet_inputs(parts, seed)
    out = model.apply_model(x, t, ctx, pooled)
    assert out.dtype == torch.float32 and out.shape == x.shape
    torch.testing.assert_close(out, _reference_unet(parts, x, t, ctx, pooled), atol=ATOL, rtol=0)


def _token_ids(batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 49406, (batch, 77), generator=g)
    ids[:, 0] = 49406
    ids[0, 9:] = 49407  # EOS then EOS padding (CLIP-L style)
    ids[1, 30] = 49407
    ids[1, 31:] = 0  # zero padding (OpenCLIP style)
    return ids


def _assert_text_parity(reference, ours):
    ids = _token_ids()
    with torch.no_grad():
        ref = reference(input_ids=ids, output_hidden_states=True)
        got = ours(input_ids=ids, output_hidden_states=True)
    assert len(got.hidden_states) == len(ref.hidden_states) == reference.config.num_hidden_layers + 1
    for a, b in zip(got.hidden_states, ref.hidden_states):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)
    torch.testing.assert_close(got.last_hidden_state, ref.last_hidden_state, atol=ATOL, rtol=0)
    if hasattr(ref, "text_embeds"):
        torch.testing.assert_close(got.text_embeds, ref.text_embeds, atol=ATOL, rtol=0)


def _assert_vae_parity(parts_vae, vae):
    g = torch.Generator().manual_seed(5)
    image = torch.rand(2, 69, 74, 3, generator=g)  # cropped to 64x72, centred
    latent = vae.encode(image)
    assert latent.shape == (2, 4, 8, 9) and latent.dtype == torch.float32
    cropped = image[:, 2:66, 1:73, :].permute(0, 3, 1, 2) * 2 - 1
    with torch.no_grad():
        ref_latent = parts_vae.encode(cropped).latent_dist.mean
        ref_image = ((parts_vae.decode(ref_latent).sample + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1)
    torch.testing.assert_close(latent, ref_latent, atol=ATOL, rtol=0)
    decoded = vae.decode(latent)
    assert decoded.shape == (2, 64, 72, 3) and decoded.min() >= 0 and decoded.max() <= 1
    torch.testing.assert_close(decoded, ref_image, atol=ATOL, rtol=0)


# ----------------------------------------------------------------------------- single files


@pytest.mark.parametrize("family", FAMILIES)
def test_single_file_family_and_fields(tiny, loaded, family):
    cp = loaded[family]
    assert cp.family == family == detect_family(read_state_dict(tiny[family][1]))
    assert cp.model.family == family and cp.model.prediction_type == PredictionType.EPSILON
    assert cp.model.latent_scale == (0.13025 if family == ModelFamily.SDXL else 0.18215)
    assert cp.model.device == CPU and cp.model.dtype == torch.float32
    assert cp.vae.latent_channels == 4 and cp.vae.downscale == 8


def _plain(value):
    return list(value) if isinstance(value, (list, tuple)) else value


@pytest.mark.parametrize("family", FAMILIES)
def test_single_file_unet_parity(tiny, loaded, family):
    parts = tiny[family][0]
    _assert_unet_parity(parts, loaded[family].model)
    ref_cfg, cfg = parts["unet"].config, loaded[family].model.unet.config
    for key in ("block_out_channels", "down_block_types", "up_block_types", "layers_per_block",
                "cross_attention_dim", "attention_head_dim", "use_linear_projection", "addition_embed_type",
                "addition_time_embed_dim", "projection_class_embeddings_input_dim"):
        assert _plain(cfg[key]) == _plain(ref_cfg[key]), key


@pytest.mark.parametrize("family", FAMILIES)
def test_single_file_vae_parity(tiny, loaded, family):
    _assert_vae_parity(tiny[family][0]["vae"], loaded[family].vae)


EXPECTED_SPECS = {  # name, pad_with_end, default_layer, layer_norm_hidden_state, return_pooled
    ModelFamily.SD1: [("l", True, -1, True, False)],
    ModelFamily.SD2: [("h", False, -2, True, False)],
    ModelFamily.SDXL: [("l", True, -2, False, False), ("g", False, -2, False, True)],
}


@pytest.mark.parametrize("family", FAMILIES)
def test_single_file_text_encoder_parity(tiny, loaded, family):
    parts, encoders = tiny[family][0], loaded[family].clip.encoders
    got = [(e.name, e.pad_with_end, e.default_layer, e.layer_norm_hidden_state, e.return_pooled) for e in encoders]
    assert got == EXPECTED_SPECS[family]
    refs = [parts["text_encoder"]] + ([parts["text_encoder_2"]] if "text_encoder_2" in parts else [])
    for ref, spec in zip(refs, encoders):
        assert type(spec.model) is type(ref)
        assert spec.model.config.hidden_act == ref.config.hidden_act
        _assert_text_parity(ref, spec.model)


def test_alphas_cumprod_matches_diffusers(loaded):
    from diffusers import DDPMScheduler

    sched = DDPMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000)
    ac = loaded[ModelFamily.SD1].model.alphas_cumprod
    assert ac.dtype == torch.float32 and ac.device == CPU and ac.shape == (1000,)
    assert torch.equal(ac, sched.alphas_cumprod)


def test_v_prediction_flag_and_override(tmp_path, tiny):
    parts = tiny[ModelFamily.SD2][0]
    path = tm.write_original_checkpoint(parts, ModelFamily.SD2, tmp_path / "v.safetensors", v_pred=True)
    assert detect_prediction_type(read_state_dict(path)) == PredictionType.V_PREDICTION
    cp = _load(path)
    assert cp.model.prediction_type == PredictionType.V_PREDICTION and cp.family == ModelFamily.SD2
    assert _load(tiny[ModelFamily.SD2][1], prediction_type="v_prediction").model.prediction_type == PredictionType.V_PREDICTION
    assert _load(path, prediction_type=PredictionType.EPSILON).model.prediction_type == PredictionType.EPSILON


def test_ckpt_pickle_loads_through_weights_only(tmp_path, tiny):
    parts = tiny[ModelFamily.SD1][0]
    path = tm.write_original_checkpoint(parts, ModelFamily.SD1, tmp_path / "model.ckpt")
    cp = _load(path)
    assert cp.family == ModelFamily.SD1
    _assert_unet_parity(parts, cp.model, seed=1)


class _Evil:
    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(_Evil.marker),))


def test_pickle_with_code_is_refused(tmp_path):
    _Evil.marker = str(tmp_path / "pwned")
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"model.diffusion_model.x": torch.zeros(1)}, "payload": _Evil()}, path)
    with pytest.raises(ValueError, match="refused"):
        read_state_dict(path)
    assert not (tmp_path / "pwned").exists()


def test_unknown_and_unreadable_files(tmp_path):
    from safetensors.torch import save_file

    odd = tmp_path / "model.gguf"
    odd.write_bytes(b"GGUF")
    with pytest.raises(ValueError, match="unknown extension '.gguf'"):
        read_state_dict(odd)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="cannot read safetensors file broken.safetensors"):
        load_checkpoint(broken, device=CPU)
    with pytest.raises(ValueError, match="does not exist"):
        read_state_dict(tmp_path / "missing.safetensors")
    lora = tmp_path / "lora.safetensors"
    save_file({"lora_unet_down.alpha": torch.ones(1)}, str(lora))
    with pytest.raises(ValueError, match=r"no UNet weights.*lora_unet_down"):
        load_checkpoint(lora, device=CPU)


def _meta(*shape):
    return torch.empty(*shape, device="meta")


def test_family_detection_by_context_width():
    k = "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"
    assert detect_family({k: _meta(320, 768)}) == ModelFamily.SD1
    assert detect_family({k: _meta(320, 1024)}) == ModelFamily.SD2
    xl = {k: _meta(640, 2048), "model.diffusion_model.label_emb.0.0.weight": _meta(1280, 2816)}
    assert detect_family(xl) == ModelFamily.SDXL
    with pytest.raises(ValueError, match="context width 512"):
        detect_family({k: _meta(320, 512)})
    with pytest.raises(ValueError, match="inconsistent"):
        detect_family({k: _meta(320, 1024), "cond_stage_model.transformer.text_model.x": _meta(1)})
    refiner = {k: _meta(768, 1280), "model.diffusion_model.label_emb.0.0.weight": _meta(1280, 2560),
               "conditioner.embedders.0.model.positional_embedding": _meta(77, 1280)}
    assert detect_family(refiner) == ModelFamily.SDXL and sdxl_size_ids(refiner) == 5
    assert sdxl_size_ids(xl) == 6
    with pytest.raises(ValueError, match="expected ADM input 2560"):
        detect_family(dict(refiner, **{"model.diffusion_model.label_emb.0.0.weight": _meta(1280, 2816)}))


# ----------------------------------------------------------------------------- full-size shapes


@pytest.mark.parametrize("family", FAMILIES)
def test_full_size_layouts_convert_exactly(family):
    """Full-size modules built on the meta device, written in original layout: the shapes
    must give back the shipped configs and every weight must find its place."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from diffusion import convert, loader

    def cfg(part):
        return {k: v for k, v in convert.load_base_config(family, part).items() if not k.startswith("_")}

    def clip(part, cls):
        c = {k: v for k, v in cfg(part).items() if k not in ("architectures", "model_type")}
        return cls(CLIPTextConfig(**c))

    with torch.device("meta"):
        parts = {"family": family, "unet": UNet2DConditionModel.from_config(cfg("unet")),
                 "vae": AutoencoderKL.from_config(cfg("vae"))}
        parts["text_encoder"] = clip("text_encoder", CLIPTextModel)
        if family == ModelFamily.SDXL:
            parts["text_encoder_2"] = clip("text_encoder_2", CLIPTextModelWithProjection)
    g = torch.Generator().manual_seed(0)
    sd = tm.unet_to_original(parts["unet"])
    sd.update({"first_stage_model." + k: v for k, v in tm.vae_to_original(parts["vae"]).items()})
    if family == ModelFamily.SD1:
        sd.update(tm.clip_to_original(parts["text_encoder"], "cond_stage_model.transformer."))
    elif family == ModelFamily.SD2:
        sd.update(tm.open_clip_to_original(parts["text_encoder"], "cond_stage_model.model.", g))
    else:
        sd.update(tm.clip_to_original(parts["text_encoder"], "conditioner.embedders.0.transformer."))
        sd.update(tm.open_clip_to_original(parts["text_encoder_2"], "conditioner.embedders.1.model.", g))
    assert detect_family(sd) == family

    unet_cfg = convert.unet_config(sd, family, pooled_dim=1280 if family == ModelFamily.SDXL else None)
    for key, value in cfg("unet").items():
        assert unet_cfg[key] == value, key
    loader.instantiate(lambda: UNet2DConditionModel.from_config(unet_cfg),
                       convert.convert_unet(sd, unet_cfg), torch.float16, "UNet")
    vae = loader.vae_from_state_dict(convert.strip_prefix(sd, "first_stage_model."), family, torch.float16)
    assert list(vae.config.block_out_channels) == [128, 256, 512, 512]
    encoders = loader.build_text_encoders(sd, family, torch.device("meta"), torch.float16)
    layers = {ModelFamily.SD1: [12], ModelFamily.SD2: [24], ModelFamily.SDXL: [12, 32]}[family]
    assert [e.model.config.num_hidden_layers for e in encoders] == layers
    heads = {ModelFamily.SD1: [12], ModelFamily.SD2: [16], ModelFamily.SDXL: [12, 20]}[family]
    assert [e.model.config.num_attention_heads for e in encoders] == heads


# ----------------------------------------------------------------------------- diffusers folders, VAE files


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.mark.parametrize("family,pred", [(ModelFamily.SD2, PredictionType.V_PREDICTION),
                                          (ModelFamily.SDXL, PredictionType.EPSILON)])
def test_diffusers_folder_loads_offline(tmp_path, tiny, no_network, family, pred):
    parts = dict(tiny[family][0], prediction_type=pred)
    folder = tm.save_diffusers_folder(parts, tmp_path / "pipe")
    cp = _load(folder)
    assert cp.family == family and cp.model.prediction_type == pred
    _assert_unet_parity(parts, cp.model)
    _assert_vae_parity(parts["vae"], cp.vae)
    refs = [parts["text_encoder"]] + ([parts["text_encoder_2"]] if "text_encoder_2" in parts else [])
    assert [(e.name, e.default_layer) for e in cp.clip.encoders] == [(s[0], s[2]) for s in EXPECTED_SPECS[family]]
    for ref, spec in zip(refs, cp.clip.encoders):
        _assert_text_parity(ref, spec.model)
    # and a single file, with the network refused too
    assert _load(tiny[family][1]).family == family


def test_folder_without_model_index_is_refused(tmp_path):
    with pytest.raises(ValueError, match="model_index.json"):
        load_checkpoint(tmp_path, device=CPU)


def test_standalone_vae_files(tmp_path, tiny):
    from safetensors.torch import save_file

    ref = tiny[ModelFamily.SDXL][0]["vae"]
    original = {k: v.contiguous() for k, v in tm.vae_to_original(ref).items()}
    save_file(original, str(tmp_path / "vae_original.safetensors"))
    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(tmp_path / "vae_diffusers.safetensors"))
    torch.save({"state_dict": {"first_stage_model." + k: v for k, v in original.items()}}, tmp_path / "vae.pt")
    for name in ("vae_original.safetensors", "vae_diffusers.safetensors", "vae.pt"):
        _assert_vae_parity(ref, load_vae(tmp_path / name, device=CPU, dtype=torch.float32))
    ref.save_pretrained(str(tmp_path / "vae_folder"))
    _assert_vae_parity(ref, load_vae(tmp_path / "vae_folder", device=CPU, dtype=torch.float32))
    with pytest.raises(ValueError, match="not a VAE"):
        load_vae(_unet_only_file(tmp_path, tiny))


def _unet_only_file(tmp_path, tiny):
    from safetensors.torch import save_file

    sd = {k: v for k, v in read_state_dict(tiny[ModelFamily.SD1][1]).items() if k.startswith("model.")}
    save_file(sd, str(tmp_path / "unet_only.safetensors"))
    return tmp_path / "unet_only.safetensors"


def test_cross_check_with_diffusers_from_single_file(tmp_path, tiny, loaded, no_network):
    """diffusers' own single-file loader, given the folder config, agrees with ours."""
    from diffusers import AutoencoderKL, UNet2DConditionModel

    parts, path = tiny[ModelFamily.SD1]
    folder = tm.save_diffusers_folder(parts, tmp_path / "cfg")
    unet = UNet2DConditionModel.from_single_file(str(path), config=str(folder), subfolder="unet", local_files_only=True)
    vae = AutoencoderKL.from_single_file(str(path), config=str(folder), subfolder="vae", local_files_only=True)
    ours = loaded[ModelFamily.SD1]
    x, t, ctx, _ = _unet_inputs(parts)
    with torch.no_grad():
        theirs = unet(x, t, encoder_hidden_states=ctx).sample
        image = torch.rand(1, 3, 32, 32) * 2 - 1
        torch.testing.assert_close(vae.encode(image).latent_dist.mean, ours.vae.vae.encode(image).latent_dist.mean,
                                   atol=ATOL, rtol=0)
    torch.testing.assert_close(ours.model.apply_model(x, t, ctx), theirs, atol=ATOL, rtol=0)


def test_write_tiny_checkpoint_is_small_and_loads(tmp_path):
    path = tm.write_tiny_checkpoint(tmp_path)
    assert path.name == "tiny_sd1.safetensors" and path.stat().st_size < 15_000_000
    cp = _load(path)
    latent = torch.zeros(1, 4, 8, 8)
    out = cp.model.apply_model(latent, torch.tensor([500.0]), torch.zeros(1, 77, 32))
    assert out.shape == latent.shape and torch.isfinite(out).all()
    assert cp.vae.decode(latent).shape == (1, 64, 64, 3)


def test_default_device_env_override(monkeypatch):
    from diffusion.device import default_device, default_dtype

    monkeypatch.setenv("SD_STUDIO_DEVICE", "cpu")
    assert default_device() == CPU and default_dtype(CPU) == torch.float32
    monkeypatch.setenv("SD_STUDIO_DEVICE", "not-a-device")
    with pytest.raises(ValueError, match="SD_STUDIO_DEVICE"):
        default_device()


@pytest.mark.parametrize("family", FAMILIES)
def test_loaded_parts_work_together(loaded, family):
    """CLIP output feeds the UNet as is (context width, SDXL pooled width)."""
    cp = loaded[family]
    cond, pooled = cp.clip.encode_text("a red circle")
    assert (pooled is not None) == (family == ModelFamily.SDXL)
    latent = cp.vae.encode(torch.full((1, 64, 64, 3), 0.5)) * cp.model.latent_scale
    out = cp.model.apply_model(latent, torch.tensor([999.0]), cond, pooled)
    assert out.shape == latent.shape and torch.isfinite(out).all()


def test_apply_model_broadcasts_batch_one_inputs(loaded):
    model = loaded[ModelFamily.SDXL].model
    x = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(2))
    ctx = torch.randn(1, 77, 96, generator=torch.Generator().manual_seed(3))
    pooled = torch.zeros(1, tm.G_PROJECTION_DIM)
    out = model.apply_model(x, torch.tensor(250.0), ctx, pooled)
    torch.testing.assert_close(out, model.apply_model(x, torch.tensor([250.0, 250.0]), ctx.repeat(2, 1, 1), None))
    with pytest.raises(ValueError, match="context has batch 3"):
        model.apply_model(x, torch.tensor([1.0, 2.0]), ctx.repeat(3, 1, 1))


def test_sd1_text_encoder_saved_without_text_model_level(tmp_path, tiny):
    """Old SD1 files keep CLIP as cond_stage_model.transformer.embeddings.* (no text_model.)."""
    from safetensors.torch import save_file

    parts, path = tiny[ModelFamily.SD1]
    old = "cond_stage_model.transformer.text_model."
    sd = {k.replace(old, "cond_stage_model.transformer."): v for k, v in read_state_dict(path).items()}
    save_file(sd, str(tmp_path / "old.safetensors"))
    cp = _load(tmp_path / "old.safetensors")
    assert cp.family == ModelFamily.SD1
    _assert_text_parity(parts["text_encoder"], cp.clip.encoders[0].model)
