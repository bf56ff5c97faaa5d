"""Which models sit on the compute device: a budget, least-recently-used offloading, and
layer streaming for a model bigger than the budget.

Models are registered the first time they run. Before a model runs, `using(modules)` makes
room for it (moving idle models back to the offload device, oldest use first) and loads
it; a model that does not fit even then is loaded layer by layer up to the budget and the
remaining layers are streamed: each is moved to the device just before it runs and back
right after, so the model still finishes, slower. The budget is the device's free memory
minus a reserve, after the models this manager already put there.

Policies follow ComfyUI's memory flags: `gpu_only` / `highvram` keep everything loaded
(nothing is offloaded), `normalvram` (the default on a GPU) works as above, `lowvram` gives
weights half the room, `novram` streams every layer, `cpu` runs everything on the CPU.
Without smart memory, models go back to the offload device as soon as they finish.

On a machine without a GPU the compute and offload devices are the same and the manager
has nothing to move, unless given a `free_memory` function: then it keeps its accounts as
if the device had that much memory, which is how its decisions are tested.
"""
from __future__ import annotations

import contextlib
import enum
import itertools
import logging
import threading
import weakref
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Optional, Sequence

import torch
from torch import nn

log = logging.getLogger(__name__)
CPU = torch.device("cpu")


class VRAMPolicy(str, enum.Enum):
    GPU_ONLY = "gpu_only"
    HIGH = "highvram"
    NORMAL = "normalvram"
    LOW = "lowvram"
    NO = "novram"
    CPU = "cpu"


KEEP_LOADED = (VRAMPolicy.GPU_ONLY, VRAMPolicy.HIGH)


DEFAULT_RESERVE = 1024 ** 3  # what --reserve-vram leaves free when not given


@dataclass(frozen=True)
class MemorySettings:
    policy: VRAMPolicy = VRAMPolicy.NORMAL
    reserve_bytes: int = DEFAULT_RESERVE  # kept free on the device for activations and other programs
    smart_memory: bool = True  # keep models loaded between uses while they fit


