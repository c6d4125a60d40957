"""`w2s-lf run` for real on the tiny model: every stage, resume after SIGKILL, nothing duplicated."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from support.sentinels import Sentinels

from w2s_lf.run.execute import run_recipe
from w2s_lf.run.recipe import parse_recipe

# Every stage real, as small as it gets: the HF backend (no 25 s vLLM start per stage; vLLM
# itself is covered by the generation tests) and thresholds of 0 so that the tiny model's
# answers always give stage-II pairs.
TINY = {
    "name": "tiny",
    "task": "gsm8k",
    "data": {"source": "embedded", "sizes": [40, 16, 8]},
    "weak": {"model": "tiny-gsm"},
    "strong": {"model": "tiny-gsm"},
    "generation": {"backend": "hf", "max_new_tokens": 48, "batch_size": 4},
    "training": {"preset": "cpu", "overrides": {"max_steps": 2, "cutoff_len": 256}},
    "stage1": {"target_count": 8},
    "stage2": {"k": 3, "keep_threshold": 0.0, "flip_threshold": 0.0},
}


def _ids(path: Path) -> list[int]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def tiny_gsm():
    from w2s_lf.models.builtin import fetch
    return fetch("tiny-gsm")


@pytest.mark.slow
def test_full_pipeline_then_everything_skips(tmp_path, tiny_gsm):
    tree = Sentinels(tmp_path, tmp_path / "run")   # checked after every stage: nothing outside the run changes
    recipe = parse_recipe(TINY, {"run_dir": str(tmp_path / "run"), "evaluate.k": 2})
    outcomes = run_recipe(recipe, progress=False, echo=tree.check)
    assert tree.checks == len(outcomes)
    assert [o for _, o in outcomes] == ["done"] * len(outcomes)
    run = tmp_path / "run"
    manifest = json.loads((run / "manifest.json").read_text())
    assert all(s["status"] == "done" and s["wall_s"] >= 0 for s in manifest["stages"].values())
    assert manifest["recipe"]["name"] == "tiny" and len(manifest["recipe_hash"]) == 64

    hybrid = json.loads((run / "data/gsm8k_iter1_hybrid.json").read_text())
    assert len(hybrid) == 2 * manifest["stages"]["stage1"]["stats"]["kept"] == 16   # topped up to 8
    pairs = json.loads((run / "data/gsm8k_pairs.json").read_text())
    assert pairs and {"instruction", "input", "chosen", "rejected"} <= set(pairs[0])
    assert all(p["chosen"] != p["rejected"] for p in pairs)
    info = json.loads((run / "data/dataset_info.json").read_text())
    assert info["gsm8k_pairs"]["ranking"] is True and "columns" in info["gsm8k_iter1_hybrid"]
    samples = [json.loads(line) for line in (run / "gen/mplus_samples_train_2.jsonl").read_text().splitlines()]
    assert len(samples) == 16 and all(len(s["samples"]) == 3 for s in samples)

    for model in ("weak", "mplus_iter1", "mpro_dpo", "mpro_orpo", "strong_full_weak", "strong_gold"):
        assert (run / f"models/{model}/adapter_model.safetensors").exists() or model == "mplus_iter1_merged"
        assert _ids(run / f"eval/{model}.jsonl") == list(range(8))
    dpo = yaml.safe_load((run / "configs/dpo.yaml").read_text())
    assert dpo["model_name_or_path"].endswith("models/mplus_iter1_merged")   # reference = M_plus
    metrics = json.loads((run / "eval/metrics.json").read_text())
    assert set(metrics) == {"weak", "strong_full_weak", "mplus_iter1", "mpro_dpo", "mpro_orpo", "strong_gold"}
    for key, entry in metrics.items():   # pass@k for every evaluated model, M_pro included; both graders
        assert set(entry["pass@k"]) == {"1", "2"} and len((run / f"eval/{key}.samples.jsonl").read_text().splitlines()) == 8
        assert set(entry["by_grader"]) == {"seed", "robust"}
    report = (run / "report.md").read_text()
    assert "| M_pro DPO |" in report and "| weak | weak floor |" in report
    assert "## Sampling on test" in report and "### Under both graders" in report
    assert (run / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    again = run_recipe(recipe, progress=False, echo=tree.check)
    assert [o for _, o in again] == ["skipped"] * len(again)


@pytest.mark.slow
def test_sigkill_mid_generation_then_rerun_completes(tmp_path, tiny_gsm):
    """Kill `w2s-lf run` while it samples; the rerun resumes that stage and finishes the run."""
    data = {**TINY, "stage2": {**TINY["stage2"], "methods": ["dpo"]}, "baselines": [],
            "evaluate": {"models": ["mplus", "mpro"]}, "run_dir": str(tmp_path / "run")}
    recipe_file = tmp_path / "tiny.yaml"
    recipe_file.write_text(yaml.safe_dump(data))
    tree = Sentinels(tmp_path, tmp_path / "run")
    samples = tmp_path / "run/gen/mplus_samples_train_2.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "w2s_lf", "run", str(recipe_file)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while time.time() < deadline and not (samples.exists() and samples.read_text().count("\n") >= 4):
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)   # the parent only: its children must die with it
    proc.wait()
    time.sleep(1.0)
    killed_at = samples.read_text().count("\n")
    assert 4 <= killed_at < 16
    time.sleep(2.0)
    assert samples.read_text().count("\n") == killed_at, "a child process kept writing after the kill"
    tree.check()
    manifest = json.loads((tmp_path / "run/manifest.json").read_text())
    assert manifest["stages"]["mplus_generate"]["status"] == "running"

    messages = []
    recipe = parse_recipe(data)
    outcomes = dict(run_recipe(recipe, progress=False, echo=lambda m: (messages.append(m), tree.check())))
    assert any(m.startswith("[") and " mplus_generate ... resumed, done in " in m for m in messages)
    assert outcomes["prepare"] == "skipped" and outcomes["mplus_sft_iter1"] == "skipped"
    assert outcomes["mplus_generate"] == "done" and outcomes["report"] == "done"
    assert sorted(_ids(samples)) == list(range(16))   # none lost, none duplicated
    manifest = json.loads((tmp_path / "run/manifest.json").read_text())
    assert all(s["status"] == "done" for s in manifest["stages"].values())
    assert not (tmp_path / "run/.lock").exists()
