"""The sampler registry: ComfyUI's sampler names mapped to our sampler functions.

Every entry is a :class:`SamplerSpec`; ``SAMPLERS[name].fn(denoiser, x, sigmas,
noise_sampler=..., callback=...)`` runs it. The ``*_gpu`` names are ComfyUI's variants
that grow their Brownian tree on the latent's device instead of the CPU, as ComfyUI's do
(on a CPU-only machine the two are the same).
"""
from __future__ import annotations

from typing import Optional

import torch

from diffusion.samplers_base import (
    BrownianNoiseSampler,
    ContinuedNoiseSampler,
    GaussianNoiseSampler,
    NoiseSampler,
    SamplerSpec,
    ancestral_step,
    to_d,
)
from diffusion.samplers_classic import (
    sample_ddpm,
    sample_deis,
    sample_dpm_2,
    sample_dpm_2_ancestral,
    sample_euler,
    sample_euler_ancestral,
    sample_heun,
    sample_heunpp2,
    sample_ipndm,
    sample_lcm,
    sample_lms,
)
from diffusion.samplers_dpmpp import (
    sample_dpm_adaptive,
    sample_dpm_fast,
    sample_dpmpp_2m,
    sample_dpmpp_2m_sde,
    sample_dpmpp_2m_sde_heun,
    sample_dpmpp_2s_ancestral,
    sample_dpmpp_3m_sde,
    sample_dpmpp_sde,
)
from diffusion.samplers_extra import (
    sample_dpmpp_2m_cfg_pp,
    sample_dpmpp_2s_ancestral_cfg_pp,
    sample_er_sde,
    sample_euler_ancestral_cfg_pp,
    sample_euler_cfg_pp,
    sample_euler_cfg_pp_alternative,
    sample_lcm_upscale,
)
from diffusion.samplers_multistep import (
    sample_gradient_estimation,
    sample_gradient_estimation_cfg_pp,
    sample_ipndm_v,
    sample_res_multistep,
    sample_res_multistep_ancestral,
    sample_res_multistep_ancestral_cfg_pp,
    sample_res_multistep_cfg_pp,
)
from diffusion.samplers_sa import sample_sa_solver, sample_sa_solver_pece
from diffusion.samplers_seeds import sample_exp_heun_2_x0, sample_exp_heun_2_x0_sde, sample_seeds_2, sample_seeds_3
from diffusion.samplers_unipc import sample_uni_pc, sample_uni_pc_bh2

__all__ = [
    "SAMPLERS",
    "SAMPLER_NAMES",
    "SamplerSpec",
    "NoiseSampler",
    "GaussianNoiseSampler",
    "BrownianNoiseSampler",
    "get_sampler",
    "noise_source",
    "ancestral_step",
    "to_d",
]

_G, _C, _B, _BD = "gaussian", "continued", "brownian", "brownian_device"

