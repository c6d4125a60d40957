"""What to generate: one engine spec and the jobs it serves, as `w2s-lf generate --jobs FILE` reads them.

Starting an engine costs 20-40 s on a CPU and minutes for a 70B model on GPUs; a pipeline stage
that evaluates several adapters of one base model would pay it once per adapter. A jobs file
names the engine once and lists the runs::

    engine:
      model: /models/Llama-2-7b-hf      # required; a folder or a built-in name
      backend: vllm                     # vllm | hf | openai
      options: {dtype: bfloat16}        # any other backend option
    jobs:
      - {output: /run/gen/weak.jsonl, data_dir: /run/data, split: train_2}
      - {output: /run/gen/eval_a.jsonl, data_dir: /run/data, split: test, adapter: /run/models/a}

A single `w2s-lf generate` run is a jobs file with one job (`one_job`), so both go through the
same code (`w2s_lf.generation.run.run_jobs`): same output, resume and `.run.json`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

from w2s_lf.errors import W2SError
from w2s_lf.generation import prompts as P
from w2s_lf.io import load_yaml_as
from w2s_lf.schema import parse_dataclass


@dataclass(frozen=True)
class EngineSpec:
    """What all jobs share: one base model served by one engine (or one set of DP engines)."""

    model: str
    backend: Literal["vllm", "hf", "openai"] = "vllm"
    task: str = "gsm8k"
    prompt_style: Literal["raw", "chat"] = "raw"
    grader: Literal["robust", "seed"] = "robust"
    seed: int = 42                          # engine seed, and the root of every per-question sampling seed
    max_new_tokens: Optional[int] = None    # default: the task's (GSM8K 1024, MATH 2048)
    batch_size: Optional[int] = None        # default: the backend's
    tensor_parallel_size: int = 1
    data_parallel_size: int = 1
    ray_address: Optional[str] = None
    options: dict = field(default_factory=dict)   # the backend's own options (dtype, engine_args, ...)

    def backend_options(self) -> dict:
        """The backend's keyword options; `options` may override the derived ones."""
        options = dict(self.options)
        if self.backend == "vllm":
            options.setdefault("tensor_parallel_size", self.tensor_parallel_size)
            options.setdefault("seed", self.seed)
        return options


@dataclass(frozen=True)
class JobSpec:
    """One run: the fields of `w2s-lf generate` that may differ between runs on one engine."""

    output: str
    data_dir: Optional[str] = None          # default: data/<task>
    split: str = "test"
    input: Optional[str] = None             # default: <data_dir>/<split>.jsonl
    mode: Literal["zero-shot", "few-shot", "sample"] = "zero-shot"
    adapter: Optional[str] = None
    limit: Optional[int] = None
    shard: Optional[str] = None             # "i/N": this run's share of the questions
    demos: Optional[str] = None             # few-shot: the weak model's train_2 results
    demo_strategy: Literal["paper", "first"] = "paper"
    demo_ids: Optional[list] = None
    shots: int = P.PAPER_SHOTS
    demo_seed: int = P.PAPER_SEED
    k: int = 10
    temperature: float = 1.0
    top_p: float = 1.0
    grade: Optional[bool] = None            # default: grade when split == "test"
    gold_file: Optional[str] = None
    overwrite: bool = False

    def input_path(self, task: str) -> Path:
        if self.input:
            return Path(self.input)
        return Path(self.data_dir or f"data/{task}") / f"{self.split}.jsonl"

    def grading(self) -> bool:
        return bool(self.gold_file) or (self.grade if self.grade is not None else self.split == "test")

    def check(self) -> None:
        if self.mode == "few-shot" and not self.demos:
            raise W2SError("--mode few-shot needs --demos WEAK_RESULTS.jsonl (the weak model's train_2 outputs)")
        if self.mode == "sample" and (self.k < 1 or self.temperature <= 0):
            raise W2SError("--mode sample needs --k >= 1 and --temperature > 0")
        if self.limit is not None and self.limit < 0:
            raise W2SError("--limit must be >= 0")


ENGINE_FIELDS = frozenset(f.name for f in dataclasses.fields(EngineSpec))
JOB_FIELDS = frozenset(f.name for f in dataclasses.fields(JobSpec))


@dataclass(frozen=True)
class JobsFile:
    engine: EngineSpec
    jobs: list

    def adapters(self) -> list[str]:
        return list(dict.fromkeys(job.adapter for job in self.jobs if job.adapter))


def parse_jobs(data, where: str = "jobs file") -> JobsFile:
    """Check a loaded jobs mapping: unknown keys, types and choices are errors naming the key."""
    if not isinstance(data, dict):
        raise W2SError(f"{where}: expected a mapping with 'engine' and 'jobs'")
    unknown = sorted(set(data) - {"engine", "jobs"})
    if unknown:
        raise W2SError(f"{where}: unknown key '{unknown[0]}' (expected 'engine' and 'jobs')")
    if "engine" not in data:
        raise W2SError(f"{where}: missing required key 'engine'")
    engine = parse_dataclass(EngineSpec, data["engine"], "engine")
    jobs = data.get("jobs")
    if not isinstance(jobs, list) or not jobs:
        raise W2SError(f"{where}: 'jobs' must be a non-empty list")
    return checked(JobsFile(engine, [parse_dataclass(JobSpec, job, f"jobs[{i}]") for i, job in enumerate(jobs)]))


def checked(jobs: JobsFile) -> JobsFile:
    """`jobs`, after the checks that span fields or jobs; errors name the job (`jobs[2]: ...`)."""
    if jobs.engine.tensor_parallel_size < 1 or jobs.engine.data_parallel_size < 1:
        raise W2SError("engine: tensor_parallel_size and data_parallel_size must be >= 1")
    outputs: dict[str, int] = {}
    for i, job in enumerate(jobs.jobs):
        if job.demo_ids is not None and not all(isinstance(x, int) and not isinstance(x, bool) for x in job.demo_ids):
            raise W2SError(f"jobs[{i}].demo_ids: expected a list of integers")
        try:
            job.check()
        except W2SError as e:
            raise W2SError(f"jobs[{i}]: {e}") from None
        key = str(Path(job.output).resolve())
        if key in outputs:
            raise W2SError(f"jobs[{i}].output: {job.output} is also the output of jobs[{outputs[key]}]")
        outputs[key] = i
    return jobs


def load_jobs(path: str | Path) -> JobsFile:
    return load_yaml_as(path, parse_jobs, "jobs file")


def one_job(**fields) -> JobsFile:
    """The jobs file of a single run, from the flat fields of `w2s-lf generate` (each goes to the
    engine or to the job, by name)."""
    unknown = sorted(set(fields) - ENGINE_FIELDS - JOB_FIELDS)
    if unknown:
        raise TypeError(f"one_job: unknown field(s) {unknown}")
    engine = parse_dataclass(EngineSpec, {k: v for k, v in fields.items() if k in ENGINE_FIELDS}, "engine")
    job = parse_dataclass(JobSpec, {k: v for k, v in fields.items() if k in JOB_FIELDS}, "job")
    return checked(JobsFile(engine, [job]))
