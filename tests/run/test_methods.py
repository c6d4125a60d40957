"""Beyond the paper: several weak supervisors, repeated rounds, the preference-loss menu and the
confident-weak baseline, planned and run (docs/method.md, "Beyond the paper")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from w2s_lf.errors import W2SError
from w2s_lf.run.execute import build_plan, run_recipe
from w2s_lf.run.recipe import load_recipe, parse_recipe

REPO = Path(__file__).resolve().parents[2]

# Two weak supervisors (the tiny GSM model trained on train_1, and as it is), a loss with a
# reference (KTO, on unpaired data, trained again in round 2) and one without (SimPO, one round),
# the confident-weak baseline. Kept to the stages that differ from the paper's pipeline (no gold
# ceiling: tests/run cover it), so that it runs in a few minutes.
TINY = {
    "name": "tiny_methods",
    "task": "gsm8k",
    "data": {"source": "embedded", "sizes": [40, 16, 8]},
    "weak": [{"name": "gsm", "model": "tiny-gsm"}, {"name": "base", "model": "tiny-gsm", "train": False}],
    "strong": {"model": "tiny-gsm"},
    "generation": {"backend": "hf", "max_new_tokens": 48, "batch_size": 4},
    "training": {"preset": "cpu", "overrides": {"max_steps": 2, "cutoff_len": 256}},
    "stage1": {"target_count": 8},
    "stage2": {"k": 3, "keep_threshold": 0.0, "flip_threshold": 0.0, "methods": ["simpo", "kto"], "rounds": 2,
               "round_methods": ["kto"]},
    "baselines": ["full_weak", "confident_weak"],
    "confident_weak": {"k": 3, "min_agreement": 0.0},
}


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_two_weak_models_two_rounds_run_to_the_end(tmp_path):
    from w2s_lf.models.builtin import fetch
    fetch("tiny-gsm")
    run = tmp_path / "run"
    outcomes = run_recipe(parse_recipe(TINY, {"run_dir": str(run)}), progress=False, echo=lambda _: None)
    assert [o for _, o in outcomes] == ["done"] * len(outcomes)
    manifest = json.loads((run / "manifest.json").read_text())

    # the combined weak answers: per question the majority of the two (a tie: the first model's)
    gsm, base = _lines(run / "gen/weak_gsm_train_2.jsonl"), _lines(run / "gen/weak_base_train_2.jsonl")
    combined = _lines(run / "gen/weak_train_2.jsonl")
    assert [c["response"] for c in combined] == [g["response"] for g in gsm]   # two models: ties go to the first
    assert {c["weak_model"] for c in combined} == {"gsm"} and len(base) == 16
    assert not (run / "models/weak_base").exists()                           # given as it is: not trained
    assert len(_lines(run / "eval/weak.jsonl")) == 8

    # the confident-weak baseline kept what its stats say, from 2 x 3 pooled samples
    stats = manifest["stages"]["confident_weak"]["stats"]
    assert stats["samples_per_question"] == [6] and stats["kept"] == len(json.loads(
        (run / "data/gsm8k_confident_weak.json").read_text()))

    # round 2 trains the method of round_methods from its round-1 model, on pairs from that
    # model's samples; SimPO stops after round 1
    cfg = yaml.safe_load((run / "configs/kto_r2.yaml").read_text())
    assert cfg["model_name_or_path"].endswith("models/mpro_kto_merged") and cfg["stage"] == "kto"
    assert (run / "models/mpro_kto_r2/adapter_model.safetensors").exists()
    assert len(_lines(run / "gen/mpro_kto_r2_samples_train_2.jsonl")) == 16
    assert "simpo_r2" not in manifest["stages"] and not (run / "models/mpro_simpo_r2").exists()
    kto = json.loads((run / "data/gsm8k_kto.json").read_text())
    assert kto and {e["kto_tag"] for e in kto} <= {True, False}
    assert yaml.safe_load((run / "configs/kto.yaml").read_text())["stage"] == "kto"

    metrics = json.loads((run / "eval/metrics.json").read_text())
    assert set(metrics) >= {"weak", "weak_gsm", "weak_base", "strong_confident_weak", "mpro_simpo",
                            "mpro_kto", "mpro_kto_r2"} and "mpro_simpo_r2" not in metrics
    report = (run / "report.md").read_text()
    assert "## Methods compared" in report and (run / "comparison.png").is_file()
    for row in ("| confident weak |", "| M_pro KTO round 2 |", "| weak gsm |"):
        assert row in report, row


# -- plans (fast) ---------------------------------------------------------------------------

def _plan(recipe):
    return build_plan(recipe, progress=False)


def test_70b_plan_with_three_weak_models_and_two_rounds(tmp_path, monkeypatch):
    """Each stage once, each weak model on its own engine at its own TP, later rounds on the
    previous round's merged model."""
    monkeypatch.chdir(tmp_path)
    weak = [{"name": "llama", "model": "meta-llama/Llama-2-7b-hf"},
            {"name": "gemma", "model": "google/gemma-2b"},
            {"name": "mistral", "model": "mistralai/Mistral-7B-v0.1", "tensor_parallel_size": 2}]
    recipe = load_recipe(REPO / "recipes/gsm8k_llama2_7b_to_llama2_70b.yaml",
                         {"weak": weak, "stage2.rounds": 2, "cluster.gpus_per_node": 8})
    stages = {s.name: s for s in _plan(recipe)}
    names = [s.name for s in _plan(recipe)]
    assert len(names) == len(set(names))
    for w in weak:
        gen = stages[f"weak_generate_{w['name']}"].configs[0][1]
        assert gen["engine"]["model"] == w["model"] and gen["engine"]["tensor_parallel_size"] == w.get(
            "tensor_parallel_size", 1)
        assert [j["output"].rsplit("/", 2)[-2:] for j in gen["jobs"]][0] == ["gen", f"weak_{w['name']}_train_2.jsonl"]
        train = stages[f"weak_sft_{w['name']}"].params["config"]
        assert train["model_name_or_path"] == w["model"] and train["output_dir"].endswith(f"models/weak_{w['name']}")
    combine = stages["weak_combine"].commands[0]
    assert combine.index("llama=") < combine.index("gemma=") < combine.index("mistral=")
    assert stages["strong_generate"].configs[0][1]["engine"]["model"] == "meta-llama/Llama-2-70b-hf"
    # round 2 samples from every round-1 model on one engine: their adapters share the merged M_plus
    sampler = stages["mpro_generate_r2"].configs[0][1]
    assert sampler["engine"]["model"].endswith("models/mplus_iter2_merged") and sampler["engine"]["tensor_parallel_size"] == 8
    assert [(j["adapter"].rsplit("/", 1)[1], j["k"]) for j in sampler["jobs"]] == [("mpro_dpo", 10), ("mpro_orpo", 10)]
    for method in ("dpo", "orpo"):
        merge = stages[f"mpro_{method}_merge_r2"].params["config"]
        assert merge["model_name_or_path"].endswith("models/mplus_iter2_merged")
        assert merge["adapter_name_or_path"].endswith(f"models/mpro_{method}")
        assert stages[f"{method}_r2"].params["config"]["model_name_or_path"].endswith(f"models/mpro_{method}_merged")
        evaluator = stages[f"mpro_{method}_evaluate_r2"].configs[0][1]
        assert evaluator["engine"]["model"].endswith(f"models/mpro_{method}_merged")
        assert evaluator["jobs"][0]["adapter"].endswith(f"models/mpro_{method}_r2")
    # the weak side of every round's pairs is the combined weak answers
    assert "gen/weak_train_2.jsonl" in stages["pairs_dpo_r2"].inputs


