"""Data-parallel training across processes: torchrun's environment, the few
collectives the loop needs, and the `--nproc N` launcher.

`torchrun --nproc-per-node N -m archlang train ...` starts N copies of the
command with RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT set;
multi-node runs use torchrun's own rendezvous flags on every node. NCCL on
GPUs, gloo on CPUs. Only rank 0 prints and writes files.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def parallel(self) -> bool:
        return self.size > 1


def from_env() -> World:
    """The process's place in the job, from torchrun's variables (one process without them)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    return World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))


def start(world: World, device: torch.device) -> None:
    if not world.parallel or dist.is_initialized():
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", device_id=device)
    else:
        dist.init_process_group("gloo")


def stop() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def all_sum(values: torch.Tensor, world: World) -> torch.Tensor:
    """The sum over all processes (in place; a no-op alone)."""
    if world.parallel:
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def any_true(flags: list[bool], world: World, device: torch.device) -> list[bool]:
    """Element-wise OR of small flag lists across processes: stop requested, loss not finite."""
    if not world.parallel:
        return flags
    t = torch.tensor([float(f) for f in flags], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [bool(v) for v in t.tolist()]


def broadcast(obj: Any, world: World) -> Any:
    """Rank 0's object on every process (a checkpoint read once, on rank 0)."""
    if not world.parallel:
        return obj
    box = [obj if world.main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(obj: Any, world: World) -> list[Any]:
    """Every process's object, in rank order (RNG states for a checkpoint)."""
    if not world.parallel:
        return [obj]
    out: list[Any] = [None] * world.size
    dist.all_gather_object(out, obj)
    return out


def sync_buffers(module: torch.nn.Module, world: World) -> None:
    """Rank 0's BatchNorm running statistics everywhere, so every rank evaluates alike.

    DDP broadcasts buffers at the start of each training forward, so after the
    last step each rank holds rank 0's statistics updated by its own batch."""
    if not world.parallel:
        return
    for buf in module.buffers():
        dist.broadcast(buf, src=0)


# -- the launcher -------------------------------------------------------------

def launch(nproc: int, argv: list[str]) -> int:
    """Run `archlang <argv>` under torchrun with `nproc` processes on this machine.

    The children find the package the way this process did (PYTHONPATH), and
    rendezvous on a free port of 127.0.0.1. Ctrl-C reaches them through the
    terminal; this process waits for them to save and leave.
    """
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc),
           "--master-addr", "127.0.0.1", "--master-port", str(free_port()),
           "-m", "archlang", *argv]
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    proc = subprocess.Popen(cmd, env=env)
    while True:
        try:
            return _exit_code(proc.wait())
        except KeyboardInterrupt:
            continue   # the workers got the same Ctrl-C: wait while they save


def _exit_code(code: int) -> int:
    # torchrun reports a failed worker as 1; keep 0/1/2/130 as they are
    return code if code >= 0 else 128 - code


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
