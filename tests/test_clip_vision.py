"""CLIP vision, unCLIP, style models and GLIGEN on tiny random-weight models."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import save_file

from diffusion.style_model import StyleAdapter
from diffusion.types import ModelFamily
from nodes.clip_vision_nodes import (
    CLIPVisionEncode,
    CLIPVisionLoader,
    GLIGENLoader,
    GLIGENTextBoxApply,
    StyleModelApply,
    StyleModelLoader,
    unCLIPCheckpointLoader,
    unCLIPConditioning,
)
from nodes.sampling import KSampler
from tests.tiny_models import _perturb, build_tiny_diffusers_parts, original_state_dict

VISION_HIDDEN, VISION_PROJ, VISION_LAYERS = 64, 24, 3


class _Ctx(SimpleNamespace):
    want_previews = False

    def check_interrupted(self) -> None:
        pass

    def report_progress(self, *_args) -> None:
        pass


def _tiny_vision(seed: int = 0):
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(seed)
    cfg = CLIPVisionConfig(hidden_size=VISION_HIDDEN, intermediate_size=128, num_hidden_layers=VISION_LAYERS,
                           num_attention_heads=1, image_size=28, patch_size=14, projection_dim=VISION_PROJ,
                           hidden_act="quick_gelu")
    model = CLIPVisionModelWithProjection(cfg)
    _perturb(model, torch.Generator().manual_seed(seed + 1))
    return model.eval()


def _to_open_clip(model, prefix: str) -> dict[str, torch.Tensor]:
    """transformers vision weights -> OpenCLIP visual keys (written here independently)."""
    sd, v = model.state_dict(), "vision_model."
    out = {"class_embedding": sd[v + "embeddings.class_embedding"],
           "conv1.weight": sd[v + "embeddings.patch_embedding.weight"],
           "positional_embedding": sd[v + "embeddings.position_embedding.weight"],
           "proj": sd["visual_projection.weight"].t()}
    for ours, theirs in (("ln_pre", "pre_layrnorm"), ("ln_post", "post_layernorm")):
        for w in ("weight", "bias"):
            out[f"{ours}.{w}"] = sd[f"{v}{theirs}.{w}"]
    for i in range(VISION_LAYERS):
        src, dst = f"{v}encoder.layers.{i}.", f"transformer.resblocks.{i}."
        for w in ("weight", "bias"):
            out[f"{dst}attn.in_proj_{w}"] = torch.cat([sd[f"{src}self_attn.{q}_proj.{w}"] for q in "qkv"])
            for a, b in (("ln_1", "layer_norm1"), ("ln_2", "layer_norm2"), ("attn.out_proj", "self_attn.out_proj"),
                         ("mlp.c_fc", "mlp.fc1"), ("mlp.c_proj", "mlp.fc2")):
                out[f"{dst}{a}.{w}"] = sd[f"{src}{b}.{w}"]
    return {prefix + k: t.contiguous() for k, t in out.items()}


@pytest.fixture(autouse=True, scope="module")
def _on_the_cpu():
    """Loaders pick the default device; the exact-equality checks need float32 weights."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SD_STUDIO_DEVICE", "cpu")
        yield


@pytest.fixture(scope="module")
def app(make_folders):
    folders = make_folders(dirs=["checkpoints", "clip_vision", "style_models", "gligen"])
    vision = _tiny_vision()
    save_file({k: t.contiguous() for k, t in vision.state_dict().items() if "position_ids" not in k},
              str(folders.models / "clip_vision" / "hf.safetensors"))
    save_file(_to_open_clip(vision, "visual."), str(folders.models / "clip_vision" / "openai.safetensors"))
    return SimpleNamespace(folders=folders, ctx=_Ctx(folders=folders), vision=vision)


def _images() -> torch.Tensor:
    gen = torch.Generator().manual_seed(3)
    return torch.rand(2, 40, 50, 3, generator=gen)


