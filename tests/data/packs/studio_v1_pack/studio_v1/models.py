import comfy.model_management
import comfy.sample
import comfy.samplers
import comfy.sd
import comfy.utils
import folder_paths
import latent_preview
import node_helpers
import nodes
import torch

from .basic import CALLS


class StudioLoadCheckpoint:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"ckpt_name": (folder_paths.get_filename_list("checkpoints"),)}}

    RETURN_TYPES = ("MODEL", "CLIP", "VAE")
    FUNCTION = "load"
    CATEGORY = "studio_test/models"

    def load(self, ckpt_name):
        path = folder_paths.get_full_path_or_raise("checkpoints", ckpt_name)
        return comfy.sd.load_checkpoint_guess_config(path, embedding_directory=folder_paths.get_folder_paths(
            "embeddings"))[:3]


class StudioEncodeTokens:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"clip": ("CLIP",), "text": ("STRING", {"multiline": True})}}

    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "encode"
    CATEGORY = "studio_test/models"

    def encode(self, clip, text):
        tokens = clip.tokenize(text)
        cond, pooled = clip.encode_from_tokens(tokens, return_pooled=True)
        return ([[cond, {"pooled_output": pooled}]],)


class StudioRescaleCFG:
    """Sets a cfg function on a clone, as RescaleCFG-style packs do."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "multiplier": ("FLOAT", {"default": 0.7, "min": 0.0, "max": 1.0})}}

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "patch"
    CATEGORY = "studio_test/models"

    def patch(self, model, multiplier):
        def rescale(args):
            CALLS["cfg_function"] = CALLS.get("cfg_function", 0) + 1
            cond, uncond, scale = args["cond"], args["uncond"], args["cond_scale"]
            guided = uncond + scale * (cond - uncond)
            std_ratio = cond.std() / guided.std().clamp_min(1e-8)
            return multiplier * guided * std_ratio + (1 - multiplier) * guided

        m = model.clone()
        m.set_model_sampler_cfg_function(rescale)
        return (m,)


class StudioAttentionPatch:
    """Sets an attention patch, which this app's sampler cannot apply (it must say so)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",)}}

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "patch"
    CATEGORY = "studio_test/models"

    def patch(self, model):
        m = model.clone()
        m.set_model_attn1_patch(lambda q, k, v, extra_options: (q, k, v))
        return (m,)


class StudioSample:
    """Samples through comfy.sample with a noise made by comfy.sample.prepare_noise."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "positive": ("CONDITIONING",), "negative": ("CONDITIONING",),
                             "latent": ("LATENT",), "seed": ("INT", {"default": 0, "min": 0, "max": 2**32}),
                             "steps": ("INT", {"default": 4, "min": 1, "max": 100})}}

    RETURN_TYPES = ("LATENT",)
    FUNCTION = "run"
    CATEGORY = "studio_test/models"

    def run(self, model, positive, negative, latent, seed, steps):
        samples = comfy.sample.fix_empty_latent_channels(model, latent["samples"])
        noise = comfy.sample.prepare_noise(samples, seed)
        callback = latent_preview.prepare_callback(model, steps)
        out = comfy.sample.sample(model, noise, steps, 5.0, "euler", "normal", positive, negative, samples,
                                  callback=callback, seed=seed)
        return ({"samples": out},)


class StudioCommonSample:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "positive": ("CONDITIONING",), "negative": ("CONDITIONING",),
                             "latent": ("LATENT",), "seed": ("INT", {"default": 0, "min": 0, "max": 2**32})}}

    RETURN_TYPES = ("LATENT",)
    FUNCTION = "run"
    CATEGORY = "studio_test/models"

    def run(self, model, positive, negative, latent, seed):
        return nodes.common_ksampler(model, seed, 4, 5.0, "euler", "normal", positive, negative, latent)


class StudioDecodeAndInvert:
    """Calls core nodes the V1 way: VAEDecode().decode and ImageInvert().invert."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"vae": ("VAE",), "samples": ("LATENT",)}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "run"
    CATEGORY = "studio_test/models"

    def run(self, vae, samples):
        image = nodes.VAEDecode().decode(vae, samples)[0]
        scaled = comfy.utils.common_upscale(image.movedim(-1, 1), 32, 32, "bislerp", "center").movedim(1, -1)
        return (nodes.ImageInvert().invert(scaled)[0],)


class StudioPreview(nodes.PreviewImage):
    CATEGORY = "studio_test/models"


class StudioMergeSelf:
    """Model merging the ComfyUI way: get_key_patches and add_patches."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model1": ("MODEL",), "model2": ("MODEL",),
                             "ratio": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0})}}

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "merge"
    CATEGORY = "studio_test/models"

    def merge(self, model1, model2, ratio):
        m = model1.clone()
        patches = model2.get_key_patches("diffusion_model.")
        m.add_patches({k: patches[k] for k in patches}, 1.0 - ratio, ratio)
        return (m,)


class StudioConditioningStrength:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"conditioning": ("CONDITIONING",), "strength": ("FLOAT", {"default": 1.0})}}

    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "run"
    CATEGORY = "studio_test/models"

    def run(self, conditioning, strength):
        return (node_helpers.conditioning_set_values(conditioning, {"strength": strength}),)


MODEL_NODES = {"StudioLoadCheckpoint": StudioLoadCheckpoint, "StudioEncodeTokens": StudioEncodeTokens,
               "StudioRescaleCFG": StudioRescaleCFG, "StudioAttentionPatch": StudioAttentionPatch,
               "StudioSample": StudioSample, "StudioCommonSample": StudioCommonSample,
               "StudioDecodeAndInvert": StudioDecodeAndInvert, "StudioPreview": StudioPreview,
               "StudioMergeSelf": StudioMergeSelf, "StudioConditioningStrength": StudioConditioningStrength}
MODEL_NAMES = {"StudioPreview": "Studio Preview"}
assert comfy.model_management.get_torch_device() is not None and torch.__version__
