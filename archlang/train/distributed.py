"""Data-parallel training across processes: torchrun's environment, the few
collectives the loop needs, and the `--nproc N` launcher.

`torchrun --nproc-per-node N -m archlang train ...` starts N copies of the
command with RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT set;
multi-node runs use torchrun's own rendezvous flags on every node. NCCL on
GPUs, gloo on CPUs. Only rank 0 prints and writes files.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
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

GRACE_S = 10.0   # after one process fails, how long the others get to notice before they are stopped


def launch(nproc: int, argv: list[str]) -> int:
    """Run `archlang <argv>` as `nproc` processes on this machine, each with the
    environment torchrun gives its workers (RANK, LOCAL_RANK, WORLD_SIZE,
    MASTER_ADDR, MASTER_PORT), meeting on a free port of 127.0.0.1.

    Launched directly rather than through torchrun, so that Ctrl-C reaches the
    processes alone (they save and exit 130, and nothing prints a traceback)
    and their own exit code is returned: 0, 1, 2 or 130 as for one process.
    """
    port = free_port()
    base = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    base["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, base.get("PYTHONPATH")) if p)
    base.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    procs = []
    for rank in range(nproc):
        env = {**base, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(nproc),
               "LOCAL_WORLD_SIZE": str(nproc), "GROUP_RANK": "0", "MASTER_ADDR": "127.0.0.1",
               "MASTER_PORT": str(port)}
        procs.append(subprocess.Popen([sys.executable, "-m", "archlang", *argv], env=env))
    return supervise(procs)


def supervise(procs: list[subprocess.Popen]) -> int:
    """Wait for every process. When one fails, the others would wait for it forever in
    a collective: they get GRACE_S seconds, then are stopped. Returns rank 0's exit
    code, or the first failure's when rank 0 succeeded."""
    # Ctrl-C reaches the processes too (one process group): they save and leave on
    # their own, while this one keeps waiting for them
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        failed_at = None
        while any(p.poll() is None for p in procs):
            if failed_at is None and any(p.poll() not in (None, 0, 130) for p in procs):
                failed_at = time.monotonic()
            if failed_at is not None and time.monotonic() - failed_at > GRACE_S:
                for p in procs:
                    if p.poll() is None:
                        p.kill()
            time.sleep(0.1)
    finally:
        signal.signal(signal.SIGINT, previous)
    codes = [_exit_code(p.returncode) for p in procs]
    return codes[0] if codes[0] != 0 else next((c for c in codes if c != 0), 0)


def _exit_code(code: int) -> int:
    return code if code >= 0 else 128 - code   # killed by signal N: 128 + N, as a shell says


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
