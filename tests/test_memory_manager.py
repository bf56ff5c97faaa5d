"""The model manager's decisions under a simulated device (its free memory set by the test):
what is loaded, offloaded and streamed, outputs identical to an unmanaged run, LoRA patches
intact, and the memory flags reaching it from the command line and the server."""
from __future__ import annotations

import argparse
import json

import pytest
import torch
from torch import nn

from diffusion import memory_manager
from diffusion.memory_manager import MemorySettings, ModelManager, VRAMPolicy, tensor_bytes_of

KB = 1024


def _net(width: int = 32, depth: int = 4, seed: int = 0) -> nn.Module:
    """depth Linear layers of width x width float32: (width*width + width) * 4 bytes each."""
    torch.manual_seed(seed)
    return nn.Sequential(*[nn.Linear(width, width) for _ in range(depth)]).eval()


def _simulated(total: int, policy: VRAMPolicy = VRAMPolicy.NORMAL, **settings) -> ModelManager:
    """A manager on the CPU that accounts as if the device had `total` bytes (no reserve
    unless given)."""
    settings.setdefault("reserve_bytes", 0)
    manager = ModelManager(torch.device("cpu"), MemorySettings(policy=policy, **settings))
    manager.configure(torch.device("cpu"), MemorySettings(policy=policy, **settings),
                      free_memory=lambda: total - manager.device_bytes())
    return manager


def test_models_load_and_idle_ones_leave_least_recently_used_first():
    a, b, c = _net(seed=1), _net(seed=2), _net(seed=3)
    size = tensor_bytes_of(a)
    manager = _simulated(int(size * 2.5))
    for net in (a, b):
        with manager.using([net]):
            assert manager.state_of(net) == "loaded"
    with manager.using([a]):  # a is now the more recent
        pass
    with manager.using([c]):
        pass
    assert [manager.state_of(n) for n in (a, b, c)] == ["loaded", "offloaded", "loaded"]
    assert manager.device_bytes() == 2 * size
    manager.unload_all()
    assert manager.device_bytes() == 0 and {m["state"] for m in manager.loaded()} == {"offloaded"}


def test_models_in_use_are_not_offloaded_for_others():
    a, b = _net(seed=1), _net(seed=2)
    manager = _simulated(int(tensor_bytes_of(a) * 1.5))
    with manager.using([a]):
        with manager.using([b]):  # a is running: b gets what is left, streamed
            assert manager.state_of(a) == "loaded" and manager.state_of(b) == "partial"
    with manager.using([b]):  # a is idle now: it leaves, b loads whole
        assert manager.state_of(a) == "offloaded" and manager.state_of(b) == "loaded"


