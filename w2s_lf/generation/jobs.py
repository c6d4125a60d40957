"""Several generation runs on one engine: `w2s-lf generate --jobs FILE`.

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

Every adapter the jobs name is loaded into the one engine (vLLM multi-LoRA, PEFT named adapters,
or the served names of an OpenAI-compatible server); a job without an adapter runs on the base
model. Each job is exactly a single `w2s-lf generate` run: same output, resume and `.run.json`.
Jobs run in order; the engine starts only when the first job with work left needs it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

from w2s_lf.errors import W2SError
from w2s_lf.generation import prompts as P
from w2s_lf.generation.run import GenerationConfig, run
from w2s_lf.io import load_yaml_as


@dataclass
class EngineSpec:
    """What all jobs share: one base model served by one engine (or one set of DP engines)."""

    model: str
    backend: Literal["vllm", "hf", "openai"] = "vllm"
    task: str = "gsm8k"
    prompt_style: Literal["raw", "chat"] = "raw"
    grader: Literal["robust", "seed"] = "robust"
    seed: int = 42
    max_new_tokens: Optional[int] = None
    batch_size: Optional[int] = None
    tensor_parallel_size: int = 1
    data_parallel_size: int = 1
    ray_address: Optional[str] = None
    options: dict = field(default_factory=dict)


@dataclass
class JobSpec:
    """One run: the fields of `w2s-lf generate` that may differ between runs on one engine."""

    output: str
    data_dir: Optional[str] = None
    split: str = "test"
    input: Optional[str] = None
    mode: Literal["zero-shot", "few-shot", "sample"] = "zero-shot"
    adapter: Optional[str] = None
    limit: Optional[int] = None
    demos: Optional[str] = None
    demo_strategy: Literal["paper", "first"] = "paper"
    demo_ids: Optional[list] = None
    shots: int = P.PAPER_SHOTS
    k: int = 10
    temperature: float = 1.0
    top_p: float = 1.0
    grade: Optional[bool] = None
    gold_file: Optional[str] = None
    overwrite: bool = False


JOB_FIELDS = frozenset(f.name for f in dataclasses.fields(JobSpec))


@dataclass
class JobsFile:
    engine: EngineSpec
    jobs: list

    def configs(self, progress: bool = True) -> list[GenerationConfig]:
        return [job_config(self.engine, job, progress) for job in self.jobs]


def parse_jobs(data, where: str = "jobs file") -> JobsFile:
    """Check a loaded jobs mapping: unknown keys, types and choices are errors naming the key."""
    from w2s_lf.run.recipe import _build

    if not isinstance(data, dict):
        raise W2SError(f"{where}: expected a mapping with 'engine' and 'jobs'")
    unknown = sorted(set(data) - {"engine", "jobs"})
    if unknown:
        raise W2SError(f"{where}: unknown key '{unknown[0]}' (expected 'engine' and 'jobs')")
    if "engine" not in data:
        raise W2SError(f"{where}: missing required key 'engine'")
    engine = _build(EngineSpec, data["engine"], "engine")
    jobs = data.get("jobs")
    if not isinstance(jobs, list) or not jobs:
        raise W2SError(f"{where}: 'jobs' must be a non-empty list")
    specs = [_build(JobSpec, job, f"jobs[{i}]") for i, job in enumerate(jobs)]
    if engine.tensor_parallel_size < 1 or engine.data_parallel_size < 1:
        raise W2SError("engine: tensor_parallel_size and data_parallel_size must be >= 1")
    outputs: dict[str, int] = {}
    for i, job in enumerate(specs):
        if job.demo_ids is not None and not all(isinstance(x, int) and not isinstance(x, bool)
                                                for x in job.demo_ids):
            raise W2SError(f"jobs[{i}].demo_ids: expected a list of integers")
        key = str(Path(job.output).resolve())
        if key in outputs:
            raise W2SError(f"jobs[{i}].output: {job.output} is also the output of jobs[{outputs[key]}]")
        outputs[key] = i
    parsed = JobsFile(engine, specs)
    for i, cfg in enumerate(parsed.configs()):
        try:
            cfg.check()
        except W2SError as e:
            raise W2SError(f"jobs[{i}]: {e}") from None
    return parsed


def load_jobs(path: str | Path) -> JobsFile:
    return load_yaml_as(path, parse_jobs, "jobs file")


def backend_options(engine: EngineSpec) -> dict:
    """The backend's keyword options; `options` may override the derived ones."""
    options = dict(engine.options)
    if engine.backend == "vllm":
        options.setdefault("tensor_parallel_size", engine.tensor_parallel_size)
    return options