def test_adding_rounds_weak_models_and_baselines_keeps_every_stage_key(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = load_recipe(REPO / "recipes/cpu_demo.yaml", {"stage2.methods": ["orpo"]})
    more = load_recipe(REPO / "recipes/cpu_demo.yaml", {"stage2.methods": ["orpo"], "stage2.rounds": 3,
                                                       "baselines": ["full_weak", "gold", "confident_weak"]})
    before = {s.name: s.params for s in _plan(base)}
    after = {s.name: s.params for s in _plan(more)}
    changed = [n for n in before if before[n] != after.get(n)]
    # weak_generate gains the weak samples job, strong_generate the new baseline's test
    # evaluation (the engine that serves every baseline's adapter); nothing else moves
    assert changed == ["weak_generate", "strong_generate"], changed
    assert {"orpo_r2", "orpo_r3", "mpro_generate_r2", "mpro_orpo_generate_r3", "mpro_orpo_evaluate_r3",
            "baseline_confident_weak"} <= set(after)
    jobs = [j["output"] for j in next(s for s in _plan(more) if s.name == "weak_generate").configs[0][1]["jobs"]]
    assert jobs[-1].endswith("gen/weak_samples_train_2.jsonl")   # on the weak engine: no extra engine start


@pytest.mark.parametrize("change, fragment", [
    ({"stage2.methods": ["dpo", "sipmo"]}, "did you mean 'simpo'"),
    ({"stage2.rounds": 0}, "stage2.rounds: must be at least 1"),
    ({"stage2.methods": ["kto"], "stage2.format": "legacy"}, "no KTO"),
    ({"stage2.methods": [], "stage2.rounds": 2}, "stage2.methods is empty"),
    ({"baselines": ["gold", "confident_weak"]}, "list both"),
    ({"stage2.round_methods": ["orpo"]}, "set stage2.rounds to 2 or more"),
    ({"stage2.methods": ["orpo"], "stage2.rounds": 2, "stage2.round_methods": ["dpo"]},
     "'dpo' is not one of stage2.methods ['orpo']"),
    ({"stage2.methods": ["orpo"], "stage2.rounds": 2, "stage2.round_methods": []}, "round_methods: empty"),
    ({"confident_weak.min_agreement": 1.5}, "min_agreement"),
    ({"weak": [{"name": "a", "model": "tiny-llama"}]}, "two or more"),
    ({"weak": [{"name": "a", "model": "tiny-llama"}, {"name": "a", "model": "tiny-gsm"}]}, "name one twice"),
    ({"weak": [{"name": "a/b", "model": "tiny-llama"}, {"name": "c", "model": "tiny-gsm"}]}, "weak[0].name"),
    ({"weak": [{"model": "tiny-llama"}, {"name": "c", "model": "tiny-gsm"}]}, "weak[0].name"),
    ({"weak": [{"name": "a", "modle": "x"}, {"name": "c"}]}, "weak[0].modle: unknown key (did you mean 'model'?)"),
])
def test_bad_method_recipes_fail_in_one_line(change, fragment):
    with pytest.raises(W2SError) as e:
        load_recipe(REPO / "recipes/cpu_demo.yaml", change)
    assert fragment in str(e.value) and "\n" not in str(e.value)


def test_one_weak_model_and_the_listed_keys_are_unchanged():
    recipe = load_recipe(REPO / "recipes/cpu_demo.yaml")
    assert recipe.to_dict()["weak"]["model"] == "smollm2-weak" and "name" not in recipe.to_dict()["weak"]
    listed = parse_recipe({"name": "x", "weak": TINY["weak"]})
    assert [w.name for w in listed.weak_models] == ["gsm", "base"]
    assert listed.evaluations() >= {"weak", "weak_gsm", "weak_base"}


def test_every_round_and_method_is_evaluated():
    recipe = parse_recipe({"name": "x", "stage2": {"methods": ["dpo", "kto"], "rounds": 3}})
    assert {"mpro_dpo", "mpro_dpo_r2", "mpro_dpo_r3", "mpro_kto_r3"} <= recipe.evaluations()
    only = parse_recipe({"name": "x", "stage2": {"methods": ["dpo", "kto"], "rounds": 2},
                         "evaluate": {"models": ["mpro_kto"]}})
    assert only.evaluations() == {"mpro_kto", "mpro_kto_r2"}
    some = parse_recipe({"name": "x", "stage2": {"methods": ["dpo", "kto"], "rounds": 3, "round_methods": ["kto"]}})
    assert {"mpro_dpo", "mpro_kto", "mpro_kto_r2", "mpro_kto_r3"} <= some.evaluations()
    assert not {"mpro_dpo_r2", "mpro_dpo_r3"} & some.evaluations()


def test_round_methods_plan_later_rounds_for_those_methods_only(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    recipe = load_recipe(REPO / "recipes/cpu_demo.yaml", {"stage2.methods": ["dpo", "orpo", "simpo"],
                                                          "stage2.rounds": 2, "stage2.round_methods": ["orpo"]})
    names = {s.name for s in _plan(recipe)}
    assert {"dpo", "orpo", "simpo", "orpo_r2", "mpro_orpo_merge_r2", "mpro_orpo_evaluate_r2"} <= names
    assert not {n for n in names if n.endswith("_r2") and ("dpo" in n or "simpo" in n)}
    sampler = next(s for s in _plan(recipe) if s.name == "mpro_generate_r2").configs[0][1]
    assert [j["adapter"].rsplit("/", 1)[1] for j in sampler["jobs"]] == ["mpro_orpo"]
