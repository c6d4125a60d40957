"""`w2s-lf generate --jobs`: the file's checks, and several adapters plus the base model on ONE
real vLLM engine giving exactly what separate single-engine runs give (greedy)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from support.generation import generate

from w2s_lf.errors import W2SError
from w2s_lf.generation.backends import Request, Sampling, feed, serve
from w2s_lf.generation.engine import SharedEngine
from w2s_lf.generation.jobs import EngineSpec, JobSpec, load_jobs, one_job, parse_jobs
from w2s_lf.generation.prompts import clean_response
from w2s_lf.generation.run import run_jobs
from w2s_lf.tasks import get_task

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")


def _write(tmp_path, data) -> Path:
    path = tmp_path / "jobs.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


# ---- the file ---------------------------------------------------------------------------------

def test_jobs_file_parses_into_one_engine_and_its_jobs(tmp_path):
    jobs = load_jobs(_write(tmp_path, {
        "engine": {"model": "tiny-llama", "backend": "hf", "seed": 7, "max_new_tokens": 5,
                   "options": {"dtype": "float32"}},
        "jobs": [{"output": "a.jsonl", "data_dir": "d", "split": "train_2"},
                 {"output": "b.jsonl", "mode": "few-shot", "demos": "a.jsonl", "demo_ids": [1, 2, 3, 4]},
                 {"output": "c.jsonl", "mode": "sample", "k": 4, "temperature": 0.7, "adapter": "/x"}]}))
    e, (a, b, c) = jobs.engine, jobs.jobs
    assert (e.model, e.backend, e.seed, e.max_new_tokens, a.split) == ("tiny-llama", "hf", 7, 5, "train_2")
    assert e.backend_options() == {"dtype": "float32"}
    assert b.demo_ids == [1, 2, 3, 4] and b.mode == "few-shot"
    assert (c.k, c.temperature, c.adapter) == (4, 0.7, "/x")
    assert jobs.adapters() == ["/x"]


def test_vllm_options_derive_tensor_parallel_size_and_seed_once():
    e = EngineSpec(model="m", seed=3, tensor_parallel_size=2, options={"dtype": "float32"})
    assert e.backend_options() == {"dtype": "float32", "tensor_parallel_size": 2, "seed": 3}
    assert EngineSpec(model="m", options={"seed": 9}).backend_options()["seed"] == 9   # options win


def test_a_single_run_is_a_one_job_file():
    jobs = one_job(model="m", output="o.jsonl", backend="hf", split="train_2", mode="few-shot",
                   demos="w.jsonl", demo_ids=[1, 2, 3, 4], limit=5, seed=3, max_new_tokens=9,
                   options={"dtype": "float32"})
    assert jobs.engine == EngineSpec(model="m", backend="hf", seed=3, max_new_tokens=9, options={"dtype": "float32"})
    assert jobs.jobs == [JobSpec(output="o.jsonl", split="train_2", mode="few-shot", demos="w.jsonl",
                                 demo_ids=[1, 2, 3, 4], limit=5)]
    with pytest.raises(W2SError, match="job.mode: 'greedy' is not one of"):
        one_job(model="m", output="o.jsonl", mode="greedy")
    with pytest.raises(W2SError, match="needs --demos"):
        one_job(model="m", output="o.jsonl", mode="few-shot")


@pytest.mark.parametrize("data, message", [
    ({"engine": {"model": "m", "dtyp": "x"}, "jobs": [{"output": "o"}]}, "engine.dtyp: unknown key"),
    ({"engine": {"model": "m"}, "jobs": [{"output": "o", "adaptor": "a"}]},
     "jobs[0].adaptor: unknown key (did you mean 'adapter'?)"),
    ({"engine": {"model": "m", "seed": "x"}, "jobs": [{"output": "o"}]}, "engine.seed: expected int"),
    ({"engine": {"model": "m", "backend": "tgi"}, "jobs": [{"output": "o"}]}, "engine.backend: 'tgi' is not one of"),
    ({"engine": {"backend": "hf"}, "jobs": [{"output": "o"}]}, "engine: missing required key 'model'"),
    ({"engine": {"model": "m"}, "jobs": [{"split": "test"}]}, "jobs[0]: missing required key 'output'"),
    ({"engine": {"model": "m"}, "jobs": []}, "'jobs' must be a non-empty list"),
    ({"engine": {"model": "m"}, "jobs": [{"output": "o"}], "job": 1}, "unknown key 'job'"),
    ({"engine": {"model": "m"}, "jobs": [{"output": "o"}, {"output": "./o"}]},
     "jobs[1].output: ./o is also the output of jobs[0]"),
    ({"engine": {"model": "m"}, "jobs": [{"output": "o", "mode": "few-shot"}]}, "jobs[0]: --mode few-shot needs"),
    ({"engine": {"model": "m"}, "jobs": [{"output": "o", "demo_ids": [1, "x"]}]}, "jobs[0].demo_ids"),
])
def test_bad_jobs_file_names_file_and_key(tmp_path, monkeypatch, data, message):
    monkeypatch.chdir(tmp_path)
    path = _write(tmp_path, data)
    with pytest.raises(W2SError) as e:
        load_jobs(path)
    assert str(e.value).startswith(f"{path}: ") and message in str(e.value)


def test_cli_rejects_a_bad_jobs_file(cli, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("engine: {model: m}\njobs: [{output: o, k: many}]\n")
    r = cli("generate", "--jobs", path)
    assert r.exit_code == 2 and "jobs[0].k: expected int" in r.output


# ---- one real vLLM engine for base + two adapters ------------------------------------------------

def random_adapter(model: Path, folder: Path, rank: int, seed: int) -> Path:
    """A LoRA adapter of `model` with random non-zero weights, in the layout PEFT and
    LLaMA-Factory save (adapter_config.json + adapter_model.safetensors); written directly,
    which is much faster than building a PEFT model."""
    import torch
    from safetensors.torch import save_file

    from w2s_lf.models.checks import _expected_shapes
    config = json.loads((model / "config.json").read_text())
    modules = ["q_proj", "v_proj", "up_proj", "down_proj"]
    shapes = _expected_shapes(config)
    gen = torch.Generator().manual_seed(seed)
    weights = {}
    for layer in range(config["num_hidden_layers"]):
        for m in modules:
            part = "self_attn" if m.endswith(("q_proj", "v_proj")) else "mlp"
            key = f"base_model.model.model.layers.{layer}.{part}.{m}"
            in_f, out_f = shapes[m]
            weights[f"{key}.lora_A.weight"] = torch.randn(rank, in_f, generator=gen) / in_f ** 0.5
            weights[f"{key}.lora_B.weight"] = torch.randn(out_f, rank, generator=gen) / rank ** 0.5
    folder.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(folder / "adapter_model.safetensors"))
    (folder / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": str(model), "r": rank,
        "lora_alpha": 2 * rank, "lora_dropout": 0.0, "target_modules": modules, "bias": "none",
        "fan_in_fan_out": False, "inference_mode": True}))
    return folder


@pytest.fixture(scope="module")
def adapters(tiny_model, tmp_path_factory) -> list[Path]:
    """Two adapters of the tiny Llama with different ranks; each visibly changes greedy output."""
    root = tmp_path_factory.mktemp("adapters")
    return [random_adapter(tiny_model, root / f"a{i}", rank, 100 + i) for i, rank in enumerate((8, 16))]


def _rows(path):
    return [json.loads(line) for line in Path(path).open()]


@pytest.mark.slow
def test_one_engine_serves_base_and_adapters_like_separate_engines(tiny_model, adapters, embedded_data, tmp_path):
    from w2s_lf.generation.backends.vllm_backend import VllmBackend

    a, b = map(str, adapters)
    common = {"data_dir": str(embedded_data), "split": "test", "limit": 6}
    jobs = parse_jobs({
        "engine": {"model": str(tiny_model), "backend": "vllm", "max_new_tokens": 16,
                   "options": {"dtype": "float32"}},
        "jobs": [{"output": str(tmp_path / "shared_a.jsonl"), "adapter": a, **common},
                 {"output": str(tmp_path / "shared_base.jsonl"), **common},
                 {"output": str(tmp_path / "shared_b.jsonl"), "adapter": b, **common},
                 {"output": str(tmp_path / "shared_base_sample.jsonl"), "mode": "sample", "k": 2, **common}]})
    engine = SharedEngine(jobs.engine, str(tiny_model), [a, b])
    try:
        summaries = run_jobs(jobs, progress=False, engine=engine)
        assert engine.starts == 1 and [s["generated"] for s in summaries] == [6, 6, 6, 6]
        # A rerun of the finished jobs starts no engine at all.
        rerun = SharedEngine(jobs.engine, str(tiny_model), [a, b])
        assert [s["reused"] for s in run_jobs(jobs, progress=False, engine=rerun)] == [6, 6, 6, 6]
        assert rerun.starts == 0
        # On CPU the engine folds each adapter into its weights in turn (a, base, b, base); the
        # kernels mode is checked in tests/test_generation_vllm.py.
        assert engine.backend.merge and engine.backend.swaps == 4
        # Base and adapter requests fed interleaved: `serve` lets one set of weights into the
        # engine at a time (swapping when it has drained), so every answer is still right.
        prompts = [r["prompt"] for r in _rows(tmp_path / "shared_base.jsonl")]
        greedy = Sampling(max_new_tokens=16, stop=get_task("gsm8k").stop)
        mixed = [Request((i, adapter), p, greedy, None, adapter)
                 for i, p in enumerate(prompts) for adapter in (None, b)]
        answers = dict(serve(engine.backend, feed(mixed), window=12))
        mixed_base = [clean_response(answers[(i, None)][0].text) for i in range(6)]
        mixed_b = [clean_response(answers[(i, b)][0].text) for i in range(6)]
    finally:
        engine.close()

    def single(adapter, out):
        backend = VllmBackend(str(tiny_model), adapter=adapter, dtype="float32", seed=42)
        try:
            generate(model=str(tiny_model), output=str(out), adapter=adapter, backend="vllm",
                                 max_new_tokens=16, **common, engine=backend)
        finally:
            backend.close()

    # The base model from a plain engine (no LoRA at all): on CPU a base request in a LoRA
    # engine would otherwise pick up the last loaded adapter.
    single(None, tmp_path / "plain_base.jsonl")
    single(b, tmp_path / "single_b.jsonl")
    base = tmp_path / "shared_base.jsonl"
    assert base.read_bytes() == (tmp_path / "plain_base.jsonl").read_bytes()
    assert mixed_base == [r["response"] for r in _rows(base)]
    assert mixed_b == [r["response"] for r in _rows(tmp_path / "shared_b.jsonl")]
    assert (tmp_path / "shared_b.jsonl").read_bytes() == (tmp_path / "single_b.jsonl").read_bytes()
    responses = [[r["response"] for r in _rows(tmp_path / f"shared_{n}.jsonl")] for n in ("base", "a", "b")]
    assert responses[0] != responses[1] != responses[2] != responses[0], "each adapter changes greedy output"
    info = json.loads(Path(f"{tmp_path / 'shared_a.jsonl'}.run.json").read_text())
    assert info["settings"]["adapter"] == a and info["complete"]


@pytest.mark.slow
def test_a_job_takes_hand_made_shards_as_its_output_without_an_engine(tiny_model, embedded_data, tmp_path):
    """Shards made by hand (`--shard i/N`, e.g. on other machines) that hold exactly the job's
    questions become its output; they are kept, and no engine starts."""
    common = {"data_dir": str(embedded_data), "split": "test", "limit": 5}
    out = tmp_path / "eval.jsonl"
    for i in range(2):
        generate(model=str(tiny_model), output=f"{out}.shard{i}-of-2.jsonl", backend="hf",
                             max_new_tokens=8, shard=f"{i}/2", **common)
    jobs = parse_jobs({"engine": {"model": str(tiny_model), "backend": "hf", "max_new_tokens": 8},
                       "jobs": [{"output": str(out), **common}]})
    engine = SharedEngine(jobs.engine, str(tiny_model), [])
    run_jobs(jobs, progress=False, engine=engine)
    assert engine.starts == 0
    assert [r["id"] for r in _rows(out)] == [0, 1, 2, 3, 4]
    assert all(Path(f"{out}.shard{i}-of-2.jsonl").exists() for i in range(2))
