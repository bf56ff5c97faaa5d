"""The built-in model's architecture: Stable Diffusion 1.x, scaled down for 128x128 shapes.

Same module types and key layout as SD1 (CLIP text encoder with the real tokenizer,
UNet2DConditionModel with cross-attention, AutoencoderKL with 8x downsampling and 4
latent channels), so the trained weights ship as an ordinary SD1 single-file checkpoint.
Widths are multiples of 32 because the loader rebuilds the model with SD's GroupNorm(32).
The VAE's full-resolution blocks are 64 wide, two channels per GroupNorm group: with one
channel per group, a flat-coloured region normalises to a sign, and the decoder cannot
say which colour it is.
"""
from __future__ import annotations

import torch

IMAGE_SIZE = 128
LATENT_SIZE = IMAGE_SIZE // 8
TEXT_WIDTH = 128
LATENT_SCALE = 0.18215  # SD1's latent scale, which the loader applies to every SD1 model


def build_vae() -> torch.nn.Module:
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=(64, 64, 128, 128),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=32,
        sample_size=IMAGE_SIZE,
    )


def build_unet() -> torch.nn.Module:
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=LATENT_SIZE,
        block_out_channels=(64, 128, 128),
        # Cross-attention at 8x8 and in the middle only: at 16x16 it costs 45% of a
        # training step, and the same time spent on more steps gave better samples.
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        layers_per_block=1,
        attention_head_dim=8,  # SD1's convention: 8 heads
        cross_attention_dim=TEXT_WIDTH,
        norm_num_groups=32,
    )


def build_text_encoder() -> torch.nn.Module:
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(
        vocab_size=49408,
        hidden_size=TEXT_WIDTH,
        intermediate_size=4 * TEXT_WIDTH,
        num_hidden_layers=3,
        num_attention_heads=TEXT_WIDTH // 64,  # the loader's rule: 64-wide heads
        max_position_embeddings=77,
        hidden_act="quick_gelu",
        eos_token_id=49407,
        bos_token_id=49406,
        pad_token_id=49407,
    )
    return CLIPTextModel(config)


def rescale_vae_latents(vae: torch.nn.Module, latent_std: float) -> None:
    """Scale the VAE's latent space so that latents * LATENT_SCALE have unit spread.

    The reconstruction is unchanged: the encoder's mean is multiplied by k, its log-variance
    shifted by 2 log k, and the decoder's first convolution divides by k.
    """
    k = 1.0 / (LATENT_SCALE * latent_std)
    channels = vae.config.latent_channels
    with torch.no_grad():
        vae.quant_conv.weight[:channels] *= k
        vae.quant_conv.bias[:channels] *= k
        vae.quant_conv.bias[channels:] += 2.0 * torch.log(torch.tensor(k))
        vae.post_quant_conv.weight /= k
