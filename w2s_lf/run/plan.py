"""The recipe as stages: what each step reads, writes, and the exact command that does it.

Generation is grouped by engine: every output one base model produces in a phase of the recipe
(a weak model's train_2 answers and its test evaluation; the strong model's few-shot answers and
the baselines' evaluations, served as LoRA adapters of the same base) is one stage, one
`w2s-lf generate --jobs FILE` call and one engine start. An engine start is ~15 s on a laptop and
minutes for a 70B model, so the order of the recipe is arranged to need as few as possible.
Training is one LLaMA-Factory job per stage on a config written into the run folder.

Run folder layout:

    data/      prepared splits, built datasets, dataset_info.json
    gen/       model outputs on train_2 (weak, ICL, samples) and votes
    configs/   LLaMA-Factory YAML configs, generation job files (configs/generate/)
    models/    adapters and merged models     eval/  greedy results on test per model
    logs/      one log per stage
"""

from __future__ import annotations

import shlex
from pathlib import Path

from w2s_lf.errors import W2SError
from w2s_lf.launch.placement import shape_of
from w2s_lf.run import sizes as plan_sizes
from w2s_lf.run.manifest import Stage
from w2s_lf.run.plan_beyond import BeyondPaper
from w2s_lf.run.plan_parts import W2S, Engine, ModelRef
from w2s_lf.run.recipe import Recipe

PLACEMENT_KEYS = ("tensor_parallel_size", "data_parallel_size", "ray_address")
# Questions per split when the recipe does not say (GSM8K / MATH train halves and test sets).
DEFAULT_QUESTIONS = {"train_2": 3700, "test": 1319}


