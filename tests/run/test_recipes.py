"""Shipped recipes load and plan (the 70B dry run's configs are validated in test_validate.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from w2s_lf.errors import W2SError
from w2s_lf.run.execute import build_plan
from w2s_lf.run.recipe import load_recipe, parse_recipe

RECIPES = sorted((Path(__file__).resolve().parents[2] / "recipes").glob("*.yaml"))


def test_recipes_shipped():
    names = {p.stem for p in RECIPES}
    assert "cpu_demo" in names
    for task in ("gsm8k", "math"):
        for weak in ("llama2_7b", "gemma_2b", "mistral_7b"):
            assert f"{task}_{weak}_to_llama2_70b" in names


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_every_recipe_loads_and_plans(path):
    recipe = load_recipe(path)
    assert recipe.name == path.stem
    stages = [s.name for s in build_plan(recipe, progress=False)]
    assert stages[0] == "prepare" and stages[-1] == "report"
    assert "mplus_sft_iter1" in stages and ("pairs" in stages) == bool(recipe.stage2.methods)
    assert ("mplus_sft_iter2" in stages) == (recipe.stage1.iterations == 2)
    assert len(stages) == len(set(stages))


PAPER = [p for p in RECIPES if p.stem.endswith("_to_llama2_70b")]


def test_paper_recipes_select_with_the_papers_grader_and_others_keep_robust():
    assert len(PAPER) == 6
    for path in RECIPES:
        recipe = load_recipe(path)
        assert recipe.grader == ("seed" if path in PAPER else "robust"), path.stem
        if path in PAPER:
            assert recipe.evaluate.k == 10 and recipe.stage1.keep_both_empty == (recipe.task == "gsm8k")


def test_paper_recipes_top_up_math_as_the_released_sets():
    """Released MATH sets: Llama-2-7B its 334 consistent questions (no top-up), Gemma-2B 1,000,
    Mistral-7B 2,000 (docs/method.md, "MATH top-up")."""
    targets = {load_recipe(p).name: load_recipe(p).stage1.target_count for p in PAPER if p.stem.startswith("math_")}
    assert targets == {"math_llama2_7b_to_llama2_70b": None, "math_gemma_2b_to_llama2_70b": 1000,
                       "math_mistral_7b_to_llama2_70b": 2000}


def test_pass_at_k_samples_every_evaluated_model_on_its_own_engine():
    recipe = load_recipe(RECIPES[0].parent / "gsm8k_llama2_7b_to_llama2_70b.yaml")
    stages = build_plan(recipe, progress=False)
    jobs = [(s.name, job) for s in stages for kind, config, _ in s.configs if kind == "generate"
            for job in config["jobs"] if job["split"] == "test"]
    greedy = {Path(j["output"]).name.removesuffix(".jsonl"): (stage, j["adapter"]) for stage, j in jobs
              if j["mode"] == "zero-shot"}
    sampled = {Path(j["output"]).name.removesuffix(".samples.jsonl"): (stage, j["adapter"]) for stage, j in jobs
               if j["mode"] == "sample"}
    assert greedy == sampled     # same model, same engine, same adapter
    assert set(sampled) == {"weak", "strong_full_weak", "strong_gold", "mplus_iter1", "mplus_iter2", "mpro_dpo", "mpro_orpo"}
    assert {(j["k"], j["temperature"]) for _, j in jobs if j["mode"] == "sample"} == {(10, 1.0)}
    report = next(s for s in stages if s.name == "report")
    assert {f"eval/{key}.samples.jsonl" for key in sampled} <= set(report.inputs)
    stage1 = [s for s in stages if s.name.startswith("stage1")]
    assert len(stage1) == 2 and all("--keep-both-empty" in s.commands[0] for s in stage1)


@pytest.mark.parametrize("data, overrides, message", [
    ({"name": "x", "stage2": {"kk": 1}}, {}, "stage2.kk: unknown key (did you mean 'k'?)"),
    ({"name": "x"}, {"stage2.k": "ten"}, "stage2.k: expected int, got str 'ten'"),
    ({"name": "x", "task": "gsm"}, {}, "task: 'gsm' is not one of"),
    ({"name": "x", "data": {"source": "local"}}, {}, "data.from_dir: required"),
    ({"name": "x", "stage2": {"methods": ["ppo"]}}, {}, "stage2.methods: unknown method 'ppo'"),
    ({"task": "gsm8k"}, {}, "missing required key 'name'"),
    ({"name": "x", "training": {"preset": "13b"}}, {}, "training.preset: '13b' is not one of"),
    ({"name": "x", "generation": {"prompt_style": "chat"}, "grader": "seed"}, {}, "chat models answer in \\boxed{}"),
])
def test_recipe_errors_name_the_key(data, overrides, message):
    with pytest.raises(W2SError) as err:
        parse_recipe(data, overrides)
    assert message in str(err.value)


def test_given_weak_adapter_is_used_from_where_it_is(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_adapter").mkdir()
    recipe = parse_recipe({"name": "x", "weak": {"model": "tiny-llama", "train": False, "adapter": "my_adapter"},
                           "run_dir": "runs/x"})
    stages = {s.name: s for s in build_plan(recipe, progress=False)}
    assert "weak_sft" not in stages
    gen = stages["weak_generate"]
    adapter = str(tmp_path / "my_adapter")
    (_, jobs, _), = gen.configs
    assert adapter in gen.inputs and {j["adapter"] for j in jobs["jobs"]} == {adapter}
    from w2s_lf.run.manifest import Run
    assert Run(recipe.run_path, {}).path(adapter) == tmp_path / "my_adapter"   # outside the run


def test_generation_is_grouped_by_engine_and_options_reach_the_engine():
    recipe = parse_recipe({"name": "x", "strong": {"model": "big", "tensor_parallel_size": 4},
                           "generation": {"options": {"enforce_eager": True}}})
    stages = {s.name: s for s in build_plan(recipe, progress=False)}
    generating = [n for n, s in stages.items() if s.params["kind"] == "generate"]
    assert generating == ["weak_generate", "strong_generate", "mplus_generate", "mpro_evaluate"]
    (_, strong, path), = stages["strong_generate"].configs
    assert path.endswith("configs/generate/strong_generate.yaml") and path in stages["strong_generate"].commands[0]
    assert strong["engine"]["model"] == "big" and strong["engine"]["tensor_parallel_size"] == 4
    assert strong["engine"]["options"] == {"enforce_eager": True}
    outputs = {j["output"].split("/x/")[-1]: j for j in strong["jobs"]}
    assert set(outputs) == {"gen/strong_icl_train_2.jsonl", "eval/strong_full_weak.jsonl", "eval/strong_gold.jsonl"}
    assert outputs["gen/strong_icl_train_2.jsonl"]["mode"] == "few-shot"
    assert outputs["eval/strong_gold.jsonl"]["adapter"].endswith("models/strong_gold")
    # the baselines are trained before the strong engine starts, so it can serve them
    order = list(stages)
    assert order.index("baseline_gold") < order.index("strong_generate")


def test_without_stage_ii_methods_m_plus_draws_no_samples():
    """The k samples per train_2 question feed stage II's votes only: a recipe without methods
    evaluates M_plus and stops (the CPU demo's default), and the plans with methods are as before."""
    def jobs(methods):
        recipe = parse_recipe({"name": "x", "stage2": {"methods": methods}})
        stages = {s.name: s for s in build_plan(recipe, progress=False)}
        (_, mplus, _), = stages["mplus_generate"].configs
        return [j["output"].split("/x/")[-1] for j in mplus["jobs"]], set(stages)
    outputs, names = jobs([])
    assert outputs == ["eval/mplus_iter1.jsonl"] and not names & {"vote", "pairs", "mpro_evaluate"}
    outputs, names = jobs(["orpo"])
    assert outputs == ["gen/mplus_samples_train_2.jsonl", "eval/mplus_iter1.jsonl"] and {"vote", "pairs"} <= names


def test_placement_is_not_part_of_a_stage_key(tmp_path):
    """Moving a run between a laptop, a node and a cluster (or another folder) keeps its stages done."""
    def params(**over):
        from w2s_lf.run.manifest import portable
        recipe = parse_recipe({"name": "x", "run_dir": str(tmp_path / over.pop("dir", "a"))}, over)
        return {s.name: portable(s.params, recipe.run_path) for s in build_plan(recipe, progress=False)}
    base = params()
    moved = params(**{"dir": "b", "cluster.backend": "ray", "cluster.nodes": 2, "cluster.gpus_per_node": 8,
                      "strong.tensor_parallel_size": 8, "training.launch.nproc_per_node": 8})
    assert moved == base
    assert params(**{"stage2.k": 3}) != base


@pytest.mark.parametrize("override, message", [
    ({"training.launch.nnodes": 2}, "training.launch.nnodes: several nodes are one `cluster`"),
    ({"training.launch.node_rank": 1}, "training.launch.node_rank"),
    ({"generation.options.tensor_parallel_size": 8}, "strong.tensor_parallel_size"),
    ({"cluster.backend": "k8s"}, "cluster.backend: 'k8s' is not one of"),
    ({"cluster.nodes": 2}, "cluster.nodes: several nodes need cluster.backend ray or slurm"),
])
def test_placement_errors_name_the_key(override, message):
    with pytest.raises(W2SError, match=re.escape(message)):
        parse_recipe({"name": "x"}, override)


def test_training_template_follows_the_prompt_style_and_the_override():
    def templates(data):
        stages = build_plan(parse_recipe({"name": "x", "weak": {"model": "tiny-llama"}, **data}), progress=False)
        return {s.name: s.params["config"]["template"] for s in stages if s.params.get("kind") in ("train", "export")}
    assert set(templates({}).values()) == {"w2s_vanilla"}
    chat = templates({"generation": {"prompt_style": "chat"}})
    assert set(chat.values()) == {"smollm2"} and {"weak_sft", "mplus_merge", "dpo"} <= set(chat)
    assert set(templates({"generation": {"prompt_style": "chat"}, "training": {"template": "chatml"}}).values()) == {"chatml"}
    with pytest.raises(W2SError, match="no LLaMA-Factory chat template known for model 'my-model'"):
        templates({"strong": {"model": "my-model"}, "generation": {"prompt_style": "chat"}})


def test_overrides_are_dotted_and_typed():
    recipe = parse_recipe({"name": "x"}, {"stage2.k": 4, "stage2.temperature": 0.7, "run_dir": "/tmp/r"})
    assert recipe.stage2.k == 4 and recipe.stage2.temperature == 0.7 and str(recipe.run_path) == "/tmp/r"


def test_cli_reports_recipe_error_with_file(tmp_path, cli):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nstage3: {}\n")
    result = cli("run", bad, "--dry-run")
    assert result.exit_code == 2
    assert f"{bad}: stage3: unknown key (did you mean 'stage2'?)" in result.output


def test_a_global_batch_that_does_not_divide_stops_the_run_before_any_stage(tmp_path, cli):
    recipe = Path(__file__).resolve().parents[2] / "recipes/gsm8k_llama2_7b_to_llama2_70b.yaml"
    run_dir = tmp_path / "run"
    for dry in (["--dry-run"], []):
        result = cli("run", recipe, f"run_dir={run_dir}", "training.launch.nproc_per_node=3", *dry)
        assert result.exit_code == 2
        assert "stage weak_sft: global_batch_size 16 is not a multiple of per_device_train_batch_size 2 x 3" \
            in result.output
        assert not run_dir.exists()


def test_the_dry_run_is_a_plan_with_gpus_disk_and_placement(tmp_path, cli, monkeypatch):
    from huggingface_hub import constants

    from w2s_lf.launch import placement
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))   # an empty model cache
    monkeypatch.setattr(placement, "gpu_memory", lambda: (80e9, False))   # whatever GPUs run the tests
    recipe = Path(__file__).resolve().parents[2] / "recipes/gsm8k_llama2_7b_to_llama2_70b.yaml"
    plan = cli("run", recipe, f"run_dir={tmp_path / 'run'}", "--dry-run").output
    assert "w2s_lf.lf.cli train" in plan and "NPROC_PER_NODE=8 FORCE_TORCHRUN=1" in plan
    assert "w2s_lf.lf.cli export" in plan and "generate --jobs" in plan
    assert "## [7/22] strong_generate  [to run; 8 GPU(s); writes ~" in plan and "1 engine(s) x TP 8 on this node" in plan
    assert "## [3/22] weak_generate  [to run; 8 GPU(s)" in plan and "8 engine(s) x TP 1" in plan
    # a 70B merge: on this machine's GPUs (export_device: auto), or in its RAM
    assert re.search(r"mplus_merge  \[to run; 8 GPU\(s\); writes ~1\d\d\.\d GB; this machine: its GPUs "
                     r"\(export_device: auto\), or its CPU with ~1\d\d\.\d GB of RAM if it has none\]", plan)
    assert "# disk: ~" in plan
    # no Llama-2 in the (empty) Hugging Face cache: the download is counted and said
    assert re.search(r"# model cache: ~154\.0 GB more in .*: meta-llama/Llama-2-7b-hf, meta-llama/Llama-2-70b-hf "
                     r"not cached yet .*Llama-2 is gated", plan)
    assert "# placement:" not in plan and "# training on" not in plan   # one node: nothing to choose
    ray = cli("run", recipe, f"run_dir={tmp_path / 'run'}", "cluster.backend=ray", "cluster.nodes=2", "--dry-run").output
    assert "# cluster: ray, 2 node(s) x 8 GPU(s)" in ray
    assert "# placement: generation spreads over every node; a training stage trains on one node" in ray
    # 70B LoRA fits one node of 8 x 80 GB: trained there, not over the interconnect
    assert "8 process(es) over 1 node(s), a Ray train job" in ray and "python -m w2s_lf.launch.ray_job" in ray
    assert "16 process(es)" not in ray and "--placement STRICT_PACK" in ray
    assert "# training on 1 of 2 nodes: the model (~140.0 GB) fits one node's 8 x 80.0 GB GPUs" in ray
    assert "2 engine(s) x TP 8 on 2 node(s) via ray" in ray and "16 engine(s) x TP 1 on 2 node(s)" in ray
    spread = cli("run", recipe, f"run_dir={tmp_path / 'run'}", "cluster.backend=ray", "cluster.nodes=2",
                 "cluster.training_nodes=2", "--dry-run").output
    assert "16 process(es) over 2 node(s), a Ray train job" in spread and "# training on 2 of 2 nodes" in spread
    assert "x 8 process(es) per node x 2 node(s)" in spread   # the 70B global batch over the cluster
    weak = spread[spread.index("] weak_sft"):spread.index("] weak_generate")]   # a batch of 16 fills one node
    assert "8 process(es) over 1 node(s)" in weak and "--workers 8" in weak


