"""`w2s_vanilla`: the paper's raw prompt as is, the response followed by EOS, through LLaMA-Factory's
own data pipeline; `python -m w2s_lf.lf.cli` makes LLaMA-Factory (and its torchrun ranks) know it."""

from __future__ import annotations

import pytest

from w2s_lf.lf.configs import make_train_config
from w2s_lf.lf.datasets import write_pairs_dataset, write_sft_dataset
from w2s_lf.lf.templates import RAW_TEMPLATE, chat_template_for, register, template_for

PROMPT, RESPONSE = "Question: 1+1?\nAnswer:", "1 + 1 = 2.\n#### 2"


def lf_dataset(model, data_dir, kind: str, dataset: str):
    """The training examples exactly as LLaMA-Factory tokenizes them for `kind` (sft / dpo)."""
    register()
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.hparams import get_train_args
    from llamafactory.model import load_tokenizer

    cfg = make_train_config(kind, "cpu", str(model), dataset, str(data_dir), str(data_dir / "out"))
    cfg["preprocessing_num_workers"] = None
    model_args, data_args, training_args, _, _ = get_train_args(cfg)
    module = load_tokenizer(model_args)
    template = get_template_and_fix_tokenizer(module["tokenizer"], data_args)
    stage = "rm" if kind == "dpo" else "sft"
    data = get_dataset(template, model_args, data_args, training_args, stage=stage, **module)["train_dataset"]
    return module["tokenizer"], data


def test_sft_target_ends_with_eos_and_prompt_is_untouched(tiny_model, tmp_path):
    write_sft_dataset(tmp_path, "one", [{"id": 0, "content": PROMPT, "output": RESPONSE}])
    tok, data = lf_dataset(tiny_model, tmp_path, "sft", "one")
    ids, labels = data[0]["input_ids"], data[0]["labels"]
    prompt = tok.encode(PROMPT, add_special_tokens=False)
    response = tok.encode(RESPONSE, add_special_tokens=False)
    assert ids == prompt + response + [tok.eos_token_id]          # no BOS, no separator
    assert labels == [-100] * len(prompt) + response + [tok.eos_token_id]   # EOS is learned


def test_preference_pairs_end_with_eos(tiny_model, tmp_path):
    write_pairs_dataset(tmp_path, "pairs", [{"id": 0, "instruction": PROMPT, "input": "",
                                             "chosen": RESPONSE, "rejected": "1 + 1 = 3.\n#### 3"}])
    tok, data = lf_dataset(tiny_model, tmp_path, "dpo", "pairs")
    for side in ("chosen", "rejected"):
        assert data[0][f"{side}_labels"][-1] == tok.eos_token_id
        assert data[0][f"{side}_input_ids"][-1] == tok.eos_token_id


@pytest.mark.slow
def test_generation_still_stops_at_eos_and_the_paper_stop_strings():
    """vLLM stops at the model's EOS unless told to ignore it, and cuts at the stop strings."""
    from w2s_lf.generation.backends.base import Sampling
    from w2s_lf.generation.backends.vllm_backend import VllmBackend
    from w2s_lf.tasks import get_task

    stop = get_task("gsm8k").stop
    assert stop == ("Question", "Answer")
    params = VllmBackend._params(None, Sampling(n=1, temperature=0.0, max_new_tokens=64, stop=stop), 0)
    assert params.stop == ["Question", "Answer"] and params.ignore_eos is False


def test_torchrun_ranks_run_our_worker(monkeypatch, tmp_path):
    """LLaMA-Factory re-launches `train` under torchrun with its own launcher file as the script;
    ours makes each rank `python -m w2s_lf.lf.cli worker CONFIG`, which registers first."""
    import subprocess

    from w2s_lf.lf import cli as lf_launch
    seen = []

    def fake_run(cmd, **kwargs):
        seen.append(cmd)
        return subprocess.CompletedProcess(cmd, 0)
    monkeypatch.setattr(subprocess, "run", fake_run)
    monkeypatch.setenv("FORCE_TORCHRUN", "1")
    monkeypatch.setenv("NPROC_PER_NODE", "8")
    monkeypatch.setattr("sys.argv", ["x"])
    with pytest.raises(SystemExit) as done:
        lf_launch.main(["train", str(tmp_path / "cfg.yaml")])
    assert done.value.code == 0
    cmd = seen[0]
    assert cmd[0] == "torchrun" and cmd[cmd.index("--nproc_per_node") + 1] == "8"
    assert cmd[-4:] == ["-m", "w2s_lf.lf.cli", "worker", str(tmp_path / "cfg.yaml")]


def test_template_choice():
    assert template_for("meta-llama/Llama-2-70b-hf", "raw") == RAW_TEMPLATE
    assert template_for("Qwen/Qwen2.5-Math-1.5B-Instruct", "chat") == "qwen"
    assert template_for("/models/Meta-Llama-3.1-8B-Instruct", "chat") == "llama3"
    assert template_for("anything", "chat", override="chatml") == "chatml"
    assert chat_template_for("/root/.cache/w2s-lf/models/smollm2-135m") == "smollm2"
    from w2s_lf.errors import W2SError
    with pytest.raises(W2SError, match="set `training.template`"):
        chat_template_for("my-own-model")


KNOWS_TEMPLATE = "from llamafactory.data.template import TEMPLATES; print('w2s_vanilla' in TEMPLATES)"


def _fresh_python(code: str, *pre: str) -> str:
    import os
    import subprocess
    import sys
    from pathlib import Path
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "DISABLE_VERSION_CHECK": "1"}
    out = subprocess.run([sys.executable, "-c", "; ".join([*pre, code])], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.mark.slow
def test_the_start_up_hook_registers_the_template_when_llamafactory_loads_it():
    assert _fresh_python(KNOWS_TEMPLATE, "import w2s_lf.lf.hook") == "True"


@pytest.mark.slow
def test_llamafactory_cli_of_this_environment_knows_the_template():
    """`llamafactory-cli train llama_factory_configs/dpo_70b.yaml` works in the environment
    `scripts/setup.sh` builds: its `w2s_lf_templates.pth` loads the hook in every Python there."""
    import sysconfig
    from pathlib import Path
    if not (Path(sysconfig.get_paths()["purelib"]) / "w2s_lf_templates.pth").is_file():
        pytest.skip("this environment was not built by scripts/setup.sh (no w2s_lf_templates.pth)")
    assert _fresh_python(KNOWS_TEMPLATE) == "True"
