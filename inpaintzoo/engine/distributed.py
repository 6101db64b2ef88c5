"""Data-parallel training over torch.distributed (gloo on CPU, nccl on CUDA), launched by torchrun.

Every process holds the whole model, trains on its own slice of each global batch, and averages
gradients with an all-reduce before each optimiser step — the arithmetic of DistributedDataParallel.
The averaging is a step pre-hook on each optimiser rather than the DDP module wrapper because the
objectives call the discriminator several times per step (real and fake batches) and WGAN-GP
differentiates through a gradient, which DDP's bucketed reducer does not allow.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class Distributed:
    """This process's place in the job: rank, world size, and the device it trains on."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        """Only the main process logs, draws grids and writes checkpoints."""
        return self.rank == 0

    @classmethod
    def from_env(cls, device: torch.device) -> Distributed:
        """Join the process group that torchrun describes in the environment (or run alone)."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        return cls(rank=dist.get_rank(), world=dist.get_world_size(), local_rank=int(os.environ.get("LOCAL_RANK", 0)))

    def device_for(self, device: torch.device) -> torch.device:
        """One GPU per process: cuda means cuda:LOCAL_RANK under torchrun."""
        if self.enabled and device.type == "cuda" and device.index is None:
            torch.cuda.set_device(self.local_rank)
            return torch.device("cuda", self.local_rank)
        return device

    def shard(self, global_batch: torch.Tensor) -> torch.Tensor:
        """This process's slice of a global batch of indices (contiguous, in rank order)."""
        if not self.enabled:
            return global_batch
        per = -(-len(global_batch) // self.world)
        return global_batch[self.rank * per : (self.rank + 1) * per]

    def average_gradients_before_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Make `optimizer.step()` first replace every gradient by its mean over all processes."""
        if not self.enabled:
            return

        def hook(opt: torch.optim.Optimizer, args: object, kwargs: object) -> None:
            grads = [p.grad for group in opt.param_groups for p in group["params"] if p.grad is not None]
            if not grads:
                return
            flat = torch.cat([g.reshape(-1) for g in grads])
            dist.all_reduce(flat)
            flat /= self.world
            offset = 0
            for g in grads:
                g.copy_(flat[offset : offset + g.numel()].view_as(g))
                offset += g.numel()

        optimizer.register_step_pre_hook(hook)

    def broadcast_module(self, module: torch.nn.Module) -> None:
        """Start every process from rank 0's weights and buffers."""
        if self.enabled:
            for tensor in [*module.parameters(), *module.buffers()]:
                dist.broadcast(tensor.data, src=0)

    def any(self, flag: bool) -> bool:
        """True on every process if `flag` is true on any (stop requests, divergence)."""
        if not self.enabled:
            return flag
        t = torch.tensor([1.0 if flag else 0.0])
        dist.all_reduce(t)
        return bool(t.item() > 0)

    def from_main(self, value: str) -> str:
        """The main process's value of a string (a timestamped run name, say), on every process."""
        if not self.enabled:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()
