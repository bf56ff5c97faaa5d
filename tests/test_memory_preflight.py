"""Memory: work that could never fit is refused before it starts, a VAE decode too big to
do at once is done in tiles, a failed prompt's intermediate outputs are released, and the
cache bound follows the machine."""
from __future__ import annotations

from types import SimpleNamespace

import psutil
import pytest
import torch

from diffusion.memory import InsufficientMemory, memory_budget
from executor.cache import OutputCache
from executor.run import Executor
from nodes.folders import Folders
from nodes.memory_checks import vae_decode_bytes
from nodes.registry import Node, NodeRegistry, register_node
from nodes.spec import Int, Output, Socket
from nodes.vae_nodes import VAEDecode, VAEEncode
from tests.server_support import async_test, make_client, queue_prompt, sink_workflow, wait_for_history


def huge_latent_workflow() -> dict:
    return {
        "1": {"class_type": "EmptyLatentImage", "inputs": {"width": 16384, "height": 16384, "batch_size": 4096}},
        "2": {"class_type": "SaveLatent", "inputs": {"samples": ["1", 0], "filename_prefix": "big"}},
    }


@async_test
async def test_a_latent_that_could_never_fit_is_refused_by_name_and_the_queue_goes_on(tmp_path):
    async with make_client(tmp_path, registry=None) as client:
        with memory_budget(23 * 1024 ** 3):
            queued = await queue_prompt(client, huge_latent_workflow())
            entry = await wait_for_history(client, queued["prompt_id"])
        assert entry["status"]["status_str"] == "error"
        error = dict(entry["status"]["messages"])["execution_error"]
        assert error["node_type"] == "EmptyLatentImage"
        assert error["exception_message"] == ("EmptyLatentImage: a 4096 x 4 x 2048 x 2048 latent would need "
                                              "256 GiB; this machine has 23 GiB free")
        small = huge_latent_workflow()
        small["1"]["inputs"].update(width=64, height=64, batch_size=1)
        queued = await queue_prompt(client, small)
        assert (await wait_for_history(client, queued["prompt_id"]))["status"]["status_str"] == "success"
    assert [p.name for p in (tmp_path / "output").rglob("big*")] == ["big_00001_.latent"]  # the small one


class RecordingVAE:
    """Shaped like an SD VAE (128-channel decoder); records which decode the node chose."""

    downscale = 8
    dtype = torch.float32
    vae = SimpleNamespace(config=SimpleNamespace(block_out_channels=(128, 256, 512, 512)))

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        self.calls.append(("whole",))
        return torch.zeros(latent.shape[0], latent.shape[2] * 8, latent.shape[3] * 8, 3)

    def decode_in_tiles(self, latent: torch.Tensor, tile_size: int, overlap: int) -> torch.Tensor:
        self.calls.append(("tiles", tile_size, overlap))
        return torch.zeros(latent.shape[0], latent.shape[2] * 8, latent.shape[3] * 8, 3)


def test_vae_decode_falls_back_to_tiles_when_the_whole_image_cannot_fit():
    vae, latent = RecordingVAE(), torch.zeros(1, 4, 256, 256)  # a 2048 x 2048 picture
    whole = vae_decode_bytes(vae, latent.shape)
    tiled = vae_decode_bytes(vae, latent.shape, tile_pixels=512 * 512)
    assert 12 * 1024 ** 3 < whole < 13 * 1024 ** 3 and tiled < 1024 ** 3
    with memory_budget(whole * 2):
        VAEDecode().execute(None, {"samples": latent}, vae)
    with memory_budget((whole + tiled) // 2):
        (image,) = VAEDecode().execute(None, {"samples": latent}, vae)
    assert vae.calls == [("whole",), ("tiles", 512, 64)]  # VAEDecodeTiled's defaults
    assert image.shape == (1, 2048, 2048, 3)
    with memory_budget(tiled // 2), pytest.raises(InsufficientMemory, match="even in tiles"):
        VAEDecode().execute(None, {"samples": latent}, vae)
    assert len(vae.calls) == 2


def test_vae_encode_is_refused_when_it_cannot_fit():
    vae, pixels = RecordingVAE(), torch.zeros(1, 2048, 2048, 3)
    vae.encode = lambda image: torch.zeros(1, 4, 256, 256)
    need = vae_decode_bytes(vae, (1, 4, 256, 256))
    with memory_budget(need * 2):
        assert VAEEncode().execute(None, pixels, vae)[0]["samples"].shape == (1, 4, 256, 256)
    with memory_budget(need // 2), pytest.raises(InsufficientMemory, match="VAEEncode: encoding a 1 x 2048 x 2048"):
        VAEEncode().execute(None, pixels, vae)


MEMORY_NODES = NodeRegistry()


@register_node("LoadBigModel", category="test", registry=MEMORY_NODES)
class LoadBigModel(Node):
    OUTPUTS = (Output("MODEL", "MODEL"),)

    def execute(self, ctx) -> tuple:
        return (torch.nn.Linear(64, 64),)


@register_node("MakePicture", category="test", registry=MEMORY_NODES)
class MakePicture(Node):
    size = Int(default=256, min=1, max=4096)
    OUTPUTS = (Output("IMAGE", "IMAGE"),)

    def execute(self, ctx, size: int) -> tuple:
        return (torch.zeros(1, size, size, 3),)


@register_node("FailingSave", category="test", output_node=True, registry=MEMORY_NODES)
class FailingSave(Node):
    model = Socket("MODEL")
    images = Socket("IMAGE")
    OUTPUTS = ()

    def execute(self, ctx, model, images) -> tuple:
        raise OSError("disk full")


def test_a_failed_prompt_releases_its_intermediate_outputs_but_keeps_its_models(tmp_path):
    executor = Executor(Folders.under(tmp_path), registry=MEMORY_NODES)
    prompt = {"1": {"class_type": "LoadBigModel", "inputs": {}},
              "2": {"class_type": "MakePicture", "inputs": {"size": 256}},
              "3": {"class_type": "FailingSave", "inputs": {"model": ["1", 0], "images": ["2", 0]}}}
    result = executor.run(prompt)
    assert result.status == "error" and result.executed == ["1", "2"]
    keys = executor.plans.get(prompt, MEMORY_NODES, executor.folders).keys
    assert keys["1"] in executor.cache  # the model stays loaded for the retry
    assert keys["2"] not in executor.cache  # the picture is released
    assert executor.cache.total_bytes < 256 * 256 * 3 * 4


def test_the_cache_bound_follows_the_machine():
    assert OutputCache().max_bytes == int(psutil.virtual_memory().total * 0.5)
    assert OutputCache(max_bytes=10).max_bytes == 10


@async_test
async def test_the_server_still_runs_ordinary_prompts_under_a_small_budget(tmp_path):
    async with make_client(tmp_path) as client:
        with memory_budget(64 * 1024 ** 2):
            queued = await queue_prompt(client, sink_workflow(3))
            assert (await wait_for_history(client, queued["prompt_id"]))["status"]["status_str"] == "success"