@pytest.mark.parametrize("name", ["hf.safetensors", "openai.safetensors"])
def test_clip_vision_loads_back_and_encodes(app, name):
    (vision,) = CLIPVisionLoader().execute(app.ctx, clip_name=name)
    reference = {k: t for k, t in app.vision.state_dict().items() if "position_ids" not in k}
    got = vision.get_sd()
    assert all(torch.equal(reference[k], got[k].float()) for k in reference)
    (out,) = CLIPVisionEncode().execute(app.ctx, clip_vision=vision, image=_images(), crop="center")
    tokens = (28 // 14) ** 2 + 1
    assert out.image_embeds.shape == (2, VISION_PROJ)
    assert out["last_hidden_state"].shape == (2, tokens, VISION_HIDDEN)
    assert out.penultimate_hidden_states.shape == (2, tokens, VISION_HIDDEN)
    from diffusion.clip_vision import preprocess

    pixels = preprocess(_images(), 28, vision.image_mean, vision.image_std, crop=True)
    with torch.no_grad():
        expected = app.vision(pixel_values=pixels, output_hidden_states=True)
    assert torch.allclose(out.image_embeds, expected.image_embeds, atol=1e-5)
    assert torch.allclose(out.penultimate_hidden_states, expected.hidden_states[-2], atol=1e-5)
    (squashed,) = CLIPVisionEncode().execute(app.ctx, clip_vision=vision, image=_images(), crop="none")
    assert not torch.allclose(squashed.image_embeds, out.image_embeds)


def test_preprocess_centre_crops_the_short_side():
    from diffusion.clip_vision import preprocess

    image = torch.zeros(1, 4, 8, 3)
    image[:, :, 2:6] = 1.0  # the centre square is white, the sides black
    pixels = preprocess(image, 4, [0.0, 0.0, 0.0], [1.0, 1.0, 1.0], crop=True)
    assert pixels.shape == (1, 3, 4, 4)
    assert torch.allclose(pixels, torch.ones_like(pixels))


def test_style_model_appends_its_tokens(app, tmp_path):
    torch.manual_seed(5)
    adapter = StyleAdapter(width=VISION_HIDDEN, context_dim=32, heads=8, layers=2, tokens=8)
    _perturb(adapter, torch.Generator().manual_seed(6), scale=0.5)
    save_file({k: t.contiguous() for k, t in adapter.state_dict().items()},
              str(app.folders.models / "style_models" / "style.safetensors"))
    (style,) = StyleModelLoader().execute(app.ctx, style_model_name="style.safetensors")
    (vision,) = CLIPVisionLoader().execute(app.ctx, clip_name="hf.safetensors")
    (seen,) = CLIPVisionEncode().execute(app.ctx, clip_vision=vision, image=_images(), crop="center")
    text = torch.randn(1, 77, 32)
    cond = [[text, {"pooled_output": None}]]
    apply = StyleModelApply()
    (full,) = apply.execute(app.ctx, cond, style, seen, strength=1.0, strength_type="multiply")
    (half,) = apply.execute(app.ctx, cond, style, seen, strength=0.5, strength_type="multiply")
    assert full[0][0].shape == (1, 77 + 2 * 8, 32)  # 8 tokens per image, both images
    assert torch.equal(full[0][0][:, :77], text)
    assert torch.allclose(half[0][0][:, 77:], full[0][0][:, 77:] * 0.5)
    assert "attention_mask" not in full[0][1]
    (biased,) = apply.execute(app.ctx, cond, style, seen, strength=0.5, strength_type="attn_bias")
    assert torch.allclose(biased[0][0], full[0][0])
    mask = biased[0][1]["attention_mask"]
    assert mask.shape == (1, 77 + 16 + 1, 77 + 16 + 1)
    assert torch.allclose(mask[0, :77, 77:93].float(), torch.full((77, 16), float(torch.log(torch.tensor(0.5)))),
                          atol=1e-3)
    assert float(mask[0, :77, :77].abs().sum()) == 0.0


# ----------------------------------------------------------------------------- unCLIP


def _unclip_checkpoint(path, vision) -> dict:
    from diffusers import UNet2DConditionModel

    parts = build_tiny_diffusers_parts(ModelFamily.SD2, seed=2)
    plain = parts["unet"]
    config = {k: v for k, v in plain.config.items() if not k.startswith("_")}
    config.update(class_embed_type="projection", projection_class_embeddings_input_dim=2 * VISION_PROJ)
    torch.manual_seed(4)
    unet = UNet2DConditionModel.from_config(config)
    own = unet.state_dict()
    own.update(plain.state_dict())
    unet.load_state_dict(own)
    _perturb(unet.class_embedding, torch.Generator().manual_seed(9), scale=0.5)
    sd = original_state_dict(parts, ModelFamily.SD2)
    for ours, theirs in (("linear_1", "0"), ("linear_2", "2")):
        for w in ("weight", "bias"):
            sd[f"model.diffusion_model.label_emb.0.{theirs}.{w}"] = unet.state_dict()[f"class_embedding.{ours}.{w}"]
    sd.update(_to_open_clip(vision, "embedder.model.visual."))
    save_file({k: t.contiguous() for k, t in sd.items()}, str(path))
    return unet.state_dict()


def _sample(ctx, model, positive, negative, seed=1):
    latent = {"samples": torch.zeros(1, 4, 8, 8)}
    (out,) = KSampler().execute(ctx, model, seed=seed, steps=3, cfg=3.0, sampler_name="euler",
                                scheduler="normal", positive=positive, negative=negative, latent_image=latent)
    return out["samples"]


def test_unclip_checkpoint_and_conditioning(app):
    reference = _unclip_checkpoint(app.folders.models / "checkpoints" / "unclip.safetensors", app.vision)
    model, clip, vae, vision = unCLIPCheckpointLoader().execute(app.ctx, ckpt_name="unclip.safetensors")
    got = model.unet.state_dict()
    assert all(torch.equal(reference[k], got[k].float()) for k in reference)
    assert torch.equal(vision.get_sd()["visual_projection.weight"].float(),
                       app.vision.state_dict()["visual_projection.weight"])
    cond, pooled = clip.encode_text("a cat")
    positive = [[cond, {"pooled_output": pooled}]]
    negative = [[clip.encode_text("")[0], {"pooled_output": None}]]
    (seen,) = CLIPVisionEncode().execute(app.ctx, clip_vision=vision, image=_images()[:1], crop="center")
    node = unCLIPConditioning()
    (unchanged,) = node.execute(app.ctx, positive, seen, strength=0.0, noise_augmentation=0.0)
    assert unchanged is positive
    (guided,) = node.execute(app.ctx, positive, seen, strength=1.0, noise_augmentation=0.0)
    (entry,) = guided[0][1]["unclip_conditioning"]
    assert entry["strength"] == 1.0 and entry["clip_vision_output"] is seen
    (noisy,) = node.execute(app.ctx, positive, seen, strength=1.0, noise_augmentation=0.9)
    (two,) = node.execute(app.ctx, guided, seen, strength=0.5, noise_augmentation=0.0)
    assert len(two[0][1]["unclip_conditioning"]) == 2
    base = _sample(app.ctx, model, positive, negative)
    with_image = _sample(app.ctx, model, guided, negative)
    assert torch.equal(_sample(app.ctx, model, guided, negative), with_image)  # seeded noise augmentation
    assert not torch.allclose(base, with_image)
    assert not torch.allclose(_sample(app.ctx, model, noisy, negative), with_image)
    assert torch.equal(_sample(app.ctx, model, unchanged, negative), base)


def test_noise_augmentation_maths():
    from diffusion.unclip import NoiseAugmentor, squared_cosine_alphas_cumprod

    alphas = squared_cosine_alphas_cumprod()
    assert alphas.shape == (1000,) and 0.99 < float(alphas[0]) <= 1.0 and float(alphas[-1]) < 1e-4
    augment = NoiseAugmentor(4)
    embeds = torch.tensor([[1.0, -2.0, 0.5, 3.0]])
    out = augment(embeds, 0, seed=1)
    noise = torch.randn(1, 4, generator=torch.Generator().manual_seed(1))
    expected = alphas[0].sqrt() * embeds + (1 - alphas[0]).sqrt() * noise
    assert torch.allclose(out[:, :4], expected)
    assert torch.allclose(out[:, 4:], torch.tensor([[1.0, 1.0, 0.0, 0.0]]))  # cos(0), cos(0), sin(0), sin(0)


# ----------------------------------------------------------------------------- GLIGEN


def _gligen_file(path, unet, context: int) -> None:
    """A GLIGEN in ComfyUI's layout for the tiny SD1 UNet (its 7 transformer blocks)."""
    from diffusers.models.attention import GatedSelfAttentionDense
    from diffusers.models.embeddings import GLIGENTextBoundingboxProjection

    from diffusion.gligen import transformer_blocks

    names = ["input_blocks.1.1", "input_blocks.3.1", "middle_block.1", "output_blocks.2.1", "output_blocks.3.1",
             "output_blocks.4.1", "output_blocks.5.1"]
    blocks = transformer_blocks(unet)
    assert len(blocks) == len(names)
    gen = torch.Generator().manual_seed(11)
    torch.manual_seed(12)
    net = GLIGENTextBoundingboxProjection(context, context)
    _perturb(net, gen, scale=0.2)
    sd = {f"position_net.{k}": t for k, t in net.state_dict().items()}
    for name, block in zip(names, blocks):
        dim = block.norm1.normalized_shape[0]
        fuser = GatedSelfAttentionDense(dim, context, 1, dim)
        _perturb(fuser, gen, scale=0.5)
        sd.update({f"{name}.transformer_blocks.0.fuser.{k}": t for k, t in fuser.state_dict().items()})
    save_file({k: t.contiguous() for k, t in sd.items()}, str(path))


def test_gligen_boxes_change_the_sample_only_while_applied(app, tmp_path):
    from diffusion.loader import load_checkpoint
    from tests.tiny_models import write_tiny_checkpoint

    ckpt = write_tiny_checkpoint(tmp_path, ModelFamily.SD1, seed=3)
    parts = load_checkpoint(ckpt, device=torch.device("cpu"), dtype=torch.float32)
    _gligen_file(app.folders.models / "gligen" / "boxes.safetensors", parts.model.unet, 32)
    (gligen,) = GLIGENLoader().execute(app.ctx, gligen_name="boxes.safetensors")
    cond, pooled = parts.clip.encode_text("a dog")
    positive = [[cond, {"pooled_output": pooled}]]
    negative = [[parts.clip.encode_text("")[0], {"pooled_output": None}]]
    box = GLIGENTextBoxApply()
    (placed,) = box.execute(app.ctx, positive, parts.clip, gligen, text="a ball", width=32, height=32, x=16, y=8)
    (kind, model, boxes), = [placed[0][1]["gligen"]]
    assert kind == "position" and model is gligen and len(boxes) == 1
    assert boxes[0][1:] == (4, 4, 1, 2) and boxes[0][0].shape == (1, 32)
    (two,) = box.execute(app.ctx, placed, parts.clip, gligen, text="a cat", width=16, height=16, x=0, y=0)
    assert len(two[0][1]["gligen"][2]) == 2 and "gligen" not in positive[0][1]
    base = _sample(app.ctx, parts.model, positive, negative)
    with_box = _sample(app.ctx, parts.model, placed, negative)
    assert not torch.allclose(base, with_box)
    assert not torch.allclose(_sample(app.ctx, parts.model, two, negative), with_box)
    assert torch.equal(_sample(app.ctx, parts.model, positive, negative), base)  # nothing left behind
    assert not hasattr(parts.model.unet, "position_net")


def test_sdxl_takes_image_embeddings_as_its_pooled_input():
    from diffusion.clip_vision import ClipVisionOutput
    from diffusion.model import DiffusionModel
    from diffusion.types import PredictionType
    from tests.tiny_models import G_PROJECTION_DIM

    parts = build_tiny_diffusers_parts(ModelFamily.SDXL, seed=4)
    model = DiffusionModel(parts["unet"], ModelFamily.SDXL, PredictionType.EPSILON, torch.device("cpu"), torch.float32)
    x = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    context = torch.randn(1, 77, parts["unet"].config.cross_attention_dim)
    pooled = torch.randn(1, G_PROJECTION_DIM)
    seen = ClipVisionOutput(image_embeds=torch.randn(1, G_PROJECTION_DIM) * 3)
    item = {"clip_vision_output": seen, "strength": 1.0, "noise_augmentation": 0.0}
    text_only = model.apply_model(x, torch.tensor([500.0]), context, pooled)
    with_image = model.apply_model(x, torch.tensor([500.0]), context, pooled, unclip=[item])
    assert not torch.allclose(text_only, with_image)
    assert torch.equal(model.apply_model(x, torch.tensor([500.0]), context, pooled, unclip=[item]), with_image)


def test_unclip_noise_follows_the_sampling_seed():
    """ComfyUI noises the image embeddings with the sampling's seed minus 10."""
    from diffusion.unclip import NoiseAugmentor, class_labels, sdxl_pooled, unclip_adm

    augmentor = NoiseAugmentor(24)
    model = SimpleNamespace(noise_augmentor=augmentor)
    embeds = torch.randn(1, 24, generator=torch.Generator().manual_seed(0))
    unclip = [{"clip_vision_output": SimpleNamespace(image_embeds=embeds), "strength": 1.0, "noise_augmentation": 0.3}]
    assert torch.equal(class_labels(model, unclip, 1, seed=7), unclip_adm(unclip, augmentor, seed=-3))
    assert not torch.equal(class_labels(model, unclip, 1, seed=7), class_labels(model, unclip, 1, seed=8))
    assert torch.equal(class_labels(model, unclip, 1), unclip_adm(unclip, augmentor, seed=-10))
    assert torch.equal(sdxl_pooled(unclip, 24, seed=20), unclip_adm(unclip, NoiseAugmentor(24), merge=0.0, seed=10)[:, :24])