class Planner(BeyondPaper):
    def __init__(self, recipe: Recipe, executor):
        self.r = recipe
        self.root = recipe.run_path
        self.exec = executor     # runs a stage's commands: see w2s_lf.run.execute
        self.shape = shape_of(recipe)
        self.stages: list[Stage] = []
        self.eval_files: list[str] = []      # what the report stage reads

    # -- helpers ---------------------------------------------------------------------------
    def p(self, rel: str) -> str:
        return str(self.root / rel)

    def ds(self, name: str) -> str:
        """Dataset names as `w2s-lf build` names them by default (`gsm8k_iter1_hybrid`, ...),
        so a run folder's datasets match the shipped configs."""
        return f"{self.r.task}_{name}"

    def template(self, model: str) -> str:
        """LLaMA-Factory template for a model (a merged M_plus is the strong model's family)."""
        from w2s_lf.lf.templates import template_for
        return template_for(model, self.r.generation.prompt_style, self.r.training.template)

    def model_arg(self, spec: str) -> str:
        from w2s_lf.models.builtin import BUILDERS, model_dir
        return str(model_dir(spec)) if spec in BUILDERS else spec

    def portable(self, value):
        """`value` with the model cache written `$CACHE` (and, when keyed, the run folder `$RUN`):
        a stage's key must not change when the run moves to another machine or path."""
        from w2s_lf.models.builtin import cache_dir
        from w2s_lf.run.manifest import portable
        return portable(value, cache_dir(), "$CACHE")

    def add(self, name, params, inputs, outputs, commands, *, resumable=False, adopts=False, stats_file=None,
            configs=(), gpus=0, disk=0.0, placement="this machine", note="", shape=None):
        def run(stage: Stage):
            return self.exec(stage, commands, configs, stats_file)
        shown = [" ".join(["python", *map(shlex.quote, cmd[1:])]) if isinstance(cmd, list) else cmd
                 for cmd in commands]
        self.stages.append(Stage(name, self.portable(params), inputs, outputs, run, shown, resumable,
                                 configs=list(configs), adopts=adopts, gpus=gpus, disk_bytes=disk,
                                 placement=placement, note=note, shape=shape))

    def limit(self, split: str) -> int | None:
        """The recipe's cap on questions generated for `split` (None: all)."""
        return self.r.data.limit_test if split == "test" else self.r.data.limit_train_2

    def questions(self, split: str) -> int:
        d = self.r.data
        sized = d.sizes[1 if split == "train_2" else 2] if d.sizes and len(d.sizes) == 3 else None
        return self.limit(split) or sized or DEFAULT_QUESTIONS[split]

    # -- generation ------------------------------------------------------------------------
    def engine(self, base: ModelRef, tp: int | None = None) -> Engine:
        return Engine(base, tp or self.r.strong.tensor_parallel_size)

    def generate(self, name: str, engine: Engine, inputs: tuple = ()) -> None:
        """One stage, one `w2s-lf generate --jobs` call: every job of `engine` on one engine."""
        from w2s_lf.generation.jobs import JOB_FIELDS
        r, g = self.r, self.r.generation
        base = engine.base
        dp = self.shape.engines(engine.tp, g.data_parallel_size)
        # `generation.options` holds engine options and per-run ones (shots, top_p, demo_ids)
        per_job = {k: v for k, v in g.options.items() if k in JOB_FIELDS}
        spec = {"model": self.p(base.base) if base.base_in_run else base.base, "backend": g.backend,
                "task": r.task, "prompt_style": g.prompt_style, "grader": r.grader, "seed": r.seed,
                "max_new_tokens": g.max_new_tokens, "batch_size": g.batch_size,
                "tensor_parallel_size": engine.tp, "data_parallel_size": dp,
                "ray_address": (r.cluster.address or "auto") if r.cluster.backend == "ray" else None,
                "options": {k: v for k, v in g.options.items() if k not in JOB_FIELDS}}
        jobs = []
        for job in engine.jobs:
            full = {**per_job, **job, "output": self.p(job["output"]), "data_dir": self.p("data"),
                    "limit": self.limit(job["split"]),
                    "adapter": self.p(job["adapter"]) if job["adapter"] and not Path(job["adapter"]).is_absolute()
                    else job["adapter"]}
            if "demos" in job:
                full["demos"] = self.p(job["demos"])
            jobs.append(full)
        jobs_file = {"engine": spec, "jobs": jobs}
        path = self.p(f"configs/generate/{name}.yaml")
        # What is computed, not where: TP/DP sizes and the Ray address are placement.
        key = {"engine": {k: v for k, v in spec.items() if k not in PLACEMENT_KEYS}, "jobs": jobs}
        splits = sorted({j["split"] for j in jobs})
        disk = sum(plan_sizes.generation_bytes(self.questions(j["split"]), j.get("k", 1),
                                               g.max_new_tokens or 1024) for j in jobs)
        self.add(name, {"kind": "generate", "jobs": key},
                 [f"data/{s}.jsonl" for s in splits] + ([base.base] if base.base_in_run else [])
                 + engine.inputs + list(inputs),
                 [j["output"] for j in engine.jobs], [[*W2S, "generate", "--jobs", path]],
                 resumable=True, adopts=True, configs=[("generate", jobs_file, path)],
                 gpus=dp * engine.tp if self.shape.gpus else 0, disk=disk,
                 placement=self.shape.generation_placement(engine.tp, dp))
        self.eval_files += engine.eval_files

    def evaluate(self, engine: Engine, key: str, adapter: str | None = None) -> None:
        """Greedy answers of one model on test, written to eval/<key>.jsonl for the report, and
        with `evaluate.k`, k samples per question (eval/<key>.samples.jsonl: pass@k, maj@k), at
        the stage II temperature as the paper's pass@k passes."""
        if key in self.r.evaluations():
            engine.job(f"eval/{key}.jsonl", "test", adapter=adapter)
            engine.eval_files.append(f"eval/{key}.jsonl")
            if self.r.evaluate.k:
                engine.job(f"eval/{key}.samples.jsonl", "test", "sample", adapter=adapter, k=self.r.evaluate.k,
                           temperature=self.r.stage2.temperature)
                engine.eval_files.append(f"eval/{key}.samples.jsonl")

    # -- training --------------------------------------------------------------------------
    def train(self, name: str, kind: str, model: ModelRef | str, dataset: str, out: str,
              preset: str | None = None, inputs: tuple = (), extra_overrides: dict | None = None) -> None:
        """A LoRA training stage. Its params hold the hardware-independent config (a global
        batch, not accumulation steps); the launcher resolves it for the processes it starts."""
        from w2s_lf.lf.configs import PREF_KINDS, absolute_paths, plan_train_config
        t = self.r.training
        base = model.base if isinstance(model, ModelRef) else model
        in_run = isinstance(model, ModelRef) and model.base_in_run
        overrides = {**t.overrides, **(t.pref_overrides if kind in PREF_KINDS else t.sft_overrides),
                     **(extra_overrides or {})}
        model_path = self.p(base) if in_run else self.model_arg(base)
        config = plan_train_config(kind, preset or t.preset, model_path, dataset, self.p("data"), self.p(out),
                                   overrides=overrides, template=self.template(self.r.strong.model if in_run else base))
        params = {"kind": "train", "config": config}
        if config.get("deepspeed"):
            params["deepspeed_config"] = self.deepspeed_config(name, config)
        params["config"] = config = absolute_paths(config)
        cfg_path = self.p(f"configs/{name}.yaml")
        sized = self.model_arg(self.r.strong.model) if in_run else model_path   # a merged model: the strong one's size
        shape, why = self.shape.for_training(config, sized)
        cmd = shape.launcher(t.launch, config, shown=True).shown(cfg_path, config)
        # Inputs are the dataset files themselves, not dataset_info.json: later builders add
        # entries to it, which must not make finished training stages look stale.
        model_inputs = [base] if in_run else []
        per_node, nodes = world = shape.training_world(t.launch, config)
        self.add(name, params, [*model_inputs, *inputs], [out], [cmd],
                 resumable=True, configs=[("train", config, cfg_path)],
                 gpus=per_node * nodes if shape.gpus else 0, disk=plan_sizes.training_bytes(config, sized),
                 placement=shape.training_placement(world), note=why, shape=shape)

    def deepspeed_config(self, name: str, config: dict) -> dict:
        """The DeepSpeed JSON a config names, to be copied into the run's configs/ (and the
        config pointed there): the run folder then holds everything its training reads, and
        the stage's key changes when the JSON does."""
        import json

        from w2s_lf.lf.configs import DEEPSPEED_Z3, DEEPSPEED_Z3_CONFIG
        source = config["deepspeed"]
        if source == DEEPSPEED_Z3:
            config["deepspeed"] = self.p("configs/ds_z3_config.json")
            return DEEPSPEED_Z3_CONFIG
        try:
            content = json.loads(Path(source).read_text())
        except (OSError, ValueError) as e:
            raise W2SError(f"training overrides: deepspeed config {Path(source).absolute()} cannot be read: {e}") from None
        config["deepspeed"] = self.p(f"configs/{name}.deepspeed.json")
        return content

    # -- the recipe ------------------------------------------------------------------------
    def plan(self) -> list[Stage]:
        r = self.r
        self.prepare()
        if isinstance(r.weak, list):
            self.several_weak()
        else:
            self.one_weak(r.weak, "gen/weak_train_2.jsonl", "weak")
        self.full_weak()
        if "confident_weak" in r.baselines:
            self.confident_weak()
        self.baselines()
        self.strong_generate()
        self.stage1("stage1", "gen/weak_train_2.jsonl", "gen/strong_icl_train_2.jsonl", self.ds("iter1"))
        s = r.strong.model
        self.train("mplus_sft_iter1", "sft", s, self.ds("iter1_hybrid"), "models/mplus_iter1",
                   inputs=(f"data/{self.ds('iter1_hybrid')}.json",))
        mplus = self.iteration_2() if r.stage1.iterations == 2 else "models/mplus_iter1"
        self.stage2(mplus)
        self.later_rounds(f"{mplus}_merged")
        self.add("report", {"kind": "report"}, self.eval_files, ["report.md"],
                 [[*W2S, "report", str(self.root), "--recompute"]])
        return self.stages

    def prepare(self) -> None:
        d, r = self.r.data, self.r
        cmd = [*W2S, "prepare", "--task", r.task, "--seed", str(d.seed), "-o", self.p("data")]
        if r.generation.prompt_style == "chat":   # gold SFT files as chat turns, \boxed{} targets
            cmd += ["--prompt-style", "chat"]
        if d.source == "local":
            cmd += ["--from-dir", d.from_dir]
        elif d.source == "hf":
            cmd += ["--hf", d.hf_name] + (["--hf-config", d.hf_config] if d.hf_config else []) \
                + (["--hf-test-name", d.hf_test_name] if d.hf_test_name else [])
        if d.sizes:
            cmd += ["--sizes", ",".join(str(s) for s in d.sizes)]
        outputs = ["data/train_2.jsonl", "data/test.jsonl", f"data/{r.task}_train_1.json",
                   f"data/{r.task}_train_2.json"]
        from w2s_lf.tasks.prepare import SIZES_FILE   # the sizes beside the paper's, and a warning
        self.add("prepare", {"kind": "prepare", "cmd": cmd[3:]}, [], outputs, [cmd], stats_file=f"data/{SIZES_FILE}")

    def one_weak(self, w, out: str, key: str, suffix: str = "") -> None:
        """A weak model trained (or given) and its engine: greedy answers on train_2 (`out`),
        its test evaluation (`key`) and, for the confident-weak baseline, samples on train_2."""
        weak = self.weak_model(w, suffix)
        engine = Engine(weak, w.tensor_parallel_size)
        engine.job(out, "train_2", adapter=weak.adapter)
        self.evaluate(engine, key, weak.adapter)
        self.weak_samples(engine, weak.adapter, suffix)
        self.generate(f"weak_generate{suffix}", engine)

    def weak_model(self, w, suffix: str = "") -> ModelRef:
        if not w.train:
            # A given adapter lives outside the run folder; absolute, `root / path` is the path.
            return ModelRef(w.model, str(Path(w.adapter).resolve()) if w.adapter else None)
        preset = self.r.training.weak_preset or ("cpu" if self.r.training.preset == "cpu" else "7b")
        t = self.r.training
        out = f"models/weak{suffix}"
        self.train(f"weak_sft{suffix}", "sft", w.model, f"{self.r.task}_train_1_gold", out, preset,
                   inputs=(f"data/{self.r.task}_train_1.json",), extra_overrides=t.weak_overrides)
        full = {**t.overrides, **t.sft_overrides, **t.weak_overrides}.get("finetuning_type") == "full"
        # A fully fine-tuned weak model is a whole model folder, not an adapter on its base.
        return ModelRef(out, base_in_run=True) if full else ModelRef(w.model, out)

    def full_weak(self) -> None:
        """The naive baseline's data: every weak answer on train_2 as an SFT target."""
        cmd = [*W2S, "build", "full-weak", "--weak", self.p("gen/weak_train_2.jsonl"), "--out-dir",
               self.p("data"), "--name", self.ds("full_weak"), "--gold", self.p("data/train_2.jsonl")]
        self.add("full_weak", {"kind": "build", "cmd": cmd[3:]}, ["gen/weak_train_2.jsonl", "data/train_2.jsonl"],
                 [f"data/{self.ds('full_weak')}.json"], [cmd], stats_file=f"data/{self.ds('full_weak')}.stats.json")

    def baselines(self) -> None:
        """Trained before the strong engine starts, so it evaluates them as adapters of its base."""
        datasets = {"full_weak": self.ds("full_weak"), "gold": self.ds("train_2_gold"),
                    "confident_weak": self.ds("confident_weak")}
        sources = {**{b: f"data/{name}.json" for b, name in datasets.items()}, "gold": f"data/{self.r.task}_train_2.json"}
        for baseline in self.r.baselines:
            self.train(f"baseline_{baseline}", "sft", self.r.strong.model, datasets[baseline],
                       f"models/strong_{baseline}", inputs=(sources[baseline],))

    def strong_generate(self) -> None:
        """The strong base: few-shot (ICL) answers on train_2, and base + baselines on test."""
        engine = self.engine(ModelRef(self.r.strong.model))
        engine.job("gen/strong_icl_train_2.jsonl", "train_2", "few-shot",
                   demos="gen/weak_train_2.jsonl", demo_strategy="paper")
        self.evaluate(engine, "strong_base")
        for baseline in self.r.baselines:
            self.evaluate(engine, f"strong_{baseline}", f"models/strong_{baseline}")
        self.generate("strong_generate", engine)

    def stage1(self, name: str, weak: str, icl: str, prefix: str) -> None:
        cmd = [*W2S, "build", "stage1", "--weak", self.p(weak), "--icl", self.p(icl),
               "--task", self.r.task, "--out-dir", self.p("data"), "--name", prefix,
               "--gold", self.p("data/train_2.jsonl")]
        if self.r.stage1.target_count:
            cmd += ["--target-count", str(self.r.stage1.target_count), "--seed", str(self.r.seed)]
        if self.r.stage1.keep_both_empty:
            cmd += ["--keep-both-empty"]
        outputs = [f"data/{prefix}_{kind}.json" for kind in ("weak", "icl", "hybrid")]
        self.add(name, {"kind": "build", "cmd": cmd[3:]}, [weak, icl, "data/train_2.jsonl"],
                 outputs, [cmd], stats_file=f"data/{prefix}_hybrid.stats.json")

    def iteration_2(self) -> str:
        """Train on iter-1 weak and iter-1 ICL separately, re-label train_2 with each, filter again."""
        s = self.r.strong.model
        engine = self.engine(ModelRef(s))
        for part in ("weak", "icl"):
            self.train(f"iter1_{part}_sft", "sft", s, self.ds(f"iter1_{part}"), f"models/iter1_{part}",
                       inputs=(f"data/{self.ds(f'iter1_{part}')}.json",))
            engine.job(f"gen/iter2_{part}_train_2.jsonl", "train_2", adapter=f"models/iter1_{part}")
        self.evaluate(engine, "mplus_iter1", "models/mplus_iter1")
        self.generate("iter2_generate", engine)
        self.stage1("stage1_iter2", "gen/iter2_weak_train_2.jsonl", "gen/iter2_icl_train_2.jsonl", self.ds("iter2"))
        self.train("mplus_sft_iter2", "sft", s, self.ds("iter2_hybrid"), "models/mplus_iter2",
                   inputs=(f"data/{self.ds('iter2_hybrid')}.json",))
        return "models/mplus_iter2"

    def stage2(self, mplus: str) -> None:
        """Merge M_plus (DPO's implicit reference is then M_plus), sample, vote, pair, optimise."""
        s2 = self.r.stage2
        merged = f"{mplus}_merged"
        self.merge("mplus_merge", None, mplus, merged)
        merged_ref = ModelRef(merged, base_in_run=True)
        engine = self.engine(merged_ref)
        if s2.methods:   # the samples feed stage II's votes only
            engine.job("gen/mplus_samples_train_2.jsonl", "train_2", "sample", k=s2.k, temperature=s2.temperature)
        self.evaluate(engine, Path(mplus).name)
        self.generate("mplus_generate", engine)
        if not s2.methods:
            return
        self.vote_and_pairs("gen/mplus_samples_train_2.jsonl", "gen/votes.jsonl", self.ds("pairs"))
        mpro = self.engine(merged_ref)
        for method in s2.methods:
            data = self.preference_data(method, self.ds("pairs"), "")
            self.train(method, method, merged_ref, data, f"models/mpro_{method}", inputs=(f"data/{data}.json",))
            self.evaluate(mpro, f"mpro_{method}", f"models/mpro_{method}")
        if mpro.jobs:
            self.generate("mpro_evaluate", mpro)

    def merge(self, name: str, base: str | None, adapter: str, merged: str) -> None:
        """Merge a LoRA `adapter` into its base: the strong model (`base` None) or a merged model
        of this run (a later round's), so the next preference training's implicit reference is
        exactly the model the adapter made."""
        from w2s_lf.lf.configs import absolute_paths, make_export_config
        r = self.r
        model = self.model_arg(r.strong.model) if base is None else self.p(base)
        config = absolute_paths(make_export_config(model, self.p(adapter), self.p(merged),
                                                   template=self.template(r.strong.model)))
        cfg_path = self.p(f"configs/{name}.yaml")
        size = plan_sizes.merge_bytes(self.model_arg(r.strong.model), r.training.preset != "cpu")
        # export_device auto: the model is loaded on this machine's GPUs (the controller's), or
        # whole into its RAM when it has none
        ram = f"~{plan_sizes.human(size)} of RAM" if size else "RAM for the whole model"
        self.add(name, {"kind": "export", "config": config}, ([] if base is None else [base]) + [adapter], [merged],
                 [f"DISABLE_VERSION_CHECK=1 python -m w2s_lf.lf.cli export {shlex.quote(cfg_path)}"],
                 configs=[("export", config, cfg_path)], disk=size, gpus=self.shape.gpus_per_node,
                 placement=(f"this machine: its GPUs (export_device: auto), or its CPU with {ram} if it has none"
                            if self.shape.gpus else f"this machine, CPU ({ram})"))

    def vote_and_pairs(self, samples: str, votes: str, pairs: str, suffix: str = "") -> None:
        """Vote over `samples` into `votes`, then the pairs dataset `pairs` (stages `vote<suffix>`,
        `pairs<suffix>`); the weak side is always the weak model's (or the combined) answers."""
        r, s2 = self.r, self.r.stage2
        vote_cmd = [*W2S, "build", "vote", "--samples", self.p(samples), "--task", r.task, "-o", self.p(votes)]
        self.add(f"vote{suffix}", {"kind": "build", "cmd": vote_cmd[3:]}, [samples], [votes], [vote_cmd],
                 stats_file=votes.removesuffix(".jsonl") + ".stats.json")
        pairs_cmd = [*W2S, "build", "pairs", "--weak", self.p("gen/weak_train_2.jsonl"),
                     "--votes", self.p(votes), "--samples", self.p(samples),
                     "--full-weak", self.p(f"data/{self.ds('full_weak')}.json"),
                     "--task", r.task, "--out-dir", self.p("data"), "--name", pairs,
                     "--format", s2.format, "--keep", str(s2.keep_threshold),
                     "--flip", str(s2.flip_threshold), "--seed", str(r.seed),
                     "--gold", self.p("data/train_2.jsonl")]
        if s2.max_pairs:
            pairs_cmd += ["--max-pairs", str(s2.max_pairs)]
        self.add(f"pairs{suffix}", {"kind": "build", "cmd": pairs_cmd[3:]},
                 ["gen/weak_train_2.jsonl", votes, samples, f"data/{self.ds('full_weak')}.json", "data/train_2.jsonl"],
                 [f"data/{pairs}.json"], [pairs_cmd], stats_file=f"data/{pairs}.stats.json")


def plan(recipe: Recipe, executor) -> list[Stage]:
    return Planner(recipe, executor).plan()
