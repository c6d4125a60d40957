"""What every Ray user here shares: the environment actors get, and reserving their resources.

Training ranks (`w2s_lf.launch.ray_job`) and generation engines (`w2s_lf.generation.parallel`)
are Ray actors placed in one placement group per job (`reserve`).

Ray starts actors with the raylet's environment, not the controller's, so settings the controller
was given (offline mode, model cache, NCCL/gloo interfaces, vLLM options) are passed on in the
actor's runtime_env, and this code's folder is put first on PYTHONPATH so every node imports the
same w2s_lf (the nodes share the file system; see docs/scale.md). Never CUDA_VISIBLE_DEVICES
(Ray assigns devices per actor) nor RAY_* (each node's raylet has its own), nor the network
interface settings (NODE_LOCAL): interface names belong to a node, so an actor keeps its raylet's
(exported before `ray start` on that node); training ranks take the controller's only where
their node sets none and has such an interface (`node_network_env`).
"""

from __future__ import annotations

import os
from pathlib import Path

from w2s_lf.errors import W2SError

PASSED_PREFIXES = ("HF_", "HUGGINGFACE_", "TRANSFORMERS_", "VLLM_", "NCCL_", "GLOO_", "TORCH_", "PYTORCH_",
                   "WANDB_", "W2S_", "OMP_", "MKL_", "ONEDNN_", "ATEN_", "TOKENIZERS_", "DISABLE_VERSION_CHECK")
CODE = str(Path(__file__).resolve().parents[2])
# Settings naming a node's own network interfaces or InfiniBand adapters.
NODE_LOCAL = ("NCCL_SOCKET_IFNAME", "GLOO_SOCKET_IFNAME", "NCCL_IB_HCA")


def actor_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    environ = os.environ if environ is None else environ
    env = {k: v for k, v in environ.items() if k.startswith(PASSED_PREFIXES) and k not in NODE_LOCAL}
    env["PYTHONPATH"] = os.pathsep.join([CODE, *filter(None, [environ.get("PYTHONPATH")])])
    return env


def node_network() -> dict:
    """What this node has and sets (called inside an actor): its interface and InfiniBand
    adapter names, and the NODE_LOCAL settings of its raylet's environment."""
    import socket
    ib = Path("/sys/class/infiniband")
    return {"ifaces": sorted(name for _, name in socket.if_nameindex()),
            "hcas": sorted(p.name for p in ib.iterdir()) if ib.is_dir() else [],
            "set": {k: os.environ[k] for k in NODE_LOCAL if os.environ.get(k)}}


def names_fit(value: str, names: list[str], every: bool) -> bool:
    """Whether an interface setting can work on a node with `names`. NCCL's syntax: a
    comma-separated list of prefixes, `=` for exact names, `^` to exclude (fits anywhere),
    `:port` after an HCA; gloo's (`every`): exact names, each of which must exist."""
    if value.startswith("^"):
        return True
    exact = every or value.startswith("=")
    wanted = [w.split(":")[0] for w in value.lstrip("=").split(",") if w]
    found = [any(n == w if exact else n.startswith(w) for n in names) for w in wanted]
    return bool(found) and (all(found) if every else any(found))


def node_network_env(node: dict, controller: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """NODE_LOCAL settings for the ranks on `node` (`node_network()`): the node's own stay
    (nothing to set); the controller's apply where the node sets none and has what they name.
    Returns (variables to set, one note per setting the controller had)."""
    env, notes = {}, []
    for key in NODE_LOCAL:
        value = controller.get(key)
        if not value:
            continue
        if key in node["set"]:
            notes.append(f"{key}={node['set'][key]} (its own)")
        elif names_fit(value, node["hcas"] if key == "NCCL_IB_HCA" else node["ifaces"], every=key == "GLOO_SOCKET_IFNAME"):
            env[key] = value
            notes.append(f"{key}={value} (the controller's)")
        else:
            have = ", ".join(node["hcas"] if key == "NCCL_IB_HCA" else node["ifaces"]) or "none"
            notes.append(f"{key} left unset: the controller's '{value}' names nothing there (it has {have})")
    return env, notes


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
