"""The stages of the methods beyond the paper (docs/method.md, "Beyond the paper"), as a part of
`w2s_lf.run.plan.Planner`: several weak supervisors combined by majority, the confidence-filtered
weak baseline, KTO data, and repeated stage II rounds.

A recipe that uses none of them plans exactly the stages it planned before they existed. Adding
a round keeps the key of every stage the recipe had, so a run reuses its finished stages; adding
the confident-weak baseline changes only `weak_generate`'s (it gains the weak samples job, and
its greedy outputs come out the same, so nothing downstream reruns).
"""

from __future__ import annotations

from w2s_lf.run.plan_parts import W2S, ModelRef


class BeyondPaper:
    """Planner methods; `self` is a `w2s_lf.run.plan.Planner`."""

    # -- several weak supervisors -----------------------------------------------------------
    def several_weak(self) -> None:
        """Each weak model trains (`weak_sft_<name>`) and generates (`weak_generate_<name>`) as one
        weak model does; `weak_combine` takes the majority of their answers per question into
        the files one weak model writes (gen/weak_train_2.jsonl, eval/weak.jsonl), which every
        later stage reads as it would one weak model's."""
        names = [w.name for w in self.r.weak]
        for w in self.r.weak:
            self.one_weak(w, f"gen/weak_{w.name}_train_2.jsonl", f"weak_{w.name}", f"_{w.name}")
        self.combine("weak_combine", {n: f"gen/weak_{n}_train_2.jsonl" for n in names}, "gen/weak_train_2.jsonl",
                     gold="data/train_2.jsonl")
        if "weak" in self.r.evaluations():
            self.combine("weak_combine_eval", {n: f"eval/weak_{n}.jsonl" for n in names}, "eval/weak.jsonl")
            self.eval_files.append("eval/weak.jsonl")

    def combine(self, name: str, parts: dict[str, str], out: str, gold: str | None = None) -> None:
        """`w2s-lf build combine-weak` over `parts` ({weak name: result file}, in tie-breaking order)."""
        cmd = [*W2S, "build", "combine-weak", *[a for n, path in parts.items() for a in ("--weak", f"{n}={self.p(path)}")],
               "--task", self.r.task, "-o", self.p(out)] + (["--gold", self.p(gold)] if gold else [])
        self.add(name, {"kind": "build", "cmd": cmd[3:]}, [*parts.values(), *([gold] if gold else [])], [out], [cmd],
                 stats_file=out.removesuffix(".jsonl") + ".stats.json")

    # -- the confident-weak baseline --------------------------------------------------------
    def weak_samples(self, engine, adapter: str | None, suffix: str) -> None:
        """k samples per train_2 question on a weak model's own engine (no extra engine start),
        for the confident-weak baseline only."""
        if "confident_weak" in self.r.baselines:
            engine.job(f"gen/weak{suffix}_samples_train_2.jsonl", "train_2", "sample", adapter=adapter,
                       k=self.r.confident_weak.k or self.r.stage2.k, temperature=self.r.stage2.temperature)

    def confident_weak(self) -> None:
        """Full-weak data kept where the weak model's own samples agree with its greedy answer."""
        r = self.r
        suffixes = [f"_{w.name}" for w in r.weak] if isinstance(r.weak, list) else [""]
        samples = [f"gen/weak{s}_samples_train_2.jsonl" for s in suffixes]
        name = self.ds("confident_weak")
        cmd = [*W2S, "build", "confident-weak", "--weak", self.p("gen/weak_train_2.jsonl"),
               *[a for s in samples for a in ("--samples", self.p(s))],
               "--min-agreement", str(r.confident_weak.min_agreement), "--task", r.task,
               "--out-dir", self.p("data"), "--name", name, "--gold", self.p("data/train_2.jsonl")]
        self.add("confident_weak", {"kind": "build", "cmd": cmd[3:]},
                 ["gen/weak_train_2.jsonl", *samples, "data/train_2.jsonl"], [f"data/{name}.json"], [cmd],
                 stats_file=f"data/{name}.stats.json")

    # -- preference data and later rounds ---------------------------------------------------
    def preference_data(self, method: str, pairs: str, suffix: str) -> str:
        """The dataset `method` trains on: the pairs, or for KTO the pairs as unpaired examples
        (stage `kto_data<suffix>`, dataset `<task>_kto<suffix>`)."""
        if method != "kto":
            return pairs
        name = self.ds(f"kto{suffix}")
        cmd = [*W2S, "build", "kto", "--pairs", self.p(f"data/{pairs}.json"), "--task", self.r.task,
               "--out-dir", self.p("data"), "--name", name]
        self.add(f"kto_data{suffix}", {"kind": "build", "cmd": cmd[3:]}, [f"data/{pairs}.json"],
                 [f"data/{name}.json"], [cmd], stats_file=f"data/{name}.stats.json")
        return name

    def later_rounds(self, merged_mplus: str) -> None:
        """Rounds 2..N of stage II, for each method of `stage2.round_methods` (round 1 is `stage2`
        itself). Round r samples from round r-1's model, served as its adapter on its base: round
        2 for every such method on one engine (`mpro_generate_r2`: the round-1 adapters share
        the merged M_plus), later rounds one engine per method (`mpro_<m>_generate_r<r>`).
        Then, per method: vote and pairs
        against the weak answers (`vote_<m>_r<r>`, `pairs_<m>_r<r>`), the previous model merged
        (`mpro_<m>_merge_r<r>`) so that the method trains again from it with it as the implicit
        reference (`<m>_r<r>`), and its test evaluation (`mpro_<m>_evaluate_r<r>`, eval key
        `mpro_<m>_r<r>`)."""
        s2 = self.r.stage2
        previous = {m: (merged_mplus, f"models/mpro_{m}") for m in s2.repeated}   # (base, adapter)
        for r in range(2, s2.rounds + 1):
            # round 2: the round-1 adapters share the merged M_plus, so one engine serves them all
            shared = self.engine(ModelRef(merged_mplus, base_in_run=True)) if r == 2 else None
            for method, (base, adapter) in previous.items():
                engine = shared or self.engine(ModelRef(base, base_in_run=True))
                engine.job(f"gen/mpro_{method}_r{r}_samples_train_2.jsonl", "train_2", "sample", adapter=adapter,
                           k=s2.k, temperature=s2.temperature)
                if not shared:
                    self.generate(f"mpro_{method}_generate_r{r}", engine)
            if shared:
                self.generate("mpro_generate_r2", shared)
            for method, (base, adapter) in previous.items():
                tag = f"_{method}_r{r}"
                samples = f"gen/mpro{tag}_samples_train_2.jsonl"
                pairs = self.ds(f"pairs{tag}")
                self.vote_and_pairs(samples, f"gen/votes{tag}.jsonl", pairs, tag)
                data = self.preference_data(method, pairs, f"_r{r}")
                merged = f"{adapter}_merged"
                self.merge(f"mpro_{method}_merge_r{r}", base, adapter, merged)
                ref = ModelRef(merged, base_in_run=True)
                out = f"models/mpro_{method}_r{r}"
                self.train(f"{method}_r{r}", method, ref, data, out, inputs=(f"data/{data}.json",))
                evaluator = self.engine(ref)
                self.evaluate(evaluator, f"mpro_{method}_r{r}", out)
                if evaluator.jobs:
                    self.generate(f"mpro_{method}_evaluate_r{r}", evaluator)
                previous[method] = (merged, out)
