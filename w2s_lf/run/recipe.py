"""Recipes: one YAML file names a whole weak-to-strong experiment.

A recipe is parsed once into frozen dataclasses; unknown keys, wrong types and bad choices are
reported with their key path (`stage2.k: ...`) and a did-you-mean, before any work starts.
`key=value` overrides use dotted paths (`stage2.k=4`), the way `llamafactory-cli` takes them.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

from w2s_lf.errors import W2SError
from w2s_lf.schema import parse_dataclass


@dataclass(frozen=True)
class DataSpec:
    source: Literal["embedded", "local", "hf"] = "embedded"
    from_dir: Optional[str] = None          # local: folder with train_1/train_2/test.jsonl
    hf_name: Optional[str] = None
    hf_config: Optional[str] = None
    hf_test_name: Optional[str] = None
    sizes: Optional[list] = None            # embedded: [train_1, train_2, test]; hf: [train_1, train_2]
    seed: int = 42
    limit_train_2: Optional[int] = None     # use only the first N train_2 questions
    limit_test: Optional[int] = None        # evaluate on the first N test questions


@dataclass(frozen=True)
class ModelSpec:
    model: str = "smollm2-135m"             # a folder, a hub id, or a built-in name (w2s-lf models)
    train: bool = True                      # weak only: fine-tune on train_1 gold first
    adapter: Optional[str] = None           # weak only: an already trained adapter to use instead
    tensor_parallel_size: int = 1           # GPUs per generation engine (70B: 8); engines = GPUs / this


@dataclass(frozen=True)
class GenerationSpec:
    backend: Literal["vllm", "hf", "openai"] = "vllm"
    prompt_style: Literal["raw", "chat"] = "raw"
    max_new_tokens: Optional[int] = None    # task default (GSM8K 1024, MATH 2048)
    batch_size: Optional[int] = None
    data_parallel_size: Optional[int] = None   # engines per generation stage (default: every GPU of the cluster)
    options: dict = field(default_factory=dict)   # other backend options (dtype, enforce_eager, engine_args)


@dataclass(frozen=True)
class TrainingSpec:
    preset: Literal["70b", "7b", "cpu"] = "cpu"
    weak_preset: Optional[Literal["70b", "7b", "cpu"]] = None   # default: the 7b preset unless cpu
    overrides: dict = field(default_factory=dict)        # every config
    sft_overrides: dict = field(default_factory=dict)
    pref_overrides: dict = field(default_factory=dict)   # DPO and ORPO
    weak_overrides: dict = field(default_factory=dict)   # the weak model's SFT, applied after sft_overrides
    launch: dict = field(default_factory=dict)           # nproc_per_node, master_port (nodes: see `cluster`)
    template: Optional[str] = None          # LLaMA-Factory template; default: w2s_vanilla (raw) or the model family's chat template


@dataclass(frozen=True)
class ClusterSpec:
    """Where the run executes. How a stage is placed never changes what it computes, so nothing
    here is part of a stage's key: a run moves between a laptop, one node and a cluster."""

    backend: Literal["local", "ray", "slurm"] = "local"
    address: Optional[str] = None           # ray: the head's address (default: $RAY_ADDRESS or auto)
    nodes: int = 1
    gpus_per_node: Optional[int] = None     # default: the GPUs this machine sees


@dataclass(frozen=True)
class Stage1Spec:
    iterations: Literal[1, 2] = 1
    target_count: Optional[int] = None      # MATH top-up of the consistent set to this many
    keep_both_empty: bool = False           # also keep questions where both answers are empty (paper's GSM8K data)


@dataclass(frozen=True)
class Stage2Spec:
    k: int = 10
    temperature: float = 1.0
    keep_threshold: float = 0.6
    flip_threshold: float = 0.8
    max_pairs: Optional[int] = None         # task default: GSM8K 1, MATH 3
    methods: list = field(default_factory=lambda: ["dpo", "orpo"])
    format: Literal["current", "legacy"] = "current"


@dataclass(frozen=True)
class EvaluateSpec:
    models: list = field(default_factory=lambda: ["weak", "strong_full_weak", "mplus", "mpro", "strong_gold"])
    k: int = 0                              # >0: also sample k answers per test question for pass@k


