"""No command deletes, changes or adds a file outside its run folder (issue 17).

A sentinel tree (tests/support/sentinels.py) surrounds a run folder: notes in its parent, another
run with a manifest and an adapter, folders named as a run's outputs are. Each command of a small
run is followed by a check of the tree: the builders, grading, the refused training outputs
(finding 1), a dry run, the pipeline's own prepare stage run twice with a hand-edited output, and
the report. The real tiny runs (tests/run/test_pipeline*.py, RUN_SLOW=1) check it after every
stage, across a SIGKILL and the resume.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from support.sentinels import Sentinels

REPO = Path(__file__).resolve().parents[2]
RECIPE = {"name": "r", "weak": {"model": "tiny-llama"}, "strong": {"model": "tiny-llama"},
          "data": {"source": "embedded", "sizes": [20, 10, 10]}}


def test_no_command_touches_a_file_outside_its_run_folder(tmp_path, cli, monkeypatch):
    from w2s_lf.builders.synthetic import synthetic_results
    from w2s_lf.io import write_jsonl

    monkeypatch.chdir(tmp_path)   # relative defaults would land beside the sentinels
    run = tmp_path / "runs/r"
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({**RECIPE, "run_dir": str(run)}))
    config = tmp_path / "sft.yaml"
    config.write_text((REPO / "llama_factory_configs/cpu_sft.yaml").read_text()
                      .replace("overwrite_output_dir: true", "overwrite_output_dir: false"))
    tree = Sentinels(tmp_path, run)

    def ok(*args):
        result = cli(*args)
        assert result.exit_code == 0, result.output
        tree.check()

    def refused(*args, message):
        result = cli(*args)
        assert result.exit_code == 2 and message in result.output, result.output
        tree.check()

    ok("run", recipe, "--dry-run")
    ok("run", recipe, "--only", "prepare")
    (run / "data/train_2.jsonl").write_text('{"question": "edited by hand", "answer": "#### 1"}\n')
    ok("run", recipe, "--only", "prepare")   # not ours any more: moved aside inside the run folder
    assert (run / "data/train_2.jsonl.foreign").is_file()
    weak, _, _ = synthetic_results(10, 2, seed=3)
    write_jsonl(run / "gen/weak_train_2.jsonl", weak)
    ok("build", "full-weak", "--weak", run / "gen/weak_train_2.jsonl", "-o", run / "data")
    for name in ("../../x", "../other", str(tmp_path / "notes")):
        refused("build", "full-weak", "--weak", run / "gen/weak_train_2.jsonl", "-o", run / "data",
                "--name", name, message="is not a name")
    ok("grade", run / "gen/weak_train_2.jsonl", "-o", run / "gen/graded.jsonl")
    for out in (tmp_path / "saves/mplus", tmp_path, tmp_path / "runs/other", Path(".")):
        refused("train", config, f"output_dir={out}", "--no-validate", message="w2s-lf did not create it")
    refused("run", recipe, "training.overrides.output_dir=saves/mplus", message="set by the plan")
    refused("run", recipe, "name=../other", "run_dir=", message="is not a name")
    ok("report", run)
    assert tree.checks == 15


def test_a_stage_output_outside_the_run_folder_is_never_cleared(tmp_path):
    """The manifest deletes a stale output only inside its run folder, whatever a plan says."""
    import pytest

    from w2s_lf.errors import W2SError
    from w2s_lf.run.manifest import Run, Stage
    run = tmp_path / "run"
    tree = Sentinels(tmp_path, run)
    for rel in ("../notes.txt", "..", ".", "sub/../../saves"):
        stage = Stage("escape", {}, [], [rel], lambda s: None)
        with pytest.raises(W2SError, match="is not inside the run folder"):
            Run(run, {"name": "t"}).execute(stage, echo=tree.check)
        tree.check()