def test_a_model_bigger_than_the_budget_streams_and_gives_the_same_output():
    net = _net(depth=6)
    x = torch.randn(3, 32)
    with torch.no_grad():
        want = net(x)
    layer = tensor_bytes_of(net[0])
    manager = _simulated(layer * 2 + layer // 2)
    calls = []
    handle = net[5].register_forward_pre_hook(lambda m, _a: calls.append(m.weight.device))
    with manager.using([net]), torch.no_grad():
        assert manager.state_of(net) == "partial"
        (entry,) = manager.loaded()
        assert entry["on_device_bytes"] == 2 * layer and entry["streamed_layers"] == 4
        got = net(x)
    handle.remove()
    assert torch.equal(got, want) and calls
    with manager.using([net]):  # room made (nothing else is loaded): still partial, same split
        assert manager.loaded()[0]["streamed_layers"] == 4


@pytest.mark.parametrize("policy,state", [(VRAMPolicy.NO, "partial"), (VRAMPolicy.HIGH, "loaded"),
                                          (VRAMPolicy.GPU_ONLY, "loaded"), (VRAMPolicy.LOW, "partial")])
def test_policies(policy, state):
    net = _net()
    size = tensor_bytes_of(net)
    manager = _simulated(int(size * 1.5), policy)  # LOW: half of 1.5x is less than the model
    with manager.using([net]):
        assert manager.state_of(net) == state
    if policy == VRAMPolicy.NO:
        assert manager.loaded()[0]["on_device_bytes"] == 0


def test_high_vram_never_offloads_even_past_the_budget():
    a, b = _net(seed=1), _net(seed=2)
    manager = _simulated(tensor_bytes_of(a), VRAMPolicy.HIGH)
    for net in (a, b):
        with manager.using([net]):
            pass
    assert manager.state_of(a) == manager.state_of(b) == "loaded"


def test_without_smart_memory_models_leave_after_use_and_reserve_counts():
    net = _net()
    size = tensor_bytes_of(net)
    manager = _simulated(size * 3, smart_memory=False)
    with manager.using([net]):
        assert manager.state_of(net) == "loaded"
    assert manager.state_of(net) == "offloaded"
    reserved = _simulated(size * 3, reserve_bytes=size * 2 + 1)
    with reserved.using([net]):
        assert reserved.state_of(net) == "partial"


def test_a_dropped_model_is_forgotten():
    manager = _simulated(10 * 1024 * KB)
    net = _net()
    with manager.using([net]):
        pass
    assert len(manager.loaded()) == 1
    del net
    import gc

    gc.collect()
    assert manager.loaded() == []


def test_without_a_separate_device_nothing_is_managed():
    manager = ModelManager(torch.device("cpu"))
    net = _net()
    with manager.using([net]):
        pass
    assert not manager.active and manager.loaded() == []
    assert manager.initial_device(torch.device("cpu")) == torch.device("cpu")


# ----------------------------------------------------------------------------- the app's models


@pytest.fixture
def app_manager(monkeypatch):
    """The app's manager with a simulated device of a set size (restored afterwards)."""
    budget = {"total": 0}

    def configure(total: int, **settings):
        settings.setdefault("reserve_bytes", 0)
        budget["total"] = total
        memory_manager.MANAGER.configure(torch.device("cpu"), MemorySettings(**settings),
                                         free_memory=lambda: budget["total"] - memory_manager.MANAGER.device_bytes())
        return memory_manager.MANAGER

    yield configure
    memory_manager.MANAGER.configure(None, MemorySettings())


def _txt2img(executor, seed: int = 3):
    from tests.test_custom_sampling import _ksampler_prompt, _output

    return _output(executor, _ksampler_prompt("euler", "normal", 1.0, seed=seed, steps=3), "3")["samples"]


def test_sampling_under_a_small_budget_gives_the_same_latent(executor, parts, app_manager, caplog):
    """The UNet streamed (the budget is a third of it), the text encoder and VAE moved in and
    out around it: the latent is the one of an unmanaged run, bit for bit."""
    import logging

    want = _txt2img(executor)
    executor.cache.clear()
    unet_bytes = tensor_bytes_of(parts.model.unet)
    manager = app_manager(unet_bytes // 3)
    with caplog.at_level(logging.INFO, logger="diffusion.memory_manager"):
        got = _txt2img(executor)
    assert torch.equal(got, want)
    kinds = {m["kind"]: m for m in manager.loaded()}
    assert {"unet", "text_encoder", "vae"} <= set(kinds)
    assert "unet does not fit" in caplog.text and "layers streamed" in caplog.text
    assert kinds["unet"]["on_device_bytes"] == 0  # the decode after it took its room


def test_lora_patched_sampling_streams_and_restores_the_base_weights(parts, app_manager):
    from diffusion.patching import WeightPatch
    from diffusion.sampling import sample

    model = parts.model
    name, weight = next((n, p) for n, p in model.unet.named_parameters() if p.ndim == 2)
    base = weight.detach().clone()
    gen = torch.Generator().manual_seed(0)
    patch = WeightPatch("unet", name, torch.randn(weight.shape[0], 2, generator=gen),
                        torch.randn(2, weight.shape[1], generator=gen), 1.0, 0.5)
    patched = model.with_patches([patch])
    cond, pooled = parts.clip.encode_text("a red circle")
    positive, negative = [[cond, {"pooled_output": pooled}]], [[parts.clip.encode_text("")[0], {}]]

    def run():
        return sample(patched, torch.zeros(1, 4, 8, 8), positive, negative, seed=2, steps=2, cfg=4.0,
                      sampler_name="euler", scheduler="normal")

    want = run()
    app_manager(tensor_bytes_of(model.unet) // 4)
    got = run()
    assert torch.equal(got, want)
    assert torch.equal(weight.detach(), base)


def test_memory_flags_reach_the_manager(monkeypatch):
    from cli.memory_flags import add_memory_flags, apply_memory_flags, memory_settings
    from comfy_compat import install_surface

    install_surface()
    from comfy import cli_args

    parser = argparse.ArgumentParser()
    add_memory_flags(parser)
    settings = memory_settings(parser.parse_args(["--lowvram", "--reserve-vram", "1.5", "--disable-smart-memory"]))
    assert settings == MemorySettings(VRAMPolicy.LOW, int(1.5 * 1024 ** 3), False)
    assert memory_settings(parser.parse_args([])) == MemorySettings()
    with pytest.raises(SystemExit):
        parser.parse_args(["--lowvram", "--novram"])
    monkeypatch.setenv("SD_STUDIO_DEVICE", "cpu")
    try:
        apply_memory_flags(parser.parse_args(["--novram", "--reserve-vram", "2"]))
        assert memory_manager.MANAGER.settings.policy == VRAMPolicy.NO
        assert cli_args.args.novram is True and cli_args.args.lowvram is False and cli_args.args.reserve_vram == 2
    finally:
        memory_manager.MANAGER.configure(None, MemorySettings())
        cli_args.use_memory_settings("normalvram", None, False)


def test_system_stats_reports_the_manager(tmp_path):
    from server.routes_info import system_stats

    stats = system_stats()
    memory = stats["memory"]
    assert memory["policy"] == "normalvram" and isinstance(memory["models"], list)
    json.dumps(stats)


def test_streaming_and_fp8_upcast_together_leave_the_stored_weights():
    from diffusion.precision import upcast_per_layer

    net = _net(depth=4)
    net.to(torch.float8_e4m3fn)
    upcast_per_layer(net, torch.float32)
    x = torch.randn(2, 32)
    with torch.no_grad():
        want = net(x)
    manager = _simulated(tensor_bytes_of(net) // 2)
    with manager.using([net]), torch.no_grad():
        assert manager.state_of(net) == "partial"
        got = net(x)
    assert torch.equal(got, want)
    assert {p.dtype for p in net.parameters()} == {torch.float8_e4m3fn}


def test_a_model_already_running_keeps_its_layout():
    """A pack's load_models_gpu while the UNet samples must not re-lay it out (its weights
    may be patched at that moment)."""
    a = _net()
    manager = _simulated(int(tensor_bytes_of(a) * 1.5))
    with manager.using([a]):
        before = manager.loaded()
        manager.ensure([a])
        with manager.using([a], extra_bytes=10 ** 9):  # no room at all now
            assert manager.loaded() == before


def test_ensure_keeps_the_model_loaded_without_smart_memory():
    net = _net()
    manager = _simulated(tensor_bytes_of(net) * 3, smart_memory=False)
    manager.ensure([net])
    assert manager.state_of(net) == "loaded"


def test_a_model_placed_for_the_offload_device_is_left_alone():
    """--cpu-vae, a detector loaded for the CPU: their inputs go to the CPU, so `using` must
    not send them to the compute device."""
    manager = ModelManager(torch.device("cuda"), MemorySettings(reserve_bytes=0), free_memory=lambda: 10 ** 12)
    net = manager.place(_net(), torch.device("cpu"))
    with manager.using([net]):  # would fail on this machine if it tried to move it to CUDA
        assert manager.state_of(net) == "unknown"
    assert next(net.parameters()).device.type == "cpu"


def test_streamed_and_fp8_layers_put_their_weights_back_after_an_error():
    from diffusion.precision import upcast_per_layer

    net = _net(depth=2)
    net.to(torch.float8_e4m3fn)
    upcast_per_layer(net, torch.float32)
    manager = _simulated(0)
    resting = [p.data.data_ptr() for p in net.parameters()]
    with manager.using([net]):
        with pytest.raises(RuntimeError):
            net(torch.randn(2, 7))  # wrong width: the first layer fails inside its forward
    assert [p.data.data_ptr() for p in net.parameters()] == resting
    assert {p.dtype for p in net.parameters()} == {torch.float8_e4m3fn}


def test_guider_lists_bring_their_controlnets():
    from types import SimpleNamespace

    from diffusion.sampling import _sampling_modules

    net = nn.Linear(2, 2)
    link = SimpleNamespace(chain=lambda: [SimpleNamespace(control_net=SimpleNamespace(module=net))])
    guide = SimpleNamespace(entries=[SimpleNamespace(control=link), SimpleNamespace(control=None)])
    model = SimpleNamespace(unet=nn.Linear(1, 1))
    assert _sampling_modules(model, guide, [], []) == [model.unet, net]
