"""What every Ray user here shares: the environment actors get, and reserving their resources.

Training ranks (`w2s_lf.launch.ray_job`) and generation engines (`w2s_lf.generation.parallel`)
are Ray actors placed in one placement group per job (`reserve`).

Ray starts actors with the raylet's environment, not the controller's, so settings the controller
was given (offline mode, model cache, NCCL/gloo interfaces, vLLM options) are passed on in the
actor's runtime_env, and this code's folder is put first on PYTHONPATH so every node imports the
same w2s_lf (the nodes share the file system; see docs/scale.md). Never CUDA_VISIBLE_DEVICES
(Ray assigns devices per actor) nor RAY_* (each node's raylet has its own).
"""

from __future__ import annotations

import os
from pathlib import Path

from w2s_lf.errors import W2SError

PASSED_PREFIXES = ("HF_", "HUGGINGFACE_", "TRANSFORMERS_", "VLLM_", "NCCL_", "GLOO_", "TORCH_", "PYTORCH_",
                   "WANDB_", "W2S_", "OMP_", "MKL_", "ONEDNN_", "ATEN_", "TOKENIZERS_", "DISABLE_VERSION_CHECK")
CODE = str(Path(__file__).resolve().parents[2])


def actor_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    environ = os.environ if environ is None else environ
    env = {k: v for k, v in environ.items() if k.startswith(PASSED_PREFIXES)}
    env["PYTHONPATH"] = os.pathsep.join([CODE, *filter(None, [environ.get("PYTHONPATH")])])
    return env


def reserve(ray, bundle: dict, count: int, strategy: str, timeout: float, what: str):
    """A placement group of `count` copies of `bundle` (`{"CPU": 1, "GPU": 1}`), ready, or a
    W2SError saying why not: the cluster has too little in all, or did not free it in `timeout` s
    (other jobs may hold it). The caller removes the group when its actors are done."""
    from ray.util.placement_group import placement_group, remove_placement_group

    have = ray.cluster_resources()
    for res, need in bundle.items():
        if have.get(res, 0) < need * count:
            raise W2SError(f"the Ray cluster has {have.get(res, 0):g} {res} in all; {count} {what} x "
                           f"{need:g} {res} each need {need * count:g}")
    pg = placement_group([dict(bundle) for _ in range(count)], strategy=strategy)
    ready, _ = ray.wait([pg.ready()], timeout=timeout)
    if not ready:
        remove_placement_group(pg)
        raise W2SError(f"the Ray cluster did not free {count} x {bundle} within {timeout:g} s "
                       f"(free now: {ray.available_resources()}); other jobs may hold them")
    return pg
