"""The recipe as stages: what each step reads, writes, and the exact command that does it.

Every stage except training is one `python -m w2s_lf ...` command and every training stage one
LLaMA-Factory call (`python -m w2s_lf.lf_launch`, its CLI with our template) on a config written into the run folder, so `--dry-run` prints exactly
what a run executes. Run folder layout:

    data/      prepared splits, built datasets, dataset_info.json
    gen/       model outputs on train_2 (weak, ICL, samples) and votes
    configs/   LLaMA-Factory YAML configs         models/  adapters and merged models
    eval/      greedy results on test per model    logs/    one log per stage
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from w2s_lf.errors import W2SError
from w2s_lf.pipeline import Stage
from w2s_lf.recipe import Recipe

W2S = [sys.executable, "-m", "w2s_lf"]


@dataclass(frozen=True)
class ModelRef:
    """A model as generation sees it: base weights plus an optional LoRA adapter (run-relative)."""

    base: str
    adapter: str | None = None
    base_in_run: bool = False    # the base is itself a stage output (a merged model)


class Planner:
    def __init__(self, recipe: Recipe, executor):
        self.r = recipe
        self.root = recipe.run_path
        self.exec = executor     # runs a stage's commands: see w2s_lf.run_recipe
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
        from w2s_lf.lf_templates import template_for
        return template_for(model, self.r.generation.prompt_style, self.r.training.template)

    def model_arg(self, spec: str) -> str:
        from w2s_lf.models import BUILDERS, model_dir
        return str(model_dir(spec)) if spec in BUILDERS else spec

    def add(self, name, params, inputs, outputs, commands, resumable=False, stats_file=None, configs=()):
        def run(stage: Stage):
            return self.exec(stage, commands, configs, stats_file)
        shown = [" ".join(["python", *map(shlex.quote, cmd[1:])]) if isinstance(cmd, list) else cmd
                 for cmd in commands]
        self.stages.append(Stage(name, params, inputs, outputs, run, shown, resumable))

    def generate(self, name: str, model: ModelRef, split: str, out: str, mode: str = "zero-shot",
                 extra: tuple = (), inputs: tuple = ()) -> None:
        g = self.r.generation
        cmd = [*W2S, "generate", "--model", self.p(model.base) if model.base_in_run else self.model_arg(model.base),
               "--task", self.r.task, "--data-dir", self.p("data"), "--split", split, "--mode", mode,
               "--backend", g.backend, "--prompt-style", g.prompt_style, "--grader", self.r.grader,
               "--seed", str(self.r.seed), "-o", self.p(out)]
        if model.adapter:
            cmd += ["--adapter", self.p(model.adapter)]
        limit = self.r.data.limit_test if split == "test" else self.r.data.limit_train_2
        if limit:
            cmd += ["--limit", str(limit)]
        if g.max_new_tokens:
            cmd += ["--max-new-tokens", str(g.max_new_tokens)]
        if g.batch_size:
            cmd += ["--batch-size", str(g.batch_size)]
        for key, value in sorted(g.options.items()):
            flag = key.replace("_", "-")
            if isinstance(value, bool):   # click flag pairs: --prefix-caching / --no-prefix-caching
                cmd.append(f"--{flag}" if value else f"--no-{flag}")
            else:
                cmd += [f"--{flag}", str(value)]
        cmd += list(extra)
        model_inputs = [x for x in (model.adapter, model.base if model.base_in_run else None) if x]
        params = {"kind": "generate", "cmd": cmd[3:], "model": model.base}
        self.add(name, params, ["data/" + f"{split}.jsonl", *model_inputs, *inputs], [out], [cmd],
                 resumable=True)

    def train(self, name: str, kind: str, model: ModelRef | str, dataset: str, out: str,
              preset: str | None = None, inputs: tuple = ()) -> None:
        """A LoRA training stage. Its params hold the hardware-independent config (a global
        batch, not accumulation steps); the launcher resolves it for the GPUs it runs on."""
        from w2s_lf.configs import absolute_paths, plan_train_config
        from w2s_lf.train import launch_env
        t = self.r.training
        base = model.base if isinstance(model, ModelRef) else model
        in_run = isinstance(model, ModelRef) and model.base_in_run
        overrides = {**t.overrides, **(t.pref_overrides if kind in ("dpo", "orpo") else t.sft_overrides)}
        config = plan_train_config(kind, preset or t.preset, self.p(base) if in_run else self.model_arg(base),
                                   dataset, self.p("data"), self.p(out), overrides=overrides,
                                   template=self.template(self.r.strong.model if in_run else base))
        params = {"kind": "train", "config": config, "launch": t.launch}
        if config.get("deepspeed"):
            params["deepspeed_config"] = self.deepspeed_config(name, config)
        params["config"] = config = absolute_paths(config)
        cfg_path = self.p(f"configs/{name}.yaml")
        env = " ".join(f"{k}={v}" for k, v in launch_env(t.launch, bool(config.get("deepspeed"))).items())
        cmd = f"{env} python -m w2s_lf.lf_launch train {shlex.quote(cfg_path)}"
        # Inputs are the dataset files themselves, not dataset_info.json: later builders add
        # entries to it, which must not make finished training stages look stale.
        model_inputs = [base] if in_run else []
        self.add(name, params, [*model_inputs, *inputs], [out], [cmd], resumable=True,
                 configs=[("train", config, cfg_path)])

    def deepspeed_config(self, name: str, config: dict) -> dict:
        """The DeepSpeed JSON a config names, to be copied into the run's configs/ (and the
        config pointed there): the run folder then holds everything its training reads, and
        the stage's key changes when the JSON does."""
        import json

        from w2s_lf.configs import DEEPSPEED_Z3, DEEPSPEED_Z3_CONFIG
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
        r, task = self.r, self.r.task
        self.prepare()
        weak = self.weak_model()
        self.generate("weak_generate", weak, "train_2", "gen/weak_train_2.jsonl")
        self.generate("strong_icl", ModelRef(r.strong.model), "train_2", "gen/strong_icl_train_2.jsonl",
                      mode="few-shot", extra=("--demos", self.p("gen/weak_train_2.jsonl"),
                                              "--demo-strategy", "paper"),
                      inputs=("gen/weak_train_2.jsonl",))
        self.stage1("stage1", "gen/weak_train_2.jsonl", "gen/strong_icl_train_2.jsonl", self.ds("iter1"),
                    full_weak=True)
        self.train("mplus_sft_iter1", "sft", r.strong.model, self.ds("iter1_hybrid"), "models/mplus_iter1",
                   inputs=(f"data/{self.ds('iter1_hybrid')}.json",))
        mplus = "models/mplus_iter1"
        if r.stage1.iterations == 2:
            mplus = self.iteration_2()
        if "dpo" in r.stage2.methods or "orpo" in r.stage2.methods or r.evaluate.k:
            self.stage2(mplus)
        for baseline, dataset in (("full_weak", self.ds("full_weak")), ("gold", self.ds("train_2_gold"))):
            if baseline in r.baselines:
                source = f"data/{self.ds('full_weak')}.json" if baseline == "full_weak" else f"data/{task}_train_2.json"
                self.train(f"baseline_{baseline}", "sft", r.strong.model, dataset,
                           f"models/strong_{baseline}", inputs=(source,))
        self.evaluations(weak, mplus)
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
        self.add("prepare", {"kind": "prepare", "cmd": cmd[3:]}, [], outputs, [cmd])

    def weak_model(self) -> ModelRef:
        w = self.r.weak
        if not w.train:
            # A given adapter lives outside the run folder; absolute, `root / path` is the path.
            return ModelRef(w.model, str(Path(w.adapter).resolve()) if w.adapter else None)
        preset = self.r.training.weak_preset or ("cpu" if self.r.training.preset == "cpu" else "7b")
        self.train("weak_sft", "sft", w.model, f"{self.r.task}_train_1_gold", "models/weak", preset,
                   inputs=(f"data/{self.r.task}_train_1.json",))
        return ModelRef(w.model, "models/weak")

    def stage1(self, name: str, weak: str, icl: str, prefix: str, full_weak: bool = False) -> None:
        cmd = [*W2S, "build", "stage1", "--weak", self.p(weak), "--icl", self.p(icl),
               "--task", self.r.task, "--out-dir", self.p("data"), "--name", prefix,
               "--gold", self.p("data/train_2.jsonl")]
        if self.r.stage1.target_count:
            cmd += ["--target-count", str(self.r.stage1.target_count), "--seed", str(self.r.seed)]
        outputs = [f"data/{prefix}_{kind}.json" for kind in ("weak", "icl", "hybrid")]
        commands = [cmd]
        if full_weak:
            commands.append([*W2S, "build", "full-weak", "--weak", self.p(weak), "--out-dir",
                             self.p("data"), "--name", self.ds("full_weak"), "--gold", self.p("data/train_2.jsonl")])
            outputs.append(f"data/{self.ds('full_weak')}.json")
        self.add(name, {"kind": "build", "cmds": [c[3:] for c in commands]}, [weak, icl, "data/train_2.jsonl"],
                 outputs, commands, stats_file=f"data/{prefix}_hybrid.stats.json")

    def iteration_2(self) -> str:
        """Train on iter-1 weak and iter-1 ICL separately, re-label train_2 with each, filter again."""
        s = self.r.strong.model
        for part in ("weak", "icl"):
            self.train(f"iter1_{part}_sft", "sft", s, self.ds(f"iter1_{part}"), f"models/iter1_{part}",
                       inputs=(f"data/{self.ds(f'iter1_{part}')}.json",))
            self.generate(f"iter2_{part}_generate", ModelRef(s, f"models/iter1_{part}"), "train_2",
                          f"gen/iter2_{part}_train_2.jsonl")
        self.stage1("stage1_iter2", "gen/iter2_weak_train_2.jsonl", "gen/iter2_icl_train_2.jsonl", self.ds("iter2"))
        self.train("mplus_sft_iter2", "sft", s, self.ds("iter2_hybrid"), "models/mplus_iter2",
                   inputs=(f"data/{self.ds('iter2_hybrid')}.json",))
        return "models/mplus_iter2"

    def stage2(self, mplus: str) -> None:
        """Merge M_plus (so DPO's implicit reference is M_plus), sample, vote, pair, optimise."""
        from w2s_lf.configs import absolute_paths, make_export_config
        r, s2 = self.r, self.r.stage2
        merged = f"{mplus}_merged"
        config = absolute_paths(make_export_config(self.model_arg(r.strong.model), self.p(mplus), self.p(merged),
                                                   template=self.template(r.strong.model)))
        cfg_path = self.p("configs/mplus_merge.yaml")
        self.add("mplus_merge", {"kind": "export", "config": config}, [mplus], [merged],
                 [f"DISABLE_VERSION_CHECK=1 python -m w2s_lf.lf_launch export {shlex.quote(cfg_path)}"],
                 configs=[("export", config, cfg_path)])
        merged_ref = ModelRef(merged, base_in_run=True)
        self.generate("sample", merged_ref, "train_2", "gen/mplus_samples_train_2.jsonl", mode="sample",
                      extra=("--k", str(s2.k), "--temperature", str(s2.temperature)))
        vote_cmd = [*W2S, "build", "vote", "--samples", self.p("gen/mplus_samples_train_2.jsonl"),
                    "--task", r.task, "-o", self.p("gen/votes.jsonl")]
        self.add("vote", {"kind": "build", "cmd": vote_cmd[3:]}, ["gen/mplus_samples_train_2.jsonl"],
                 ["gen/votes.jsonl"], [vote_cmd], stats_file="gen/votes.stats.json")
        pairs_cmd = [*W2S, "build", "pairs", "--weak", self.p("gen/weak_train_2.jsonl"),
                     "--votes", self.p("gen/votes.jsonl"), "--samples", self.p("gen/mplus_samples_train_2.jsonl"),
                     "--full-weak", self.p(f"data/{self.ds('full_weak')}.json"),
                     "--task", r.task, "--out-dir", self.p("data"), "--name", self.ds("pairs"),
                     "--format", s2.format, "--keep", str(s2.keep_threshold),
                     "--flip", str(s2.flip_threshold), "--seed", str(r.seed),
                     "--gold", self.p("data/train_2.jsonl")]
        if s2.max_pairs:
            pairs_cmd += ["--max-pairs", str(s2.max_pairs)]
        self.add("pairs", {"kind": "build", "cmd": pairs_cmd[3:]},
                 ["gen/weak_train_2.jsonl", "gen/votes.jsonl", "gen/mplus_samples_train_2.jsonl",
                  f"data/{self.ds('full_weak')}.json", "data/train_2.jsonl"],
                 [f"data/{self.ds('pairs')}.json"], [pairs_cmd], stats_file=f"data/{self.ds('pairs')}.stats.json")
        for method in s2.methods:
            self.train(method, method, merged_ref, self.ds("pairs"), f"models/mpro_{method}",
                       inputs=(f"data/{self.ds('pairs')}.json",))

    # -- evaluation -------------------------------------------------------------------------
    def eval_models(self, weak: ModelRef, mplus: str) -> dict[str, ModelRef]:
        r, s = self.r, self.r.strong.model
        wanted = set(r.evaluate.models)
        models = {}
        if "weak" in wanted:
            models["weak"] = weak
        if "strong_base" in wanted:
            models["strong_base"] = ModelRef(s)
        if "strong_full_weak" in wanted and "full_weak" in r.baselines:
            models["strong_full_weak"] = ModelRef(s, "models/strong_full_weak")
        if "mplus" in wanted:
            models["mplus_iter1"] = ModelRef(s, "models/mplus_iter1")
            if r.stage1.iterations == 2:
                models["mplus_iter2"] = ModelRef(s, "models/mplus_iter2")
        if "mpro" in wanted:
            for method in r.stage2.methods:
                models[f"mpro_{method}"] = ModelRef(f"{mplus}_merged", f"models/mpro_{method}", True)
        if "strong_gold" in wanted and "gold" in r.baselines:
            models["strong_gold"] = ModelRef(s, "models/strong_gold")
        return models

    def evaluations(self, weak: ModelRef, mplus: str) -> None:
        for key, ref in self.eval_models(weak, mplus).items():
            out = f"eval/{key}.jsonl"
            self.generate(f"eval_{key}", ref, "test", out)
            self.eval_files.append(out)
        if self.r.evaluate.k:
            out = "eval/mplus.samples.jsonl"
            self.generate("eval_mplus_samples", ModelRef(f"{mplus}_merged", base_in_run=True), "test", out,
                          mode="sample", extra=("--k", str(self.r.evaluate.k),
                                                "--temperature", str(self.r.stage2.temperature)))
            self.eval_files.append(out)


def plan(recipe: Recipe, executor) -> list[Stage]:
    return Planner(recipe, executor).plan()