def test_the_disk_check_counts_model_downloads(tmp_path, monkeypatch):
    from huggingface_hub import constants

    from w2s_lf.run.execute import check_disk, model_downloads
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    recipe = parse_recipe({"name": "x", "weak": {"model": "meta-llama/Llama-2-7b-hf"},
                           "strong": {"model": "meta-llama/Llama-2-70b-hf"}})
    assert [(m, round(b / 1e9)) for m, b in model_downloads(recipe)] == \
        [("meta-llama/Llama-2-7b-hf", 14), ("meta-llama/Llama-2-70b-hf", 140)]
    snapshot = tmp_path / "hub/models--meta-llama--Llama-2-7b-hf/snapshots/abc"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (tmp_path / "hub/models--meta-llama--Llama-2-7b-hf/refs").mkdir()
    (tmp_path / "hub/models--meta-llama--Llama-2-7b-hf/refs/main").write_text("abc")
    assert [m for m, _ in model_downloads(recipe)] == ["meta-llama/Llama-2-70b-hf"]   # cached: nothing to fetch
    assert model_downloads(parse_recipe({"name": "x", "weak": {"model": "tiny-llama"}})) == []
    import shutil
    free = shutil.disk_usage(tmp_path).free
    check_disk(tmp_path / "run", free * 0.4, free * 0.4, tmp_path / "hub")     # each fits, both fit
    with pytest.raises(W2SError, match=r"the run needs ~.* \(the run folder ~.*, model downloads ~.*\)"):
        check_disk(tmp_path / "run", free * 0.6, free * 0.6, tmp_path / "hub")   # each fits, not both