@dataclass(frozen=True)
class Recipe:
    name: str
    task: Literal["gsm8k", "math", "custom"] = "gsm8k"
    data: DataSpec = field(default_factory=DataSpec)
    weak: ModelSpec = field(default_factory=ModelSpec)
    strong: ModelSpec = field(default_factory=lambda: ModelSpec(train=False))
    generation: GenerationSpec = field(default_factory=GenerationSpec)
    training: TrainingSpec = field(default_factory=TrainingSpec)
    stage1: Stage1Spec = field(default_factory=Stage1Spec)
    stage2: Stage2Spec = field(default_factory=Stage2Spec)
    baselines: list = field(default_factory=lambda: ["full_weak", "gold"])
    evaluate: EvaluateSpec = field(default_factory=EvaluateSpec)
    cluster: ClusterSpec = field(default_factory=ClusterSpec)
    grader: Literal["robust", "seed"] = "robust"
    seed: int = 42
    run_dir: Optional[str] = None           # default runs/<name>

    def validate(self) -> None:
        """Rules that span fields; field types and choices are checked while parsing."""
        s2 = self.stage2
        if not 0 <= s2.keep_threshold <= s2.flip_threshold <= 1:
            raise W2SError("stage2: need 0 <= keep_threshold <= flip_threshold <= 1, got "
                           f"{s2.keep_threshold} and {s2.flip_threshold}")
        if s2.k < 1:
            raise W2SError(f"stage2.k: must be at least 1, got {s2.k}")
        for method in s2.methods:
            if method not in ("dpo", "orpo"):
                raise W2SError(f"stage2.methods: unknown method '{method}'; use dpo and/or orpo")
        for baseline in self.baselines:
            if baseline not in ("full_weak", "gold"):
                raise W2SError(f"baselines: unknown baseline '{baseline}'; use full_weak and/or gold")
        if self.generation.prompt_style == "chat" and self.grader == "seed":
            raise W2SError("grader: 'seed' reads only the paper's answer markers ('####', 'The answer is:'); "
                           "chat models answer in \\boxed{} (generation.prompt_style: chat): use 'robust'")
        if self.data.source == "local" and not self.data.from_dir:
            raise W2SError("data.from_dir: required when data.source is 'local'")
        if self.data.source == "hf" and not self.data.hf_name:
            raise W2SError("data.hf_name: required when data.source is 'hf'")
        self._validate_placement()
        if self.data.source == "embedded" and self.task not in ("gsm8k", "math"):
            raise W2SError(f"data.source: the embedded tasks are GSM8K- and MATH-style; task '{self.task}' "
                           f"needs local or hf")

    def _validate_placement(self) -> None:
        if "tensor_parallel_size" in self.generation.options:
            raise W2SError("generation.options.tensor_parallel_size: set it per model instead "
                           "(strong.tensor_parallel_size: 8), so a 7B weak model is not split over 8 GPUs")
        for key in ("nnodes", "node_rank", "master_addr"):
            if key in self.training.launch:
                raise W2SError(f"training.launch.{key}: several nodes are one `cluster` "
                               "(cluster.backend: ray or slurm, cluster.nodes: N); run `w2s-lf run` once, "
                               "on one machine, and it drives every node")
        unknown = set(self.training.launch) - {"nproc_per_node", "master_port"}
        if unknown:
            raise W2SError(f"training.launch.{sorted(unknown)[0]}: unknown key; known: master_port, nproc_per_node")
        for spec, where in ((self.weak, "weak"), (self.strong, "strong")):
            if spec.tensor_parallel_size < 1:
                raise W2SError(f"{where}.tensor_parallel_size: must be at least 1")
        if self.cluster.nodes < 1:
            raise W2SError(f"cluster.nodes: must be at least 1, got {self.cluster.nodes}")
        if self.cluster.backend == "local" and self.cluster.nodes > 1:
            raise W2SError("cluster.nodes: several nodes need cluster.backend ray or slurm")

    @property
    def run_path(self) -> Path:
        """Absolute (from the working directory at parse time): every path a run writes into its
        configs and commands is absolute, so they work from any directory."""
        return self._run_path

    def __post_init__(self):
        object.__setattr__(self, "_run_path", Path(os.path.abspath(self.run_dir or f"runs/{self.name}")))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def apply_overrides(data: dict, overrides: dict) -> dict:
    """Set dotted keys (`stage2.k`) in a nested dict, returning a new dict."""
    import copy
    out = copy.deepcopy(data)
    for dotted, value in overrides.items():
        node = out
        *parents, last = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise W2SError(f"{dotted}: '{part}' is not a section")
        node[last] = value
    return out


def parse_recipe(data: dict, overrides: dict | None = None) -> Recipe:
    recipe = parse_dataclass(Recipe, apply_overrides(data or {}, overrides or {}), "")
    recipe.validate()
    return recipe


def load_recipe(path: str | Path, overrides: dict | None = None) -> Recipe:
    from w2s_lf.io import load_yaml_as
    return load_yaml_as(path, lambda data: parse_recipe(data, overrides), "recipe")
