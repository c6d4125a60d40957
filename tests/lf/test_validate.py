"""`w2s-lf validate`: every shipped config passes; a broken config per known pitfall fails with a fix."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from support.fake_gpus import fake_gpus, torchrun_env
from support.w2s_root import make_root

from w2s_lf.io import write_json
from w2s_lf.lf.configs import make_train_config
from w2s_lf.lf.validate import format_check, validate_config


@pytest.fixture(scope="module")
def root(tmp_path_factory, tiny_model):
    """After prepare and the builders; models/smollm2-135m is the tiny model (a stand-in)."""
    r = make_root(tmp_path_factory.mktemp("root"), tiny_model)
    broken = r / "data" / "broken"
    write_json(broken / "q.json", [{"question": "Q", "answer": "A"}])
    write_json(broken / "noinput.json", [{"instruction": "Q", "output": "A"}])
    write_json(broken / "turns.json", [{"conversations": [{"from": "human", "value": "Q"},
                                                          {"from": "human", "value": "Q2"}]}])
    write_json(broken / "hist.json", [{"instruction": "Q", "input": "", "chosen": "a", "rejected": "b",
                                       "history": [["q0", "a0"]]}])
    write_json(broken / "dataset_info.json", {
        "bad_columns": {"file_name": "q.json", "columns": {"prompt": "content", "response": "output"}},
        "no_input": {"file_name": "noinput.json",
                     "columns": {"prompt": "instruction", "query": "input", "response": "output"}},
        "odd_turns": {"file_name": "turns.json", "formatting": "sharegpt", "columns": {"messages": "conversations"}},
        "multi_turn_dpo": {"file_name": "hist.json", "ranking": True,
                           "columns": {"prompt": "instruction", "query": "input", "chosen": "chosen",
                                       "rejected": "rejected", "history": "history"}},
        "missing_file": {"file_name": "nope.json", "columns": {"prompt": "content", "response": "output"}},
    })
    from w2s_lf.builders.files import pairs_files
    pairs_files(r / "runs/weak.jsonl", r / "runs/samples.jsonl", r / "data/embedded", "legacy_pairs", fmt="legacy")
    return r


@pytest.fixture
def at_root(root, monkeypatch):
    monkeypatch.chdir(root)
    return root


SHIPPED = sorted(p.name for p in (Path(__file__).resolve().parents[2] / "llama_factory_configs").glob("*.yaml"))


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_config_passes(at_root, name):
    report = validate_config(f"llama_factory_configs/{name}", dry_run=True)
    assert report.ok, format_check(report)
    if name.endswith("70b.yaml") and not name.startswith("export"):
        assert any("DeepSpeed" in m for m in report.not_checked)
        assert any("bf16" in m for m in report.not_checked)
    if name in ("cpu_sft.yaml", "cpu_weak_sft.yaml"):
        assert any("dry run:" in m and "0 dropped" in m for m in report.info), format_check(report)


@pytest.mark.slow
def test_gpu_config_dry_run_with_stand_in_tokenizer(at_root, tiny_model):
    report = validate_config("llama_factory_configs/dpo_70b.yaml", dry_run=True, tokenizer=str(tiny_model))
    assert report.ok, format_check(report)
    assert any("dry run:" in m for m in report.info)


GPU_CONFIGS = [n for n in SHIPPED if not n.startswith("cpu_")]
NODES = [(0, False), (1, False), (8, False), (8, True)]   # (GPUs, inside torchrun)


def _on_node(gpus: int, in_torchrun: bool, monkeypatch, validate):
    """`validate()` as on a node with `gpus` GPUs (and as a torchrun worker); checks that the
    distributed environment is left as it was and torch.distributed never started."""
    import torch.distributed as dist
    with monkeypatch.context() as m:
        env = torchrun_env() if in_torchrun else {}
        for key, value in env.items():
            m.setenv(key, value)
        with fake_gpus(gpus):
            result = validate()
        assert all(os.environ.get(k) == v for k, v in env.items())
    assert not dist.is_initialized()
    return result


def _summary(report):
    return report.errors, report.warnings, report.not_checked


def test_simulated_node_reproduces_llamafactory_refusal(at_root):
    """The simulation is real: on 8 fake GPUs LLaMA-Factory's own parser refuses a plain
    in-process parse, which is what `validate` used to do."""
    from llamafactory.hparams import get_train_args
    cfg = yaml.safe_load(Path("llama_factory_configs/weak_sft_7b.yaml").read_text())
    with fake_gpus(8), pytest.raises(ValueError, match="Please launch distributed training"):
        get_train_args(cfg)


@pytest.mark.parametrize("gpus,in_torchrun", NODES, ids=[f"{g}gpu{'-torchrun' if t else ''}" for g, t in NODES])
def test_gpu_configs_pass_the_same_on_any_node(at_root, monkeypatch, gpus, in_torchrun):
    for name in GPU_CONFIGS:
        path = f"llama_factory_configs/{name}"
        report = _on_node(gpus, in_torchrun, monkeypatch, lambda: validate_config(path))
        assert report.ok, format_check(report)
        assert _summary(report) == _summary(validate_config(path)), f"{name}: differs on {gpus} GPU(s)"


def check(root, name, base="sft", dataset="gsm8k_iter1_hybrid", data_dir="data/embedded", dry_run=False, **changes):
    cfg = make_train_config(base, "cpu", "models/smollm2-135m", dataset, data_dir, str(root / "out" / name))
    for k, v in changes.items():
        if v is None:
            cfg.pop(k, None)
        else:
            cfg[k] = v
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return validate_config(path, dry_run=dry_run)


PITFALLS = [
    # (name, config changes, expected error fragment)
    ("ranking_vs_stage_dpo", {"base": "dpo"}, "is not preference data"),
    ("ranking_vs_stage_sft", {"dataset": "gsm8k_pairs"}, "is preference data"),
    ("bad_column_map", {"dataset": "bad_columns", "data_dir": "data/broken"}, "column 'content' (mapped as prompt) missing"),
    ("alpaca_without_input", {"dataset": "no_input", "data_dir": "data/broken"}, "add \"input\": \"\" to every record"),
    ("sharegpt_turn_parity", {"dataset": "odd_turns", "data_dir": "data/broken"}, "turn parity"),
    ("deprecated_dpo_beta", {"base": "dpo", "dataset": "gsm8k_pairs", "dpo_beta": 0.1}, "use `pref_beta`"),
    ("deprecated_orpo_beta", {"base": "orpo", "dataset": "gsm8k_pairs", "orpo_beta": 0.1}, "pref_loss: orpo"),
    ("stage_orpo", {"base": "orpo", "dataset": "gsm8k_pairs", "stage": "orpo", "pref_loss": None}, "use `stage: dpo` with `pref_loss: orpo`"),
    ("pref_loss_typo", {"base": "dpo", "dataset": "gsm8k_pairs", "pref_loss": "sigmoidd"}, "did you mean sigmoid"),
    ("finetuning_type_typo", {"finetuning_type": "lroa"}, "did you mean lora"),
    ("unknown_template", {"template": "vanilla"}, "use `w2s_vanilla` in 0.9"),
    ("undefined_dataset", {"dataset": "gsm8k_iter1_hybird"}, "did you mean gsm8k_iter1_hybrid"),
    ("missing_file", {"dataset": "missing_file", "data_dir": "data/broken"}, "not found (file_name is joined"),
    ("legacy_pairs_on_0_9", {"base": "dpo", "dataset": "legacy_pairs"}, "--format current"),
    ("dpo_adapter_without_reference", {"base": "dpo", "dataset": "gsm8k_pairs", "adapter_name_or_path": "saves/mplus"},
     "implicit reference"),
    ("unknown_key", {"warmup_ratio": 0.1}, "warmup_steps: <ratio>"),
    ("missing_dataset_info", {"data_dir": "data/none"}, "dataset_info.json not found"),
]


@pytest.mark.parametrize("name,changes,fragment", PITFALLS, ids=[p[0] for p in PITFALLS])
def test_pitfalls_fail_with_the_fix(at_root, name, changes, fragment):
    report = check(at_root, name, **changes)
    assert not report.ok
    assert any(fragment in m for m in report.errors), format_check(report)


def test_warnings_say_the_fix(at_root):
    multi = check(at_root, "multi", base="dpo", dataset="multi_turn_dpo", data_dir="data/broken")
    assert any("fold the history into the instruction" in m for m in multi.warnings), format_check(multi)
    packing = check(at_root, "pack", packing=True, per_device_train_batch_size=8)
    assert any("set `packing: false`" in m for m in packing.warnings), format_check(packing)
    out = at_root / "out" / "resume"
    (out / "checkpoint-7").mkdir(parents=True)
    resume = check(at_root, "resume", overwrite_output_dir=False)
    assert resume.ok and any("silently resume from it" in m and "checkpoint-7" in m for m in resume.warnings)


def test_dry_run_counts_cut_examples(at_root):
    report = check(at_root, "cut", dry_run=True, cutoff_len=24)
    assert report.ok, format_check(report)
    assert any("cut by cutoff_len 24" in m for m in report.info)
    assert any("longer than cutoff_len 24" in m for m in report.warnings)


def test_cli_exit_status(at_root, cli):
    check(at_root, "bad", base="dpo")
    r = cli("validate", "llama_factory_configs/cpu_sft.yaml", "bad.yaml")
    assert r.exit_code == 1 and "1 of 2 config(s) passed" in r.output
    assert cli("validate", "llama_factory_configs/sft_70b.yaml").exit_code == 0
    r = cli("validate", "nope.yaml", "llama_factory_configs/sft_70b.yaml")   # one unreadable config fails alone
    assert r.exit_code == 1 and "nope.yaml: config not found" in r.output and "1 of 2 config(s) passed" in r.output


def test_check_config_in_process(at_root):
    from w2s_lf.errors import W2SError
    from w2s_lf.lf.validate import check_config
    good = make_train_config("sft", "cpu", "models/smollm2-135m", "gsm8k_iter1_hybrid", "data/embedded", "out/x")
    assert check_config(good).ok
    with pytest.raises(W2SError, match="is not preference data"):
        check_config(dict(good, stage="dpo"))


def test_checks_are_quiet_and_leave_the_environment_alone(at_root, cli, capfd, monkeypatch):
    """A check inside `w2s-lf run` prints nothing of LLaMA-Factory's or transformers' own, and
    leaves no LLAMAFACTORY_VERBOSITY behind: a training started afterwards from the same process
    must still log its rank line (stop 14's CI failure)."""
    from w2s_lf.lf.validate import check_config
    monkeypatch.delenv("LLAMAFACTORY_VERBOSITY", raising=False)
    by_epochs = make_train_config("sft", "cpu", "models/smollm2-135m", "gsm8k_iter1_hybrid", "data/embedded",
                                  "out/x", overrides={"max_steps": -1, "num_train_epochs": 1.0})
    capfd.readouterr()
    for _ in range(2):
        assert check_config(by_epochs).ok
    assert cli("validate", "llama_factory_configs/cpu_sft.yaml").exit_code == 0
    err = capfd.readouterr().err
    assert "setting up devices" not in err and "Process rank" not in err, err
    assert "LLAMAFACTORY_VERBOSITY" not in os.environ


# ----------------------------------------------------------------------------- the 70B dry run

RECIPE_70B = Path(__file__).resolve().parents[2] / "recipes/gsm8k_llama2_7b_to_llama2_70b.yaml"
SMALL_DATA = {"data.source": "embedded", "data.sizes": [20, 20, 10]}


@pytest.fixture(scope="module")
def dry_run_70b(tmp_path_factory):
    """`w2s-lf run <70B recipe> --dry-run` started in a scratch directory (not the repository),
    then the run's datasets built for real on the embedded task so its configs can be parsed."""
    import json

    from click.testing import CliRunner

    from w2s_lf.builders.synthetic import synthetic_results
    from w2s_lf.cli import main
    from w2s_lf.io import write_jsonl
    from w2s_lf.run.execute import run_recipe
    from w2s_lf.run.recipe import load_recipe

    elsewhere = tmp_path_factory.mktemp("elsewhere")
    with pytest.MonkeyPatch.context() as m:
        m.chdir(elsewhere)
        args = [f"{k}={json.dumps(v)}" for k, v in SMALL_DATA.items()]
        result = CliRunner().invoke(main, ["run", str(RECIPE_70B), *args, "--dry-run"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        recipe = load_recipe(RECIPE_70B, SMALL_DATA)
    run = elsewhere / "runs" / recipe.name
    assert recipe.run_path == run
    quiet = {"progress": False, "echo": lambda m: None}
    run_recipe(recipe, only=("prepare",), **quiet)
    prompts = [f"Question: {r['question']}\nAnswer:" for r in map(json.loads, (run / "data/train_2.jsonl").open())]
    weak, icl, samples = synthetic_results(len(prompts), k=10, seed=1, prompts=prompts)
    for name, records in (("weak", weak), ("strong_icl", icl), ("iter2_weak", weak), ("iter2_icl", icl),
                          ("mplus_samples", samples)):
        write_jsonl(run / f"gen/{name}_train_2.jsonl", records)
    run_recipe(recipe, only=("full_weak", "stage1", "stage1_iter2", "vote", "pairs"), **quiet)
    return run, result.output


@pytest.mark.slow
def test_70b_dry_run_works_from_any_directory(dry_run_70b):
    from w2s_lf.lf.configs import DEEPSPEED_Z3_CONFIG, MODEL_KEYS, PATH_KEYS
    run, output = dry_run_70b
    assert "w2s_lf.lf.cli export" in output and "generate --jobs" in output
    assert "NPROC_PER_NODE=8 FORCE_TORCHRUN=1 python -m w2s_lf.lf.cli train" in output
    assert "# global batch 64 = 1 per device x 8 process(es) per node x 1 node(s) x 8 accumulation" in output
    assert "# global batch 16 = 2 per device x 8 process(es) per node x 1 node(s) x 1 accumulation" in output
    configs = {c.stem: yaml.safe_load(c.read_text()) for c in (run / "configs").glob("*.yaml")}
    assert set(configs) >= {"weak_sft", "mplus_sft_iter1", "mplus_sft_iter2", "dpo", "orpo",
                            "baseline_full_weak", "baseline_gold", "mplus_merge"}
    for name, cfg in configs.items():
        for key in PATH_KEYS + MODEL_KEYS:
            value = cfg.get(key)
            if value and not value.startswith("meta-llama/"):   # hub ids stay hub ids
                assert Path(value).is_absolute(), f"{name}.yaml: {key}: {value} is relative"
        if name != "mplus_merge" and name != "weak_sft":
            assert cfg["deepspeed"] == str(run / "configs/ds_z3_config.json")
            assert cfg["gradient_accumulation_steps"] == 8 and cfg["ddp_timeout"] == 1800
    assert configs["weak_sft"]["gradient_accumulation_steps"] == 1 and "deepspeed" not in configs["weak_sft"]
    import json
    assert json.loads((run / "configs/ds_z3_config.json").read_text()) == DEEPSPEED_Z3_CONFIG


@pytest.mark.slow
@pytest.mark.parametrize("gpus,in_torchrun", NODES, ids=[f"{g}gpu{'-torchrun' if t else ''}" for g, t in NODES])
def test_70b_dry_run_configs_pass_on_any_node(dry_run_70b, tmp_path, monkeypatch, gpus, in_torchrun):
    run, _ = dry_run_70b
    monkeypatch.chdir(tmp_path)   # yet another directory: nothing may depend on where we are
    for config in sorted((run / "configs").glob("*.yaml")):
        report = _on_node(gpus, in_torchrun, monkeypatch, lambda: validate_config(config))
        assert report.ok, format_check(report)
        assert _summary(report) == _summary(validate_config(config)), f"{config.name}: differs on {gpus} GPU(s)"