def job_config(engine: EngineSpec, job: JobSpec, progress: bool = True) -> GenerationConfig:
    fields = {f.name: getattr(job, f.name) for f in dataclasses.fields(JobSpec)}
    fields["demo_ids"] = tuple(job.demo_ids) if job.demo_ids is not None else None
    return GenerationConfig(model=engine.model, backend=engine.backend, task=engine.task,
                            prompt_style=engine.prompt_style, grader=engine.grader, seed=engine.seed,
                            max_new_tokens=engine.max_new_tokens, batch_size=engine.batch_size,
                            progress=progress, backend_options=backend_options(engine), **fields)


def job_spec_of(cfg: GenerationConfig) -> JobSpec:
    """The per-run part of a single run's config (the inverse of `job_config`)."""
    fields = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(JobSpec)}
    fields["demo_ids"] = list(cfg.demo_ids) if cfg.demo_ids is not None else None
    return JobSpec(**fields)


class SharedEngine:
    """The one engine of a jobs file, started on first use with every job's adapter loaded.

    It is passed to `run(cfg, backend=...)` for each job; `run` names the job's adapter on each
    call. `starts` counts engine starts (one per jobs file, or none when all jobs are done)."""

    def __init__(self, engine: EngineSpec, adapters: list[str], model: str):
        self.spec, self.adapters, self.model = engine, adapters, model
        self.backend = None
        self.starts = 0
        from w2s_lf.generation.backends import DEFAULT_BATCH_SIZES
        self.default_batch_size = DEFAULT_BATCH_SIZES[engine.backend]

    def start(self) -> None:
        """Start the engine now (the runner does, so that start-up is not counted as generation)."""
        self._started()

    def _started(self):
        if self.backend is None:
            spec, options = self.spec, backend_options(self.spec)
            if spec.backend == "vllm":
                options.setdefault("seed", spec.seed)
            cpus = options.pop("cpus_per_engine", 1)   # Ray's share of a node for each engine
            if spec.data_parallel_size > 1:
                from w2s_lf.generation.parallel import DataParallelEngine
                self.backend = DataParallelEngine(spec.backend, self.model, self.adapters, options,
                                                  spec.data_parallel_size, spec.tensor_parallel_size,
                                                  spec.ray_address, cpus)
            else:
                from w2s_lf.generation.backends import make_backend
                self.backend = make_backend(spec.backend, self.model, adapters=self.adapters, **options)
            self.starts += 1
        return self.backend

    @property
    def info(self):
        return self._started().info

    def generate(self, prompts, sampling, adapter=None):
        return self._started().generate(prompts, sampling, adapter=adapter)

    def serve(self, take, window=256):
        from w2s_lf.generation.backends import serve
        return serve(self._started(), take, window)

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()
            self.backend = None


def run_jobs(jobs: JobsFile, progress: bool = True, engine: SharedEngine | None = None) -> list[dict]:
    """Run every job in order on one shared engine; return each job's summary.

    Adapters are checked against the model before the engine starts, so a wrong path fails in
    a second. `engine` lets a caller keep the engine across calls (and read `starts`)."""
    configs = jobs.configs(progress)
    model = jobs.engine.model
    if jobs.engine.backend != "openai":
        from w2s_lf.models.checks import check_adapter, check_model
        model = check_model(model)
        for i, cfg in enumerate(configs):
            if cfg.adapter:
                try:
                    check_adapter(cfg.adapter, model)
                except W2SError as e:
                    raise W2SError(f"jobs[{i}].adapter: {e}") from None
    for cfg in configs:
        adopt_hand_made_shards(cfg)
    adapters = list(dict.fromkeys(c.adapter for c in configs if c.adapter))
    owned = engine is None
    engine = engine or SharedEngine(jobs.engine, adapters, model)
    try:
        return [run(cfg, backend=engine) for cfg in configs]
    finally:
        if owned:
            engine.close()


def adopt_hand_made_shards(cfg: GenerationConfig) -> bool:
    """A job whose output is missing but whose hand-made shards (`--shard i/N`) hold exactly its
    questions takes them as its output (they are read, never deleted), so a pipeline stage does
    not redo generation someone already spread over machines by hand."""
    from w2s_lf.generation.run import load_questions
    from w2s_lf.generation.shards import adopt_shards, shard_files
    if Path(cfg.output).exists() or not shard_files(cfg.output):
        return False
    return adopt_shards(cfg.output, range(len(load_questions(cfg.input_path(), cfg.limit))))
