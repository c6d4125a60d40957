"""Recipes: one YAML file names a whole weak-to-strong experiment.

A recipe is parsed once into frozen dataclasses; unknown keys, wrong types and bad choices are
reported with their key path (`stage2.k: ...`) and a did-you-mean, before any work starts.
`key=value` overrides use dotted paths (`stage2.k=4`), the way `llamafactory-cli` takes them.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

from w2s_lf.errors import W2SError
from w2s_lf.io import check_name
from w2s_lf.schema import parse_dataclass, shown

# LLaMA-Factory keys every training stage sets to its own paths in the run folder
PLAN_OWNED = {"output_dir": "models/<stage> in the run folder; set run_dir to move the run",
              "dataset_dir": "data/ in the run folder; set run_dir to move the run",
              "dataset": "each stage trains on its own dataset",
              "model_name_or_path": "set weak.model or strong.model"}


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
class WeakSpec(ModelSpec):
    """One of several weak supervisors (`weak` as a list): a name for its stages and files."""

    name: str = ""                          # weak_sft_<name>, weak_generate_<name>, eval/weak_<name>.jsonl


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
    # Nodes a training stage uses. Default: one when the model fits on one node (ZeRO-3 across
    # nodes gathers the weights over the interconnect every step), else all. Generation always
    # spreads over every node.
    training_nodes: Optional[int] = None


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
    methods: list = field(default_factory=lambda: ["dpo", "orpo"])   # any of PREF_KINDS
    format: Literal["current", "legacy"] = "current"
    rounds: int = 1                         # >= 2: each method samples, votes and trains again from its last model
    round_methods: Optional[list] = None    # the methods that go on to rounds 2..N (default: all of methods)

    @property
    def repeated(self) -> list:
        """The methods trained again in rounds 2..N, in the order of `methods`."""
        chosen = self.methods if self.round_methods is None else self.round_methods
        return [m for m in self.methods if m in chosen] if self.rounds > 1 else []


@dataclass(frozen=True)
class ConfidentWeakSpec:
    """The `confident_weak` baseline: weak labels kept where the weak model agrees with itself."""

    k: Optional[int] = None                 # weak samples per train_2 question (default stage2.k)
    min_agreement: float = 0.6              # keep when this share of the samples has the greedy answer


# What `evaluate.models` means when a recipe does not say: these, where the recipe trains them.
DEFAULT_EVALUATIONS = ("weak", "strong_full_weak", "strong_confident_weak", "mplus", "mpro", "strong_gold")
# Every name `evaluate.models` knows, in some recipe (a did-you-mean offers these).
EVALUATION_NAMES = ("weak", "strong_base", "strong_full_weak", "strong_gold", "strong_confident_weak", "mplus",
                    "mplus_iter1", "mplus_iter2", "mpro", "mpro_dpo", "mpro_ipo", "mpro_hinge", "mpro_orpo",
                    "mpro_simpo", "mpro_kto")
BASELINES = ("full_weak", "gold", "confident_weak")


@dataclass(frozen=True)
class EvaluateSpec:
    models: Optional[list] = None           # default DEFAULT_EVALUATIONS (those the recipe trains)
    k: int = 0                              # >0: also sample k answers per test question for pass@k


@dataclass(frozen=True)
class Recipe:
    name: str
    task: Literal["gsm8k", "math", "custom"] = "gsm8k"
    data: DataSpec = field(default_factory=DataSpec)
    # One weak model (a mapping, ModelSpec) or several (a list of mappings, WeakSpec, each with
    # a `name`): parsed in __post_init__, since a key's type is one or the other.
    weak: Any = field(default_factory=ModelSpec)
    strong: ModelSpec = field(default_factory=lambda: ModelSpec(train=False))
    generation: GenerationSpec = field(default_factory=GenerationSpec)
    training: TrainingSpec = field(default_factory=TrainingSpec)
    stage1: Stage1Spec = field(default_factory=Stage1Spec)
    stage2: Stage2Spec = field(default_factory=Stage2Spec)
    baselines: list = field(default_factory=lambda: ["full_weak", "gold"])
    confident_weak: ConfidentWeakSpec = field(default_factory=ConfidentWeakSpec)
    evaluate: EvaluateSpec = field(default_factory=EvaluateSpec)
    cluster: ClusterSpec = field(default_factory=ClusterSpec)
    grader: Literal["robust", "seed"] = "robust"
    seed: int = 42
    run_dir: Optional[str] = None           # default runs/<name>

    def validate(self) -> None:
        """Rules that span fields; field types and choices are checked while parsing."""
        check_name(self.name, "name")
        self._validate_numbers()
        self._validate_overrides()
        s2 = self.stage2
        if not 0 <= s2.keep_threshold <= s2.flip_threshold <= 1:
            raise W2SError("stage2: need 0 <= keep_threshold <= flip_threshold <= 1, got "
                           f"{s2.keep_threshold} and {s2.flip_threshold}")
        if s2.k < 1:
            raise W2SError(f"stage2.k: must be at least 1, got {s2.k}")
        from w2s_lf.lf.configs import PREF_KINDS
        for method in s2.methods:
            if method not in PREF_KINDS:
                near = difflib.get_close_matches(method, PREF_KINDS, n=1) if isinstance(method, str) else []
                hint = f" (did you mean '{near[0]}'?)" if near else ""
                raise W2SError(f"stage2.methods: unknown method {shown(method)}{hint}; use any of {', '.join(PREF_KINDS)}")
        if "kto" in s2.methods and s2.format == "legacy":
            raise W2SError("stage2.format: KTO data is built from pairs in the current format (chosen / rejected); "
                           "legacy pairs are for LLaMA-Factory <= 0.7, which has no KTO")
        if s2.rounds < 1:
            raise W2SError(f"stage2.rounds: must be at least 1, got {s2.rounds}")
        if s2.rounds > 1 and not s2.methods:
            raise W2SError("stage2.rounds: later rounds train each of stage2.methods again; stage2.methods is empty")
        if s2.round_methods is not None:
            if s2.rounds < 2:
                raise W2SError("stage2.round_methods: names the methods of rounds 2..N; set stage2.rounds to 2 or more")
            for method in s2.round_methods:
                if method not in s2.methods:
                    raise W2SError(f"stage2.round_methods: {shown(method)} is not one of stage2.methods {s2.methods}")
            if not s2.round_methods:
                raise W2SError("stage2.round_methods: empty; list at least one of stage2.methods, or set rounds: 1")
        for baseline in self.baselines:
            if baseline not in BASELINES:
                raise W2SError(f"baselines: unknown baseline {shown(baseline)}; use any of {', '.join(BASELINES)}")
        c = self.confident_weak
        if not 0 <= c.min_agreement <= 1 or (c.k is not None and c.k < 1):
            raise W2SError(f"confident_weak: need k >= 1 and 0 <= min_agreement <= 1, got {c.k} and {c.min_agreement}")
        if "confident_weak" in self.baselines and "full_weak" not in self.baselines:
            raise W2SError("baselines: confident_weak is compared with full_weak; list both")
        for where, names in (("stage2.methods", s2.methods), ("stage2.round_methods", s2.round_methods or []),
                             ("baselines", self.baselines)):
            if len(set(names)) != len(names):
                raise W2SError(f"{where}: {shown(names)} names one twice")
        self.evaluations()
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

    def _validate_numbers(self) -> None:
        """Counts are positive, seeds fit every generator; a typo stops here, not at stage 5."""
        d, g, s2 = self.data, self.generation, self.stage2
        at_least = [("data.limit_train_2", d.limit_train_2, 1), ("data.limit_test", d.limit_test, 1),
                    ("generation.max_new_tokens", g.max_new_tokens, 1), ("generation.batch_size", g.batch_size, 1),
                    ("generation.data_parallel_size", g.data_parallel_size, 1),
                    ("cluster.gpus_per_node", self.cluster.gpus_per_node, 0),
                    ("stage1.target_count", self.stage1.target_count, 1), ("stage2.max_pairs", s2.max_pairs, 1),
                    ("stage2.temperature", s2.temperature, 0), ("evaluate.k", self.evaluate.k, 0)]
        for where, value, low in at_least:
            if value is not None and value < low:
                raise W2SError(f"{where}: must be at least {low}, got {value}")
        for where, seed in (("seed", self.seed), ("data.seed", d.seed)):
            if not 0 <= seed < 2 ** 32:
                raise W2SError(f"{where}: must be in [0, 2**32), got {seed}")
        if d.sizes is not None:
            wanted = {"embedded": 3, "hf": 2}.get(d.source)
            if wanted is None:
                raise W2SError("data.sizes: local splits are used as they are; remove data.sizes")
            what = "[train_1, train_2, test]" if wanted == 3 else "[train_1, train_2]"
            if len(d.sizes) != wanted:
                raise W2SError(f"data.sizes: {d.source} takes {what}, got {shown(d.sizes)}")
            for k, size in enumerate(d.sizes):
                if not isinstance(size, int) or isinstance(size, bool) or size < 1:
                    raise W2SError(f"data.sizes[{k}]: expected a positive count of questions, got {shown(size)}")

    def _validate_overrides(self) -> None:
        """LLaMA-Factory keys: names, and none of the paths each stage sets in its run folder."""
        t = self.training
        for group in ("overrides", "sft_overrides", "pref_overrides", "weak_overrides"):
            for key in getattr(t, group):
                if not isinstance(key, str):
                    raise W2SError(f"training.{group}: {shown(key)} is not a LLaMA-Factory key")
                if key in PLAN_OWNED:
                    raise W2SError(f"training.{group}.{key}: set by the plan ({PLAN_OWNED[key]})")
        for key, top in (("nproc_per_node", None), ("master_port", 65535)):
            value = t.launch.get(key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1
                                      or (top and value > top)):
                raise W2SError(f"training.launch.{key}: expected an integer from 1{f' to {top}' if top else ''}, "
                               f"got {shown(value)}")

    def evaluations(self) -> set[str]:
        """The test evaluations (`eval/<key>.jsonl`) that `evaluate.models` asks of this recipe.
        A name given that this recipe does not train, or that no recipe knows, is an error."""
        iterations = [f"mplus_iter{i}" for i in range(1, self.stage1.iterations + 1)]
        mpro = [f"mpro_{m}" for m in self.stage2.methods]
        rounds = range(2, self.stage2.rounds + 1)
        later_of = {f"mpro_{m}": [f"mpro_{m}_r{r}" for r in rounds] for m in self.stage2.repeated}
        later = [key for keys in later_of.values() for key in keys]
        weak = ["weak"] + ([f"weak_{w.name}" for w in self.weak] if isinstance(self.weak, list) else [])
        keys = {"weak": weak, "strong_base": ["strong_base"], "mplus": iterations, "mpro": mpro + later,
                **{k: [k] for k in iterations + mpro}, **{k: [k, *later_of.get(k, [])] for k in mpro},
                **{f"strong_{b}": [f"strong_{b}"] for b in self.baselines}}
        given = self.evaluate.models
        if given is None:
            return {key for name in DEFAULT_EVALUATIONS for key in keys.get(name, [])}
        for k, name in enumerate(given):
            if not isinstance(name, str) or name not in EVALUATION_NAMES:
                near = difflib.get_close_matches(name, EVALUATION_NAMES, n=1) if isinstance(name, str) else []
                hint = f" (did you mean '{near[0]}'?)" if near else f"; known: {', '.join(EVALUATION_NAMES)}"
                raise W2SError(f"evaluate.models[{k}]: unknown model {shown(name)}{hint}")
            if not keys.get(name):
                raise W2SError(f"evaluate.models[{k}]: this recipe trains no '{name}' (baselines "
                               f"{self.baselines}, stage1.iterations {self.stage1.iterations}, "
                               f"stage2.methods {self.stage2.methods})")
        return {key for name in given for key in keys[name]}

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
        weak = [(w, f"weak[{k}]") for k, w in enumerate(self.weak)] if isinstance(self.weak, list) else [(self.weak, "weak")]
        for spec, where in [*weak, (self.strong, "strong")]:
            if spec.tensor_parallel_size < 1:
                raise W2SError(f"{where}.tensor_parallel_size: must be at least 1")
        if self.cluster.nodes < 1:
            raise W2SError(f"cluster.nodes: must be at least 1, got {self.cluster.nodes}")
        if self.cluster.backend == "local" and self.cluster.nodes > 1:
            raise W2SError("cluster.nodes: several nodes need cluster.backend ray or slurm")
        if self.cluster.training_nodes is not None and not 1 <= self.cluster.training_nodes <= self.cluster.nodes:
            raise W2SError(f"cluster.training_nodes: must be between 1 and cluster.nodes ({self.cluster.nodes}), "
                           f"got {self.cluster.training_nodes}")

    @property
    def run_path(self) -> Path:
        """Absolute (from the working directory at parse time): every path a run writes into its
        configs and commands is absolute, so they work from any directory."""
        return self._run_path

    def __post_init__(self):
        object.__setattr__(self, "_run_path", Path(os.path.abspath(self.run_dir or f"runs/{self.name}")))
        object.__setattr__(self, "weak", parse_weak(self.weak))

    @property
    def weak_models(self) -> list[ModelSpec]:
        """Every weak model: the one mapping, or the listed ones (WeakSpec, with names)."""
        return self.weak if isinstance(self.weak, list) else [self.weak]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def parse_weak(value) -> ModelSpec | list[WeakSpec]:
    """`weak`: one model (a mapping) or several (a list of mappings, each named, names unique)."""
    if isinstance(value, ModelSpec):
        return value
    if not isinstance(value, list):
        return parse_dataclass(ModelSpec, value, "weak")
    if len(value) < 2:
        raise W2SError("weak: a list names several weak models (two or more); give one model as a mapping")
    models = [parse_dataclass(WeakSpec, v, f"weak[{k}]") for k, v in enumerate(value)]
    for k, model in enumerate(models):
        check_name(model.name, f"weak[{k}].name")
        if not model.name.replace("_", "").isalnum():
            raise W2SError(f"weak[{k}].name: {shown(model.name)} must be letters, digits and _ (it names stages and files)")
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise W2SError(f"weak: names {shown(names)} name one twice")
    return models


def apply_overrides(data: dict, overrides: dict) -> dict:
    """Set dotted keys (`stage2.k`) in a nested dict, returning a new dict."""
    import copy
    if not isinstance(data, dict):
        raise W2SError(f"recipe: expected a mapping of keys (name, task, data, ...), got {type(data).__name__}")
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
    recipe = parse_dataclass(Recipe, apply_overrides({} if data is None else data, overrides or {}), "")
    recipe.validate()
    return recipe


def load_recipe(path: str | Path, overrides: dict | None = None) -> Recipe:
    from w2s_lf.io import load_yaml_as
    return load_yaml_as(path, lambda data: parse_recipe(data, overrides), "recipe")