def _bytes(tensors: Iterable[torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def tensor_bytes_of(module: nn.Module) -> int:
    return _bytes(itertools.chain(module.parameters(), module.buffers()))


def _own_tensors(module: nn.Module) -> list[torch.Tensor]:
    """The tensors a module holds itself, not its children's."""
    return [*module.parameters(recurse=False), *module.buffers(recurse=False)]


def _layers(module: nn.Module) -> list[nn.Module]:
    """The modules that hold tensors themselves, in forward order (roughly): every weight
    belongs to exactly one, so they are what streaming moves."""
    return [m for m in module.modules() if _own_tensors(m)]


def _move_own(module: nn.Module, device: torch.device) -> None:
    """Move the tensors a module holds itself (not its children's), keeping Parameter objects."""
    for param in module.parameters(recurse=False):
        param.data = param.data.to(device)
    for name, buf in list(module._buffers.items()):
        if buf is not None:
            module._buffers[name] = buf.to(device)


@dataclass(eq=False)
class Record:
    """A registered model: its size, how much of it is on the device, and its streamed layers."""

    ref: "weakref.ref[nn.Module]"
    kind: str
    size: int
    on_device: int = 0
    last_used: int = 0
    in_use: int = 0
    streamed: list = field(default_factory=list)  # hook handles of streamed layers

    @property
    def module(self) -> Optional[nn.Module]:
        return self.ref()

    @property
    def state(self) -> str:
        if self.streamed:
            return "partial"
        return "loaded" if self.on_device >= self.size else "offloaded"


class ModelManager:
    """The set of models known to be loaded, with their sizes and where they are."""

    def __init__(self, device: Optional[torch.device] = None, settings: MemorySettings = MemorySettings(),
                 free_memory: Optional[Callable[[], int]] = None, offload_device: torch.device = CPU) -> None:
        self._lock = threading.RLock()
        self._records: dict[int, Record] = {}
        self._unmanaged: dict[int, "weakref.ref[nn.Module]"] = {}
        self._clock = itertools.count(1)
        self.configure(device, settings, free_memory, offload_device)

    def configure(self, device: Optional[torch.device] = None, settings: MemorySettings = MemorySettings(),
                  free_memory: Optional[Callable[[], int]] = None, offload_device: torch.device = CPU) -> None:
        """(Re)set the compute device, policy and memory source; what is loaded is moved back first."""
        with self._lock:
            if getattr(self, "_records", None):
                self.unload_all()
            self.settings = settings
            self.offload_device = torch.device(offload_device)
            if device is None:
                device = torch.device("cuda") if torch.cuda.is_available() else CPU
            self.device = CPU if settings.policy == VRAMPolicy.CPU else torch.device(device)
            self._free_memory = free_memory

    # -- what the loaders and nodes ask ---------------------------------------------------

    @property
    def active(self) -> bool:
        """Whether placement is managed: a separate compute device, or simulated memory."""
        return self._free_memory is not None or self.device.type != self.offload_device.type

    def initial_device(self, device: torch.device) -> torch.device:
        """Where a freshly loaded model's weights go: the compute device when models are
        kept loaded anyway (or nothing is managed), else the offload device until first use."""
        if not self.active or self.settings.policy in KEEP_LOADED:
            return torch.device(device)
        return self.offload_device

    def place(self, module: nn.Module, device: torch.device) -> nn.Module:
        """Put a freshly loaded model where it waits for its first use. A model meant to run on
        the offload device itself (--cpu-vae, a detector loaded for the CPU) is left alone by
        `using` from then on."""
        device = torch.device(device)
        if self.active and device.type == self.offload_device.type and self.device.type != device.type:
            with self._lock:
                self._unmanaged[id(module)] = weakref.ref(module)
        return module.to(self.initial_device(device))

    def _is_unmanaged(self, module: nn.Module) -> bool:
        ref = self._unmanaged.get(id(module))
        return ref is not None and ref() is module

    def free_memory(self) -> int:
        """Free bytes on the compute device now."""
        if self._free_memory is not None:
            return int(self._free_memory())
        if self.device.type == "cuda":
            free, _total = torch.cuda.mem_get_info(self.device)
            reserved = torch.cuda.memory_reserved(self.device) - torch.cuda.memory_allocated(self.device)
            return int(free + reserved)
        return 0

    def device_bytes(self) -> int:
        """Bytes of registered models on the compute device."""
        with self._lock:
            return sum(r.on_device for r in self._live())

    @contextlib.contextmanager
    def using(self, modules: Iterable[Optional[nn.Module]], kind: str = "model", extra_bytes: int = 0) -> Iterator[None]:
        """Inside, the modules are on the compute device (or streamed); they are not offloaded
        to make room for others until the block ends."""
        mods = [m for m in dict.fromkeys(m for m in modules if m is not None)]
        if not self.active or not mods:
            yield
            return
        with self._lock:
            records = [self._record(m, kind) for m in mods if not self._is_unmanaged(m)]
            # A model already running (a pack's load_models_gpu during sampling) keeps its
            # layout: its weights may be patched right now.
            fresh = [rec for rec in records if not rec.in_use]
            for rec in records:
                rec.in_use += 1
            try:
                self._load(fresh, extra_bytes)
            except BaseException:
                for rec in records:
                    rec.in_use -= 1
                raise
        try:
            yield
        finally:
            with self._lock:
                now = next(self._clock)
                for rec in records:
                    rec.in_use -= 1
                    rec.last_used = now
                if not self.settings.smart_memory:
                    for rec in records:
                        if not rec.in_use:
                            self._offload(rec)

    @contextlib.contextmanager
    def policy_for_now(self, policy: VRAMPolicy) -> Iterator[None]:
        """Inside, decisions follow `policy` (an out-of-memory retry's LOW)."""
        with self._lock:
            kept = self.settings
            self.settings = MemorySettings(policy, kept.reserve_bytes, kept.smart_memory)
        try:
            yield
        finally:
            with self._lock:
                self.settings = kept

    def ensure(self, modules: Iterable[Optional[nn.Module]], kind: str = "model") -> None:
        """Load the modules as `using` does, without holding them and without sending them
        back afterwards (a pack that runs a model itself after ComfyUI's load_models_gpu)."""
        if not self.active:
            return
        with self._lock:
            mods = [m for m in dict.fromkeys(modules) if m is not None and not self._is_unmanaged(m)]
            records = [self._record(m, kind) for m in mods]
            self._load([rec for rec in records if not rec.in_use], 0)
            now = next(self._clock)
            for rec in records:
                rec.last_used = now

    def resized(self, module: nn.Module) -> None:
        """A registered model's weights changed dtype (a VAE put in float32): its size again."""
        with self._lock:
            rec = self._records.get(id(module))
            if rec is not None and rec.module is module:
                loaded = rec.state == "loaded"
                rec.size = tensor_bytes_of(module)
                rec.on_device = rec.size if loaded else min(rec.on_device, rec.size)

    def unload_all(self) -> None:
        """Every idle model back to the offload device (POST /free's unload_models)."""
        with self._lock:
            for rec in self._live():
                if not rec.in_use:
                    self._offload(rec)

    def loaded(self) -> list[dict]:
        """What /system_stats lists: each registered model's kind, size, state and share on the device."""
        with self._lock:
            return [{"kind": r.kind, "class": type(r.module).__name__, "bytes": r.size, "on_device_bytes": r.on_device,
                     "state": r.state, "streamed_layers": len(r.streamed) // 2} for r in self._live()]

    def state_of(self, module: nn.Module) -> str:
        with self._lock:
            rec = self._records.get(id(module))
            return rec.state if rec is not None and rec.module is module else "unknown"

    # -- decisions ------------------------------------------------------------------------

    def _live(self) -> list[Record]:
        return [r for r in list(self._records.values()) if r.module is not None]

    def _record(self, module: nn.Module, kind: str) -> Record:
        rec = self._records.get(id(module))
        if rec is None or rec.module is not module:
            key = id(module)
            rec = Record(weakref.ref(module, lambda _ref, key=key: self._records.pop(key, None)), kind,
                         tensor_bytes_of(module))
            first = next(module.parameters(), None)
            if first is not None and first.device.type == self.device.type and self.device != self.offload_device:
                rec.on_device = rec.size  # a loader put it there already
            self._records[key] = rec
        return rec

    def _budget(self, extra_bytes: int) -> int:
        return self.free_memory() - int(self.settings.reserve_bytes) - int(extra_bytes)

    def _load(self, records: Sequence[Record], extra_bytes: int) -> None:
        policy = self.settings.policy
        missing = sum(r.size - r.on_device for r in records)
        if policy in KEEP_LOADED:
            for rec in records:
                self._load_fully(rec)
            return
        budget = self._budget(extra_bytes)
        if missing > budget:
            for rec in sorted((r for r in self._live() if not r.in_use and r.on_device), key=lambda r: r.last_used):
                log.info("offloading %s (%d MB) to make room", rec.kind, rec.on_device >> 20)
                budget += rec.on_device
                self._offload(rec)
                if missing <= budget:
                    break
        if policy == VRAMPolicy.LOW:
            budget //= 2
        elif policy == VRAMPolicy.NO:
            budget = 0
        for rec in records:
            need = rec.size - rec.on_device
            if need <= budget and not (policy == VRAMPolicy.NO and rec.size):
                self._load_fully(rec)
                budget -= need
            else:
                self._load_partly(rec, max(0, budget + rec.on_device))
                budget = 0

    def _load_fully(self, rec: Record) -> None:
        if rec.state == "loaded":
            return
        self._stop_streaming(rec)
        rec.on_device = rec.size  # counted first: an out-of-memory halfway is cleaned up by _offload
        rec.module.to(self.device)

    def _offload(self, rec: Record) -> None:
        if rec.on_device == 0 and not rec.streamed:
            return
        self._stop_streaming(rec)
        rec.module.to(self.offload_device)
        rec.on_device = 0

    def _load_partly(self, rec: Record, room: int) -> None:
        """The first layers that fit in `room` bytes stay on the device; the rest stream."""
        self._stop_streaming(rec)
        module, on_device = rec.module, 0
        for layer in _layers(module):
            size = _bytes(_own_tensors(layer))
            if on_device + size <= room:
                _move_own(layer, self.device)
                on_device += size
            else:
                _move_own(layer, self.offload_device)
                rec.streamed += _stream(layer, self.device)
        rec.on_device = on_device
        log.info("%s does not fit (%d MB, room for %d MB): %d layers streamed", rec.kind, rec.size >> 20,
                 room >> 20, len(rec.streamed) // 2)

    def _stop_streaming(self, rec: Record) -> None:
        for handle in rec.streamed:
            handle.remove()
        rec.streamed = []


def _stream(layer: nn.Module, device: torch.device) -> list:
    """Hooks that bring the layer's own tensors to `device` for its forward and put the
    resting ones back after (the same tensor objects, so weight patches stay intact)."""
    resting: dict[str, object] = {}

    def bring(module, _args):
        resting["params"] = [(p, p.data) for p in module.parameters(recurse=False)]
        resting["buffers"] = dict(module._buffers)
        for param, data in resting["params"]:
            param.data = data.to(device, non_blocking=True)
        for name, buf in resting["buffers"].items():
            if buf is not None:
                module._buffers[name] = buf.to(device, non_blocking=True)

    def put_back(module, _args, _output):
        for param, data in resting.pop("params", []):
            param.data = data
        module._buffers.update(resting.pop("buffers", {}))

    # First in, last out: a precision hook (fp8 upcast) sees the weights already on the device.
    return [layer.register_forward_pre_hook(bring, prepend=True),
            layer.register_forward_hook(put_back, always_call=True)]  # also after an error in the layer


def sampling_bytes(latent_shape: Sequence[int], element_size: int = 2) -> int:
    """Room a UNet's activations want at this latent size (conditional and unconditional
    rows together), by ComfyUI's rule of thumb: 0.01 MiB per latent pixel per byte of dtype."""
    batch, _channels, height, width = (int(v) for v in latent_shape[:4])
    return int(2 * batch * height * width * element_size * 0.01 * 2**20)


MANAGER = ModelManager()


def using(modules: Iterable[Optional[nn.Module]], kind: str = "model", extra_bytes: int = 0):
    """MANAGER.using: the app's one manager."""
    return MANAGER.using(modules, kind, extra_bytes)