# In ComfyUI's KSampler order.
_PP = {"needs_uncond": True}  # CFG++: steps along the unconditional prediction
SAMPLERS: dict[str, SamplerSpec] = {
    "euler": SamplerSpec(sample_euler),
    "euler_cfg_pp": SamplerSpec(sample_euler_cfg_pp, **_PP),
    "euler_ancestral": SamplerSpec(sample_euler_ancestral, noise=_G),
    "euler_ancestral_cfg_pp": SamplerSpec(sample_euler_ancestral_cfg_pp, noise=_G, **_PP),
    "heun": SamplerSpec(sample_heun),
    "heunpp2": SamplerSpec(sample_heunpp2),
    "exp_heun_2_x0": SamplerSpec(sample_exp_heun_2_x0),
    "exp_heun_2_x0_sde": SamplerSpec(sample_exp_heun_2_x0_sde, noise=_G),
    "dpm_2": SamplerSpec(sample_dpm_2, discard_penultimate_sigma=True),
    "dpm_2_ancestral": SamplerSpec(sample_dpm_2_ancestral, noise=_G, discard_penultimate_sigma=True),
    "lms": SamplerSpec(sample_lms),
    "dpm_fast": SamplerSpec(sample_dpm_fast),
    "dpm_adaptive": SamplerSpec(sample_dpm_adaptive, noise=_G),
    "dpmpp_2s_ancestral": SamplerSpec(sample_dpmpp_2s_ancestral, noise=_G),
    "dpmpp_2s_ancestral_cfg_pp": SamplerSpec(sample_dpmpp_2s_ancestral_cfg_pp, noise=_G, **_PP),
    "dpmpp_sde": SamplerSpec(sample_dpmpp_sde, noise=_B),
    "dpmpp_sde_gpu": SamplerSpec(sample_dpmpp_sde, noise=_BD),
    "dpmpp_2m": SamplerSpec(sample_dpmpp_2m),
    "dpmpp_2m_cfg_pp": SamplerSpec(sample_dpmpp_2m_cfg_pp, **_PP),
    "dpmpp_2m_sde": SamplerSpec(sample_dpmpp_2m_sde, noise=_B),
    "dpmpp_2m_sde_gpu": SamplerSpec(sample_dpmpp_2m_sde, noise=_BD),
    "dpmpp_2m_sde_heun": SamplerSpec(sample_dpmpp_2m_sde_heun, noise=_B),
    "dpmpp_2m_sde_heun_gpu": SamplerSpec(sample_dpmpp_2m_sde_heun, noise=_BD),
    "dpmpp_3m_sde": SamplerSpec(sample_dpmpp_3m_sde, noise=_B),
    "dpmpp_3m_sde_gpu": SamplerSpec(sample_dpmpp_3m_sde, noise=_BD),
    "ddpm": SamplerSpec(sample_ddpm, noise=_G),
    "lcm": SamplerSpec(sample_lcm, noise=_G),
    "ipndm": SamplerSpec(sample_ipndm),
    "ipndm_v": SamplerSpec(sample_ipndm_v),
    "deis": SamplerSpec(sample_deis),
    "res_multistep": SamplerSpec(sample_res_multistep),
    "res_multistep_cfg_pp": SamplerSpec(sample_res_multistep_cfg_pp, **_PP),
    "res_multistep_ancestral": SamplerSpec(sample_res_multistep_ancestral, noise=_G),
    "res_multistep_ancestral_cfg_pp": SamplerSpec(sample_res_multistep_ancestral_cfg_pp, noise=_G, **_PP),
    "gradient_estimation": SamplerSpec(sample_gradient_estimation),
    "gradient_estimation_cfg_pp": SamplerSpec(sample_gradient_estimation_cfg_pp, **_PP),
    "er_sde": SamplerSpec(sample_er_sde, noise=_G),
    "seeds_2": SamplerSpec(sample_seeds_2, noise=_G),
    "seeds_3": SamplerSpec(sample_seeds_3, noise=_G),
    "sa_solver": SamplerSpec(sample_sa_solver, noise=_G),
    "sa_solver_pece": SamplerSpec(sample_sa_solver_pece, noise=_G),
    # ComfyUI's "ddim" is Euler, re-noising an inpainting mask's kept area with seed+1 noise.
    "ddim": SamplerSpec(sample_euler, inpaint_noise_offset=1),
    "uni_pc": SamplerSpec(sample_uni_pc, discard_penultimate_sigma=True),
    "uni_pc_bh2": SamplerSpec(sample_uni_pc_bh2, discard_penultimate_sigma=True),
}

SAMPLER_NAMES: list[str] = list(SAMPLERS)

# Offered only by SAMPLER nodes (SamplerEulerCFGpp "alternative", SamplerLCMUpscale).
NODE_ONLY_SAMPLERS: dict[str, SamplerSpec] = {
    "euler_cfg_pp_alternative": SamplerSpec(sample_euler_cfg_pp_alternative, needs_uncond=True),
    "lcm_upscale": SamplerSpec(sample_lcm_upscale, noise=_C),  # torch.randn_like in ComfyUI
}


def noise_source(spec: SamplerSpec, like: torch.Tensor, sigmas: torch.Tensor, seed: int
                 ) -> Optional[NoiseSampler]:
    """The per-step noise a sampler draws for a seed, as ComfyUI's sampler of that name does."""
    if spec.noise == _G:
        return GaussianNoiseSampler(like, seed)
    if spec.noise == _C:
        return ContinuedNoiseSampler(like, seed)
    if spec.noise in (_B, _BD):
        return BrownianNoiseSampler.for_sigmas(like, sigmas, seed, cpu=spec.noise == _B)
    return None


def get_sampler(name: str) -> SamplerSpec:
    """The registry entry for a ComfyUI sampler name, with an error that lists the choices."""
    try:
        return SAMPLERS[name] if name in SAMPLERS else NODE_ONLY_SAMPLERS[name]
    except KeyError:
        raise ValueError(f"unknown sampler {name!r}; expected one of {SAMPLER_NAMES}") from None
