"""Placement that knows the interconnect: generation spreads over every node, a training stage
whose model fits on one node trains on one node (cluster.training_nodes overrides), and the
stage runs where the plan said."""

from __future__ import annotations

from pathlib import Path

import pytest

from w2s_lf.errors import W2SError
from w2s_lf.launch import placement
from w2s_lf.launch.placement import ClusterShape
from w2s_lf.run.recipe import parse_recipe

RECIPE = Path(__file__).resolve().parents[2] / "recipes/gsm8k_llama2_7b_to_llama2_70b.yaml"
LORA_70B = {"finetuning_type": "lora", "bf16": True, "per_device_train_batch_size": 1, "global_batch_size": 64}


@pytest.fixture
def gpus_of(monkeypatch):
    """This machine's GPUs as nvidia-smi would report them (none here)."""
    def set_memory(gb: float, measured: bool = True):
        monkeypatch.setattr(placement, "gpu_memory", lambda: (gb * 1e9, measured))
    set_memory(80)
    return set_memory


def test_a_70b_lora_fits_one_node_of_eight_80gb_gpus(gpus_of):
    two = ClusterShape("ray", nodes=2, gpus_per_node=8)
    shape, why = two.for_training(LORA_70B, "meta-llama/Llama-2-70b-hf")
    assert shape.nodes == 1 and shape.training_world({}, LORA_70B) == (8, 1)
    assert why.startswith("training on 1 of 2 nodes: the model (~140.0 GB) fits one node's 8 x 80.0 GB GPUs;")
    assert "cluster.training_nodes: 2" in why
    # a full fine-tune (weights, gradients and Adam: 16 bytes a parameter) does not
    full, why = two.for_training({**LORA_70B, "finetuning_type": "full"}, "meta-llama/Llama-2-70b-hf")
    assert full.nodes == 2 and "needs more than one node's" in why
    gpus_of(24, measured=False)                           # 8 x 24 GB: half of 192 GB < 140 GB
    assert two.for_training(LORA_70B, "meta-llama/Llama-2-70b-hf")[0].nodes == 2
    assert "(assumed)" in two.for_training(LORA_70B, "meta-llama/Llama-2-70b-hf")[1]


def test_the_recipe_key_overrides_and_nothing_is_chosen_without_a_choice(gpus_of):
    shape, why = ClusterShape("slurm", 4, 8, training_nodes=2).for_training(LORA_70B, "meta-llama/Llama-2-7b-hf")
    assert shape.nodes == 2 and why == "training on 2 of 4 nodes (cluster.training_nodes)"
    for one in (ClusterShape("local", 1, 8), ClusterShape("ray", 2, 0)):   # one node; CPU ranks
        assert one.for_training(LORA_70B, "meta-llama/Llama-2-70b-hf") == (one, "")
    unknown, why = ClusterShape("ray", 2, 8).for_training(LORA_70B, "some/model")
    assert unknown.nodes == 2 and "size of some/model is unknown" in why
    with pytest.raises(W2SError, match=r"cluster.training_nodes: must be between 1 and cluster.nodes \(2\), got 3"):
        parse_recipe({"name": "x", "cluster": {"backend": "ray", "nodes": 2, "training_nodes": 3}})


def test_one_node_jobs_stay_on_one_node():
    """Ray: all ranks on one node for certain; srun: on the rendezvous host, which hosts the store."""
    ray_job = ClusterShape("ray", 1, 8).launcher({}, LORA_70B)
    assert ray_job.workers == 8 and ray_job.placement == "STRICT_PACK"
    assert ClusterShape("ray", 2, 8).launcher({}, LORA_70B).placement == "PACK"
    from w2s_lf.launch.slurm import SrunJob, srun_torchrun_command
    assert "--nodelist=gpu01" in srun_torchrun_command("a.yaml", SrunJob(1, 8, rdzv_host="gpu01"))
    assert not any(a.startswith("--nodelist") for a in srun_torchrun_command("a.yaml", SrunJob(2, 8, rdzv_host="gpu01")))


def test_a_stage_trains_where_the_plan_placed_it(tmp_path, monkeypatch, gpus_of):
    """The executor launches a training stage with the plan's shape, not the cluster's."""
    from w2s_lf.lf import train as train_module
    from w2s_lf.run.execute import build_plan
    from w2s_lf.run.recipe import load_recipe
    launched = {}
    monkeypatch.setattr(train_module, "train", lambda config, path, log, launcher, **kw: launched.update(launcher=launcher))
    for nodes, want in ((None, (8, "STRICT_PACK")), (2, (16, "PACK"))):
        recipe = load_recipe(RECIPE, {"run_dir": str(tmp_path / "run"), "cluster.backend": "ray", "cluster.nodes": 2,
                                      "cluster.training_nodes": nodes})
        stages = {s.name: s for s in build_plan(recipe, progress=False)}
        gold = stages["baseline_gold"]
        gold.run(gold)
        assert (launched["launcher"].workers, launched["launcher"].placement) == want
        assert gold.placement == f"{want[0]} process(es) over {want[0] // 8} node(s), a Ray train job"
        assert stages["strong_generate"].placement == "2 engine(s) x TP 8 on 2 node(s) via ray"   # generation: every node
