"""A recipe is checked whole before any stage (issue 17, findings 2, 3 and 5).

Typos in model names, evaluations a recipe does not train, numbers out of range, names that are
paths: each is one error line naming its key, from the dry run as from the run; never a traceback,
never a silent change of the experiment. A dry run holds the run folder's lock to write its
configs, and writes nothing while a run holds it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from w2s_lf.errors import W2SError
from w2s_lf.run.execute import check_inputs, run_recipe
from w2s_lf.run.recipe import parse_recipe

SMALL = {"name": "x", "weak": {"model": "tiny-llama"}, "strong": {"model": "tiny-llama"},
         "data": {"source": "embedded", "sizes": [20, 10, 10]}}


@pytest.mark.parametrize("overrides, message", [
    # finding 3: each passed the dry run, or gave a traceback
    ({"evaluate.models": ["weak", "bogus"]}, "evaluate.models[1]: unknown model 'bogus'"),
    ({"evaluate.models": ["weak", "mplus_itr1"]}, "(did you mean 'mplus_iter1'?)"),
    ({"evaluate.models": ["mplus_iter2"]}, "evaluate.models[0]: this recipe trains no 'mplus_iter2'"),
    ({"evaluate.models": ["strong_gold"], "baselines": ["full_weak"]}, "this recipe trains no 'strong_gold'"),
    ({"stage2.temperature": float("nan")}, "stage2.temperature: expected a finite number, got nan"),
    ({"stage2.keep_threshold": float("inf")}, "stage2.keep_threshold: expected a finite number, got inf"),
    ({"generation.max_new_tokens": -1}, "generation.max_new_tokens: must be at least 1, got -1"),
    ({"data.sizes": [300, 0, 0]}, "data.sizes[1]: expected a positive count of questions, got 0"),
    ({"data.sizes": [300, -5, "x"]}, "data.sizes[1]: expected a positive count of questions, got -5"),
    ({"data.sizes": [300, 5, "x"]}, "data.sizes[2]: expected a positive count of questions, got 'x'"),
    ({"data.sizes": [300, 5]}, "data.sizes: embedded takes [train_1, train_2, test], got [300, 5]"),
    ({"data.limit_test": 0}, "data.limit_test: must be at least 1, got 0"),
    ({"stage2.methods": ["dpo", "dpo"]}, "stage2.methods: ['dpo', 'dpo'] names one twice"),
    ({"stage1.iterations": True}, "stage1.iterations: True is not one of 1, 2"),
    ({"seed": -1}, "seed: must be in [0, 2**32), got -1"),
    ({"training.launch": {"nproc_per_node": "x"}}, "training.launch.nproc_per_node: expected an integer"),
    # finding 1: a run's training would have emptied X
    ({"training.overrides.output_dir": "/tmp/x"}, "training.overrides.output_dir: set by the plan"),
    ({"training.sft_overrides.dataset_dir": "."}, "training.sft_overrides.dataset_dir: set by the plan"),
    # finding 5: names are names
    ({"name": "../.."}, "name: '../..' is not a name"),
    ({"name": "/abs"}, "name: '/abs' is not a name"),
    ({"name": "a/b"}, "name: 'a/b' is not a name"),
])
def test_recipe_errors_name_the_key(overrides, message):
    with pytest.raises(W2SError) as err:
        parse_recipe(SMALL, overrides)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_the_default_evaluations_are_those_the_recipe_trains():
    recipe = parse_recipe(SMALL, {"baselines": [], "stage2.methods": ["orpo"]})
    assert recipe.evaluations() == {"weak", "mplus_iter1", "mpro_orpo"}
    recipe = parse_recipe(SMALL, {"evaluate.models": ["mplus", "strong_base"], "stage1.iterations": 2})
    assert recipe.evaluations() == {"mplus_iter1", "mplus_iter2", "strong_base"}


@pytest.mark.parametrize("overrides, message", [
    ({"weak.model": "smollm2-wek"}, "weak.model: 'smollm2-wek' is not a built-in model, a model folder or a hub "
                                    "id (did you mean 'smollm2-weak'?)"),
    ({"strong.model": "tiny-lama"}, "strong.model: 'tiny-lama' is not a built-in model"),
    ({"strong.model": "./models/nope"}, "strong.model: model folder './models/nope' not found"),
    ({"weak.model": "org/na--me"}, "weak.model: 'org/na--me' is not a hub id"),
    ({"weak.train": False, "weak.adapter": "no/such/adapter"}, "weak.adapter: folder 'no/such/adapter' not found"),
    ({"data.source": "local", "data.from_dir": "no/such/dir", "data.sizes": None},
     "data.from_dir: folder 'no/such/dir' not found"),
])
def test_model_names_and_folders_resolve_before_any_stage(tmp_path, overrides, message):
    """A typo in a model name used to be taken as a hub id and fail 81 s later (the strong
    model's only at stage 5); now the dry run and the run stop before the first stage."""
    recipe = parse_recipe(SMALL, {**overrides, "run_dir": str(tmp_path / "run")})
    for dry_run in (True, False):
        with pytest.raises(W2SError, match=re.escape(message)):
            run_recipe(recipe, dry_run=dry_run, progress=False, echo=lambda m: None)
    assert not (tmp_path / "run").exists()


def _fake_hub_cache(cache: Path, repo_id: str) -> None:
    """A model in a Hugging Face cache, laid out as huggingface_hub lays it out."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs/main").write_text("0" * 40)
    (repo / "snapshots" / ("0" * 40)).mkdir(parents=True)
    (repo / "snapshots" / ("0" * 40) / "config.json").write_text("{}")


def test_hub_ids_must_be_cached_or_reachable(tmp_path, monkeypatch):
    from w2s_lf.models.checks import resolve_model_name

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    _fake_hub_cache(tmp_path / "hub", "org/cached-model")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert resolve_model_name("org/cached-model", "strong.model") == "hub"
    with pytest.raises(W2SError, match="strong.model: hub id 'org/missing' is not in the local Hugging Face cache"):
        resolve_model_name("org/missing", "strong.model")
    assert resolve_model_name("org/missing", "strong.model", check_hub=False) == "hub"   # a dry run
    # Online, a hub that cannot be reached (a closed local port) is an error at once.
    from support.ports import free_port
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(W2SError, match="strong.model: hub id 'org/missing': the hub could not be reached"):
        resolve_model_name("org/missing", "strong.model")
    recipe = parse_recipe(SMALL, {"strong.model": "org/missing", "run_dir": str(tmp_path / "run")})
    check_inputs(recipe, check_hub=False)
    with pytest.raises(W2SError, match="the hub could not be reached"):
        check_inputs(recipe)


def test_recipe_files_that_are_not_utf8_or_not_a_mapping_are_one_line_errors(tmp_path, cli):
    """Each gave a Python traceback on main."""
    cases = {"latin1.yaml": b"name: caf\xe9\n", "list.yaml": b"- name: x\n- task: gsm8k\n",
             "date.yaml": b"name: x\nseed: 2020-13-45\n", "deep.yaml": b"name: " + b"[" * 5000 + b"\n"}
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
    expected = {"latin1.yaml": "latin1.yaml:1: not UTF-8 (byte 0xe9 at column 10)",
                "list.yaml": "recipe: expected a mapping of keys (name, task, data, ...), got list",
                "date.yaml": "date.yaml: not valid YAML: month must be in 1..12",
                "deep.yaml": "deep.yaml"}
    for name, message in expected.items():
        result = cli("run", tmp_path / name, "stage2.k=3", "--dry-run")
        assert result.exit_code == 2 and message in result.output, result.output
        assert result.output.count("\n") == 1 and result.output.startswith("error: ")
    result = cli("run", tmp_path / "list.yaml", "stage2.k=[", "--dry-run")   # a bad override value
    assert result.exit_code == 2 and "override stage2.k:1: not valid YAML" in result.output


def test_a_dry_run_never_writes_over_a_live_runs_configs(tmp_path):
    """A dry run with max_steps=2 on a folder a run was using left weak_sft.yaml saying 2 while
    the stage trained 32. The dry run now takes the run's lock to write its configs; held by a
    run, it prints the plan, says so, and writes nothing."""
    from w2s_lf.run.execute import _lock
    recipe = parse_recipe(SMALL, {"run_dir": str(tmp_path / "run")})
    run_recipe(recipe, dry_run=True, progress=False, echo=lambda m: None)
    config = tmp_path / "run/configs/weak_sft.yaml"
    before = config.read_bytes()
    assert yaml.safe_load(before)["max_steps"] != 2
    script = ("import sys, time; from pathlib import Path; from w2s_lf.run.execute import _lock\n"
              "with _lock(Path(sys.argv[1])):\n    print('held', flush=True)\n    time.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "run")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        lines = []
        changed = parse_recipe(SMALL, {"run_dir": str(tmp_path / "run"), "training.overrides.max_steps": 2})
        run_recipe(changed, dry_run=True, progress=False, echo=lines.append)
        assert config.read_bytes() == before
        assert "nothing written: a run is using the folder" in lines[0]
        assert f"pid {holder.pid}" in lines[1] and any("## [2/" in line and "weak_sft" in line for line in lines)
    finally:
        holder.kill()
        holder.wait()
    with _lock(tmp_path / "run"):   # the dry run let go of the lock it held
        pass
    lines = []
    run_recipe(changed, dry_run=True, progress=False, echo=lines.append)
    assert yaml.safe_load(config.read_text())["max_steps"] == 2 and "configs written to" in lines[0]
    assert not (tmp_path / "run/.lock").exists()


def test_recipe_names_and_dataset_names_never_escape(tmp_path, cli):
    """`build ... --name ../../x` or an absolute name wrote outside -o (finding 5)."""
    from w2s_lf.builders.synthetic import synthetic_results
    from w2s_lf.io import write_jsonl
    weak, _, _ = synthetic_results(4, 2, seed=1, prompts=[f"Question: q{i}\nAnswer:" for i in range(4)])
    write_jsonl(tmp_path / "weak.jsonl", weak)
    out = tmp_path / "a/b/out"
    for name in ("../../x", str(tmp_path / "abs"), "..", ".hidden"):
        result = cli("build", "full-weak", "--weak", tmp_path / "weak.jsonl", "-o", out, "--name", name)
        assert result.exit_code == 2 and "dataset name:" in result.output and "is not a name" in result.output
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["weak.jsonl"]
    result = cli("build", "full-weak", "--weak", tmp_path / "weak.jsonl", "-o", out, "--name", "ok_name")
    assert result.exit_code == 0 and (out / "ok_name.json").is_file()
    assert json.loads((out / "dataset_info.json").read_text())["ok_name"]["file_name"] == "ok_name.json"
