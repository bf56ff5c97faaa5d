"""CLIP tokenizer data, prompt weighting and the TextEncoder (CLIP socket value).

Everything runs offline on tiny random CLIP text models built on the spot.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

from diffusion.prompt_weights import parse_prompt_weights
from diffusion.text_encoder import (
    ClipEncoderSpec,
    TextEncoder,
    chunk_ids,
    chunk_words,
    tokenize_weighted,
)
from diffusion.tokenizer import BOS_TOKEN_ID, CLIP_TOKENIZER_DIR, EOS_TOKEN_ID, load_clip_tokenizer
from diffusion.types import ModelFamily

REPO = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")


def tiny_config(hidden: int = 32, layers: int = 2, projection: int = 16) -> CLIPTextConfig:
    return CLIPTextConfig(
        vocab_size=49408,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        max_position_embeddings=77,
        projection_dim=projection,
        bos_token_id=BOS_TOKEN_ID,
        eos_token_id=EOS_TOKEN_ID,
        hidden_act="quick_gelu",
    )


@pytest.fixture(scope="module")
def tok():
    return load_clip_tokenizer()


@pytest.fixture(scope="module")
def clip_l():
    torch.manual_seed(0)
    return CLIPTextModel(tiny_config(32, 2)).eval()


@pytest.fixture(scope="module")
def clip_g():
    torch.manual_seed(1)
    return CLIPTextModelWithProjection(tiny_config(48, 3, projection=24)).eval()


@pytest.fixture(scope="module")
def sd1(clip_l):
    spec = ClipEncoderSpec("l", clip_l, pad_with_end=True, default_layer=-1,
                           layer_norm_hidden_state=True, return_pooled=False)
    return TextEncoder(ModelFamily.SD1, [spec], CPU, torch.float32)


@pytest.fixture(scope="module")
def sdxl(clip_l, clip_g):
    l = ClipEncoderSpec("l", clip_l, pad_with_end=True, default_layer=-2,
                        layer_norm_hidden_state=False, return_pooled=False)
    g = ClipEncoderSpec("g", clip_g, pad_with_end=False, default_layer=-2,
                        layer_norm_hidden_state=False, return_pooled=True)
    return TextEncoder(ModelFamily.SDXL, [l, g], CPU, torch.float32)


def run(model, ids):
    with torch.inference_mode():
        return model(input_ids=torch.tensor([ids]), output_hidden_states=True)


# ---------------------------------------------------------------- tokenizer data


def test_known_token_ids(tok):
    assert tok("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert tok("hello world", add_special_tokens=False).input_ids == [3306, 1002]
    assert tok("Hello, World!", add_special_tokens=False).input_ids == [3306, 267, 1002, 256]
    assert (tok.bos_token_id, tok.eos_token_id, len(tok)) == (49406, 49407, 49408)
    assert load_clip_tokenizer() is tok  # cached


def test_decode_round_trip(tok):
    for text in ["a photo of a cat", "masterpiece , best quality , 1 girl", "café naïve"]:
        ids = tok(text).input_ids
        assert tok.decode(ids, skip_special_tokens=True) == text


def test_shipped_files_match_the_derivation():
    spec = importlib.util.spec_from_file_location("derive_clip_vocab", REPO / "scripts" / "derive_clip_vocab.py")
    derive = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(derive)
    vocab = json.loads((CLIP_TOKENIZER_DIR / "vocab.json").read_text(encoding="utf-8"))
    lines = (CLIP_TOKENIZER_DIR / "merges.txt").read_text(encoding="utf-8").strip().split("\n")
    assert lines[0] == "#version: 0.2" and len(lines) - 1 == derive.N_MERGES
    chars = list(derive.bytes_to_unicode().values())
    expected = chars + [c + "</w>" for c in chars] + ["".join(m.split()) for m in lines[1:]]
    expected += ["<|startoftext|>", "<|endoftext|>"]
    assert list(vocab) == expected and list(vocab.values()) == list(range(49408))
    assert (CLIP_TOKENIZER_DIR / "LICENSE").is_file()


# ---------------------------------------------------------------- prompt weights


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a red circle", [("a red circle", 1.0)]),
        ("a (red:1.5) circle", [("a ", 1.0), ("red", 1.5), (" circle", 1.0)]),
        ("(red)", [("red", 1.1)]),
        ("((red))", [("red", 1.1 * 1.1)]),
        ("(((red)))", [("red", 1.1 ** 3)]),
        ("((red:1.3) sky)", [("red", 1.3), (" sky", 1.1)]),  # explicit weight replaces
        ("(red:0.5)(blue:0.5)", [("red", 0.5), ("blue", 0.5)]),
        (r"\(literal\) (x)", [("(literal) ", 1.0), ("x", 1.1)]),
        (r"(a \(b\):1.2)", [("a (b)", 1.2)]),
        ("(a:b)", [("a:b", 1.1)]),  # not a number: plain emphasis
        ("(:1.2)", [(":1.2", 1.1)]),
        ("()", []),
        ("", []),
        ("embedding:foo, (cat:0.8)", [("embedding:foo, ", 1.0), ("cat", 0.8)]),
        # unbalanced: never raise, leftovers stay literal
        ("a) (b)", [("a) ", 1.0), ("b", 1.1)]),
        ("(a:1.2", [("(a:1.2", 1.0)]),
        ("x ((a) b", [("x ", 1.0), ("((a) b", 1.0)]),
        (")))", [(")))", 1.0)]),
    ],
)
def test_parse_prompt_weights(text, expected):
    got = parse_prompt_weights(text)
    assert [s for s, _ in got] == [s for s, _ in expected]
    assert [w for _, w in got] == pytest.approx([w for _, w in expected])


def test_weighted_tokens_carry_segment_weights():
    words = tokenize_weighted("a (red:1.5) circle")
    assert words == [[(320, 1.0)], [(736, 1.5)], [(7117, 1.0)]]
    # tokens never cross whitespace, so word-by-word equals whole-segment tokenization
    text = "a Cyberpunk, neon-lit   street\nat 3am"
    flat = [t for w in tokenize_weighted(text) for t, _ in w]
    assert flat == load_clip_tokenizer()(text, add_special_tokens=False).input_ids


# ---------------------------------------------------------------- chunking


def test_chunking_long_prompt_keeps_words_whole(sd1):
    text = " ".join(f"word{i}" for i in range(200))
    words = tokenize_weighted(text)
    chunks = sd1.tokenize_chunks(text)
    assert len(chunks) >= 3 and all(len(c) <= 75 for c in chunks)
    assert [t for c in chunks for t, _ in c] == [t for w in words for t, _ in w]
    # every chunk starts at a word boundary
    starts, n = set(), 0
    for w in words:
        starts.add(n)
        n += len(w)
    pos = 0
    for c in chunks:
        assert pos in starts
        pos += len(c)
    cond, pooled = sd1.encode_text(text)
    assert cond.shape == (1, 77 * len(chunks), 32) and pooled is None
    for c in chunks:
        ids, weights = chunk_ids(c, pad_with_end=True)
        assert len(ids) == 77 and ids[0] == BOS_TOKEN_ID and ids[len(c) + 1] == EOS_TOKEN_ID
        assert set(ids[len(c) + 1:]) == {EOS_TOKEN_ID} and weights == [1.0] * 77


def test_chunking_rules():
    big = [[(1, 1.0)] * 10]  # a word of 10 tokens may be split
    assert [len(c) for c in chunk_words([[(5, 1.0)]] * 70 + big)] == [75, 5]
    small = [[(2, 1.0)] * 7]  # a word of 7 tokens moves whole to the next chunk
    assert [len(c) for c in chunk_words([[(5, 1.0)]] * 70 + small)] == [70, 7]
    assert chunk_words([]) == [[]]
    assert [len(c) for c in chunk_words([[(3, 1.0)] * 200])] == [75, 75, 50]


def test_padding_token_per_encoder():
    ids, _ = chunk_ids([(320, 1.0)], pad_with_end=False)
    assert ids[:3] == [BOS_TOKEN_ID, 320, EOS_TOKEN_ID] and set(ids[3:]) == {0}


def test_empty_prompt_is_one_chunk(sd1, clip_l):
    cond, _ = sd1.encode_text("")
    ref = run(clip_l, [BOS_TOKEN_ID] + [EOS_TOKEN_ID] * 76).last_hidden_state
    assert torch.equal(cond, ref)


# ---------------------------------------------------------------- weights


def test_unit_weights_are_bit_identical(sd1):
    plain, _ = sd1.encode_text("a red circle")
    for text in ["(a red circle:1.0)", "(a:1) (red:1.0) circle", "a red circle  "]:
        cond, _ = sd1.encode_text(text)
        assert torch.equal(cond, plain), text


def test_weight_follows_comfy_formula(sd1, clip_l):
    plain, _ = sd1.encode_text("a red circle")
    cond, _ = sd1.encode_text("a (red:1.5) circle")
    assert not torch.equal(cond, plain)
    changed = (cond != plain).any(-1)[0]
    assert changed.nonzero().flatten().tolist() == [2]  # BOS, a, red -> position 2 only
    z_empty = run(clip_l, [BOS_TOKEN_ID] + [EOS_TOKEN_ID] * 76).last_hidden_state
    expected = (plain[0, 2] - z_empty[0, 2]) * 1.5 + z_empty[0, 2]
    torch.testing.assert_close(cond[0, 2], expected, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- layers


def test_with_last_layer_penultimate(sd1, clip_l):
    skipped = sd1.with_last_layer(-2)
    assert sd1.layer_idx is None and skipped.layer_idx == -2
    assert skipped.encoders[0].model is clip_l  # modules shared
    ids = load_clip_tokenizer()("a red circle", padding="max_length", max_length=77).input_ids
    with torch.inference_mode():
        ref = clip_l.final_layer_norm(run(clip_l, ids).hidden_states[-2])
    cond, _ = skipped.encode_text("a red circle")
    assert torch.equal(cond, ref)
    last, _ = sd1.with_last_layer(-1).encode_text("a red circle")
    assert torch.equal(last, sd1.encode_text("a red circle")[0])
    # out of range (CLIPSetLastLayer -24 on a 2-layer model): the final, normalised output
    assert torch.equal(sd1.with_last_layer(-24).encode_text("a red circle")[0], last)


def test_results_are_plain_float32_cpu_tensors(clip_l):
    model = CLIPTextModel(tiny_config(32, 2)).to(torch.bfloat16).eval()
    spec = ClipEncoderSpec("l", model, True, -1, True, False)
    te = TextEncoder(ModelFamily.SD1, [spec], CPU, torch.bfloat16)
    cond, _ = te.encode_text("(a red:1.2) circle")
    assert cond.dtype == torch.float32 and cond.device == CPU
    cond.mul_(2)  # not an inference tensor


@pytest.mark.parametrize("eos_in_config", [EOS_TOKEN_ID, 2])  # 2: the real CLIP-L config's legacy value
@pytest.mark.parametrize("pad_with_end", [True, False])
def test_pooled_is_read_at_the_first_eos(eos_in_config, pad_with_end):
    cfg = tiny_config(32, 1, projection=8)
    cfg.eos_token_id = eos_in_config
    torch.manual_seed(2)
    model = CLIPTextModelWithProjection(cfg).eval()
    te = TextEncoder(ModelFamily.SDXL, [ClipEncoderSpec("g", model, pad_with_end, -1, True, True)],
                     CPU, torch.float32)
    _, pooled = te.encode_text("a red circle")
    out = run(model, chunk_ids(te.tokenize_chunks("a red circle")[0], pad_with_end)[0])
    with torch.inference_mode():
        expected = model.text_projection(out.last_hidden_state[:, 4])  # BOS a red circle EOS
    torch.testing.assert_close(pooled, expected, rtol=0, atol=1e-6)


def test_rejects_a_config_that_would_pool_at_the_wrong_token():
    cfg = tiny_config(32, 1)
    cfg.eos_token_id = 1
    spec = ClipEncoderSpec("g", CLIPTextModel(cfg), False, -2, False, True)
    with pytest.raises(ValueError, match="eos_token_id"):
        TextEncoder(ModelFamily.SDXL, [spec], CPU, torch.float32)


# ---------------------------------------------------------------- SDXL


def test_sdxl_concat_and_pooled(sdxl, clip_l, clip_g):
    cond, pooled = sdxl.encode_text("a red circle")
    assert cond.shape == (1, 77, 32 + 48) and pooled.shape == (1, 24)
    ids_g = chunk_ids(sdxl.tokenize_chunks("a red circle")[0], pad_with_end=False)[0]
    out_g = run(clip_g, ids_g)
    assert torch.equal(cond[..., 32:], out_g.hidden_states[-2])
    assert torch.equal(pooled, out_g.text_embeds)
    # a long prompt: more chunks, pooled still from the first
    long_text = "a red circle, " + " ".join(["tree"] * 100)
    cond2, pooled2 = sdxl.encode_text(long_text)
    assert cond2.shape == (1, 154, 80)
    first = chunk_ids(sdxl.tokenize_chunks(long_text)[0], pad_with_end=False)[0]
    torch.testing.assert_close(pooled2, run(clip_g, first).text_embeds, rtol=0, atol=1e-6)


# ---------------------------------------------------------------- parity with diffusers


def _sd_pipeline(clip_l, tok):
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    return StableDiffusionPipeline(vae=None, text_encoder=clip_l, tokenizer=tok, unet=None,
                                   scheduler=DDIMScheduler(clip_sample=False, steps_offset=1), safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)


def test_parity_with_diffusers_sd1(sd1, clip_l, tok, monkeypatch):
    pipe = _sd_pipeline(clip_l, tok)
    ref, _ = pipe.encode_prompt("a red circle", CPU, 1, False)
    cond, _ = sd1.encode_text("a red circle")
    torch.testing.assert_close(cond, ref, rtol=0, atol=1e-6)
    # direct route: tokenizer padded to 77 -> text_encoder(...)[0]
    ids = tok("a red circle", padding="max_length", max_length=77, return_tensors="pt").input_ids
    with torch.inference_mode():
        assert torch.equal(cond, clip_l(ids)[0])
    # clip skip: diffusers' clip_skip=1 == CLIPSetLastLayer(-2). diffusers 0.42.1 reaches the
    # norm through `text_encoder.text_model`, which transformers 5's CLIPTextModel lacks:
    # give it a plain (unregistered) alias for the call.
    monkeypatch.setitem(clip_l.__dict__, "text_model", clip_l)
    ref_skip, _ = pipe.encode_prompt("a red circle", CPU, 1, False, clip_skip=1)
    cond_skip, _ = sd1.with_last_layer(-2).encode_text("a red circle")
    torch.testing.assert_close(cond_skip, ref_skip, rtol=0, atol=1e-6)
    assert not torch.allclose(cond_skip, cond)


def test_parity_with_diffusers_sdxl(sdxl, clip_l, clip_g, tok):
    from diffusers import DDIMScheduler, StableDiffusionXLPipeline

    vocab = json.loads((CLIP_TOKENIZER_DIR / "vocab.json").read_text(encoding="utf-8"))
    merges = [tuple(x.split()) for x in
              (CLIP_TOKENIZER_DIR / "merges.txt").read_text(encoding="utf-8").strip().split("\n")[1:]]
    tok_g = CLIPTokenizer(vocab=vocab, merges=merges, pad_token="!", model_max_length=77)  # pads with 0
    pipe = StableDiffusionXLPipeline(vae=None, text_encoder=clip_l, text_encoder_2=clip_g,
                                     tokenizer=tok, tokenizer_2=tok_g, unet=None,
                                     scheduler=DDIMScheduler(clip_sample=False, steps_offset=1))
    ref, _, ref_pooled, _ = pipe.encode_prompt("a red circle", device=CPU, num_images_per_prompt=1,
                                               do_classifier_free_guidance=False)
    cond, pooled = sdxl.encode_text("a red circle")
    torch.testing.assert_close(cond, ref, rtol=0, atol=1e-6)
    torch.testing.assert_close(pooled, ref_pooled, rtol=0, atol=1e-6)
