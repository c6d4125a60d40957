"""Shipped recipes load and plan (the 70B dry run's configs are validated in test_validate.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from w2s_lf.errors import W2SError
from w2s_lf.recipe import load_recipe, parse_recipe
from w2s_lf.runner import build_plan

RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.yaml"))


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
    assert "mplus_sft_iter1" in stages and "pairs" in stages
    assert ("mplus_sft_iter2" in stages) == (recipe.stage1.iterations == 2)
    assert len(stages) == len(set(stages))


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
    assert str(tmp_path / "my_adapter") in gen.inputs and f"--adapter {tmp_path / 'my_adapter'}" in gen.commands[0]
    from w2s_lf.pipeline import Run
    assert Run(recipe.run_path, {}).path(gen.inputs[1]) == tmp_path / "my_adapter"   # outside the run


def test_generation_options_become_generate_flags():
    recipe = parse_recipe({"name": "x", "generation": {"options": {
        "tensor_parallel_size": 8, "prefix_caching": False, "enforce_eager": True}}})
    cmd = {s.name: s for s in build_plan(recipe, progress=False)}["weak_generate"].commands[0]
    assert "--tensor-parallel-size 8" in cmd and "--no-prefix-caching" in cmd and "--enforce-eager" in cmd


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
    recipe = Path(__file__).resolve().parents[1] / "recipes/gsm8k_llama2_7b_to_llama2_70b.yaml"
    run_dir = tmp_path / "run"
    for dry in (["--dry-run"], []):
        result = cli("run", recipe, f"run_dir={run_dir}", "training.launch.nproc_per_node=3", *dry)
        assert result.exit_code == 2
        assert "stage weak_sft: global_batch_size 16 is not a multiple of per_device_train_batch_size 2 x 3" \
            in result.output
        assert not run_dir.exists()
