"""One all-reduce over every rank torchrun started: NCCL on GPUs, gloo on CPUs.

    torchrun --standalone --nproc-per-node N -m w2s_lf.doctor.allreduce RESULT.json [--mb 256]

Each rank contributes a tensor of ones; the sum must be the world size everywhere. Rank 0 writes
the world size, backend, NCCL version and the bus bandwidth (the nccl-tests convention,
2(n-1)/n x bytes / time) to RESULT.json. What the training stages' ZeRO-3 gathers and the
LoRA gradients' reductions need, before any model is loaded.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import timedelta


def main(argv: list[str] | None = None) -> None:
    import torch
    import torch.distributed as dist

    p = argparse.ArgumentParser(prog="python -m w2s_lf.doctor.allreduce")
    p.add_argument("result")
    p.add_argument("--mb", type=float, default=256, help="tensor size per rank (GPUs; CPUs use a 64th)")
    p.add_argument("--iterations", type=int, default=5)
    a = p.parse_args(argv)
    gpu = torch.cuda.is_available()
    backend = "nccl" if gpu else "gloo"
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if gpu:
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend, timeout=timedelta(seconds=120))
    world, rank = dist.get_world_size(), dist.get_rank()
    device = torch.device("cuda", local_rank) if gpu else torch.device("cpu")
    numel = int(a.mb * 2**20 / 4 / (1 if gpu else 64))
    x = torch.ones(numel, dtype=torch.float32, device=device)

    def sync():
        if gpu:
            torch.cuda.synchronize()
    dist.all_reduce(x)    # warm-up: communicators are built on first use
    sync()
    ok = bool(torch.all(x == world))
    dist.barrier()
    start = time.perf_counter()
    for _ in range(a.iterations):
        dist.all_reduce(x)
    sync()
    seconds = (time.perf_counter() - start) / a.iterations
    agree = torch.tensor([1.0 if ok else 0.0], device=device)
    dist.all_reduce(agree)
    if rank == 0:
        nbytes = numel * 4
        result = {"world": world, "backend": backend, "ok": int(agree.item()) == world, "bytes": nbytes,
                  "seconds": seconds, "bus_gbps": 2 * (world - 1) / world * nbytes / seconds / 1e9 if world > 1 else None,
                  "nccl": ".".join(map(str, torch.cuda.nccl.version())) if gpu else None}
        with open(a.result, "w") as f:
            json.dump(result, f)
        print(f"all-reduce: {json.dumps(result)}", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
