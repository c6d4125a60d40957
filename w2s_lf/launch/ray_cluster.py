"""The environment a Ray actor (a training rank, a generation engine) needs from the controller.

Ray starts actors with the raylet's environment, not the controller's, so settings the controller
was given (offline mode, model cache, NCCL/gloo interfaces, vLLM options) are passed on in the
actor's runtime_env, and this code's folder is put first on PYTHONPATH so every node imports the
same w2s_lf (the nodes share the file system; see docs/scale.md). Never CUDA_VISIBLE_DEVICES
(Ray assigns devices per actor) nor RAY_* (each node's raylet has its own).
"""

from __future__ import annotations

import os
from pathlib import Path

PASSED_PREFIXES = ("HF_", "HUGGINGFACE_", "TRANSFORMERS_", "VLLM_", "NCCL_", "GLOO_", "TORCH_", "PYTORCH_",
                   "WANDB_", "W2S_", "OMP_", "MKL_", "ONEDNN_", "ATEN_", "TOKENIZERS_", "DISABLE_VERSION_CHECK")
CODE = str(Path(__file__).resolve().parents[1])


def actor_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    environ = os.environ if environ is None else environ
    env = {k: v for k, v in environ.items() if k.startswith(PASSED_PREFIXES)}
    env["PYTHONPATH"] = os.pathsep.join([CODE, *filter(None, [environ.get("PYTHONPATH")])])
    return env
