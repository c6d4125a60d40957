"""One generation run: questions -> prompts -> backend -> graded records, resumable and shardable.

The output JSONL is the checkpoint (see `resume.py`); `<out>.run.json` records the settings that
change results (a resume with different settings is refused), the shard, and a summary once
complete; `<out>.demos.json` records the few-shot demonstrations.
"""

from __future__ import annotations

import hashlib
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from w2s_lf.errors import InputError, W2SError
from w2s_lf.generation import prompts as P
from w2s_lf.generation import resume, shards
from w2s_lf.generation.backends import Backend, Sampling, make_backend, stream
from w2s_lf.io import read_json, read_jsonl, sha256_file, write_json
from w2s_lf.tasks import get_task, zero_shot_prompt

MODES = ("zero-shot", "few-shot", "sample")
GRADERS = ("robust", "seed")


@dataclass
class GenerationConfig:
    model: str
    output: str
    task: str = "gsm8k"
    input: str | None = None            # default: <data_dir>/<split>.jsonl
    data_dir: str | None = None         # default: data/<task>
    split: str = "test"
    mode: str = "zero-shot"
    backend: str = "vllm"
    adapter: str | None = None
    prompt_style: str = "raw"
    k: int = 10
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int = 42
    max_new_tokens: int | None = None   # default: the task's (GSM8K 1024, MATH 2048)
    demos: str | None = None
    demo_strategy: str = "paper"
    demo_ids: tuple[int, ...] | None = None
    shots: int = P.PAPER_SHOTS
    demo_seed: int = P.PAPER_SEED
    grade: bool | None = None           # default: grade when split == "test"
    gold_file: str | None = None
    grader: str = "robust"
    batch_size: int | None = None       # default: the backend's
    shard: str | None = None            # "i/N"
    limit: int | None = None
    overwrite: bool = False
    progress: bool = True
    backend_options: dict = field(default_factory=dict)

    def input_path(self) -> Path:
        if self.input:
            return Path(self.input)
        return Path(self.data_dir or f"data/{self.task}") / f"{self.split}.jsonl"

    def grading(self) -> bool:
        return bool(self.gold_file) or (self.grade if self.grade is not None else self.split == "test")

    def check(self) -> None:
        if self.mode not in MODES:
            raise W2SError(f"unknown mode '{self.mode}'; choose one of: {', '.join(MODES)}")
        if self.grader not in GRADERS:
            raise W2SError(f"unknown grader '{self.grader}'; choose one of: {', '.join(GRADERS)}")
        if self.prompt_style not in P.PROMPT_STYLES:
            raise W2SError(f"unknown prompt style '{self.prompt_style}'; choose raw or chat")
        if self.mode == "few-shot" and not self.demos:
            raise W2SError("--mode few-shot needs --demos WEAK_RESULTS.jsonl (the weak model's train_2 outputs)")
        if self.mode == "sample" and (self.k < 1 or self.temperature <= 0):
            raise W2SError("--mode sample needs --k >= 1 and --temperature > 0")
        if self.limit is not None and self.limit < 0:
            raise W2SError("--limit must be >= 0")


def question_seed(seed: int, qid: int) -> int:
    """A per-question sampling seed from (run seed, id): the same in any batch, shard or resume."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{qid}".encode()).digest()[:4], "big") & 0x7FFFFFFF


def load_questions(path: Path, limit: int | None) -> list[dict]:
    if not path.is_file():
        raise W2SError(f"input split not found: {path} (run `w2s-lf prepare` or pass --input)")
    records = read_jsonl(path, required=("question",), allow_empty=True)
    if not records:
        raise W2SError(f"input split is empty: {path}")
    return records[:limit] if limit is not None else records


def build_prompts(cfg: GenerationConfig, questions: list[dict]) -> tuple[list[str], dict | None]:
    """Prompts by question id, and the demonstrations' provenance (few-shot only)."""
    provenance, demos = None, []
    if cfg.demos:
        pool = P.load_demo_pool(cfg.demos)
        demos = P.choose_demos(pool, cfg.demo_strategy, cfg.shots, cfg.demo_seed,
                               list(cfg.demo_ids) if cfg.demo_ids else None)
        provenance = P.demos_provenance(cfg.demos, demos, cfg.demo_strategy, cfg.demo_seed, cfg.demo_ids)
    if cfg.prompt_style == "chat":
        render = P.chat_renderer(cfg.model)
        return [render(P.chat_messages(q["question"], demos)) for q in questions], provenance
    if demos:
        return [P.few_shot_prompt(demos, q["question"]) for q in questions], provenance
    return [zero_shot_prompt(q["question"]) for q in questions], provenance


def golds(cfg: GenerationConfig, questions: list[dict]) -> list[str | None]:
    if not cfg.grading():
        return [None] * len(questions)
    source = cfg.gold_file or cfg.input_path()
    rows = read_jsonl(source, required=("answer",)) if cfg.gold_file else questions
    if len(rows) < len(questions):
        raise InputError(f"has {len(rows)} records, fewer than the {len(questions)} questions", source)
    return [str(r["answer"]) for r in rows[:len(questions)]]


def settings(cfg: GenerationConfig, input_sha: str, demo_ids, max_new_tokens: int, stop) -> dict:
    """What changes the records: a resumed run must match these exactly."""
    keys = ("model", "adapter", "task", "mode", "backend", "prompt_style", "grader")
    out = {k: getattr(cfg, k) for k in keys}
    out.update(input_sha256=input_sha, demos=demo_ids, max_new_tokens=max_new_tokens, stop=list(stop),
               graded=cfg.grading(), gold_file=cfg.gold_file)
    if cfg.mode == "sample":
        out.update(k=cfg.k, temperature=cfg.temperature, top_p=cfg.top_p, seed=cfg.seed)
    return out


class Grader:
    """Grades on the fly with `w2s_lf.grading` (imported lazily: it is another module's)."""

    def __init__(self, task, mode: str):
        from w2s_lf import grading
        self.g, self.task, self.mode = grading, task, mode

    def __call__(self, response: str, gold: str | None) -> tuple[str, str | None, bool | None]:
        if gold is None:
            try:
                return self.g.extract_answer(response, self.task, mode=self.mode), None, None
            except Exception:   # noqa: BLE001 - as grade() does: no extractable answer is ""
                return "", None, None
        graded = self.g.grade(response, gold, self.task, mode=self.mode)
        return graded.pred, graded.gold, bool(graded.correct)


def make_record(qid: int, prompt: str, completions, gold, grader: Grader, sample: bool, seed,
                chat: dict | None = None) -> dict:
    """A result line; `chat` (chat style: the system and user turns) follows the prompt."""
    head = {"id": qid, "prompt": prompt, **({"chat": chat} if chat else {})}
    if not sample:
        c = completions[0]
        response = P.clean_response(c.text)
        pred, gold_n, result = grader(response, gold)
        return {**head, "response": response, "pred": pred, "gold": gold_n,
                "result": result, "num_tokens": c.num_tokens, "num_words": len(response.split())}
    samples, gold_n = [], None
    for c in completions:
        response = P.clean_response(c.text)
        pred, gold_n, result = grader(response, gold)
        samples.append({"response": response, "pred": pred, "result": result, "num_tokens": c.num_tokens})
    return {**head, "samples": samples, "gold": gold_n, "seed": seed}


def _open_backend(cfg: GenerationConfig, lora_rank: int | None) -> Backend:
    options = dict(cfg.backend_options)
    if cfg.backend == "vllm":
        options.setdefault("seed", cfg.seed)
        if lora_rank:
            options.setdefault("lora_rank", lora_rank)
    return make_backend(cfg.backend, cfg.model, cfg.adapter, **options)


def run(cfg: GenerationConfig, backend: Backend | None = None) -> dict:
    """Generate every unfinished question of the (shard of the) input; return a summary.

    `backend` lets a caller reuse a started engine (jobs sharing one engine, tests, benchmarks);
    it must have been opened with `cfg.adapter` among its adapters. Otherwise one is made from
    `cfg` only if there is work left, so a finished run reruns in a second."""
    cfg.check()
    with resume.exclusive(cfg.output):
        return _run(cfg, backend)


def _run(cfg: GenerationConfig, backend: Backend | None) -> dict:
    task = get_task(cfg.task)
    lora_rank = None
    if cfg.backend != "openai":
        from w2s_lf.models.checks import check_adapter, check_model
        cfg = replace(cfg, model=check_model(cfg.model))   # built-in names -> their folders
        if cfg.adapter:
            lora_rank = check_adapter(cfg.adapter, cfg.model).get("r")
    out = Path(cfg.output)
    path = cfg.input_path()
    questions = load_questions(path, cfg.limit)
    prompts, provenance = build_prompts(cfg, questions)
    gold = golds(cfg, questions)
    max_new = cfg.max_new_tokens or task.max_new_tokens
    shard = shards.parse_shard(cfg.shard)
    mine = shards.shard_ids(list(range(len(questions))), shard)
    stop = P.stop_strings(task, cfg.prompt_style)
    chats = [P.chat_fields(q["question"]) if cfg.prompt_style == "chat" else None for q in questions]
    setting = settings(cfg, sha256_file(path), provenance and provenance["ids"], max_new, stop)

    info_path = shards.run_info_path(out)
    if cfg.overwrite:
        for p in (out, info_path):
            p.unlink(missing_ok=True)
    done = resume.recover(out)
    _check_resumable(out, info_path, setting, done, mine, prompts)
    info = {"settings": setting, "shard": list(shard) if shard else None, "total": len(questions),
            "complete": False}
    write_json(info_path, info)
    if provenance:
        write_json(Path(f"{out}.demos.json"), provenance)

    todo = [i for i in mine if i not in done]
    sample = cfg.mode == "sample"
    grader = Grader(task, cfg.grader)
    tokens, started = 0, time.time()
    if todo:
        owned = backend is None
        backend = backend or _open_backend(cfg, lora_rank)
        if hasattr(backend, "start"):   # a shared engine starts on first use: not in tokens/s
            backend.start()
        size = cfg.batch_size or backend.default_batch_size
        bar = _progress(len(todo), cfg.progress)
        started = time.time()
        seeds = tuple(question_seed(cfg.seed, i) for i in todo) if sample else None
        sampling = Sampling(n=cfg.k if sample else 1, temperature=cfg.temperature if sample else 0.0,
                            top_p=cfg.top_p if sample else 1.0, max_new_tokens=max_new,
                            stop=stop, seeds=seeds)
        try:
            # Answers are written as they finish, in that order; `finalize` sorts the file by id.
            for j, outs in stream(backend, [prompts[i] for i in todo], sampling, cfg.adapter, size):
                i = todo[j]
                resume.append(out, [make_record(i, prompts[i], outs, gold[i], grader, sample,
                                                seeds[j] if seeds else None, chats[i])])
                tokens += sum(c.num_tokens or 0 for c in outs) or getattr(backend, "last_tokens", 0)
                _advance(bar, 1, tokens, time.time() - started)
        finally:
            if bar is not None:
                bar.close()
            if owned:
                backend.close()
    elif not out.exists():
        out.touch()
    resume.finalize(out)
    seconds = time.time() - started
    summary = _summary(out, len(mine), len(mine) - len(todo), len(todo), tokens, seconds)
    write_json(info_path, {**info, "complete": True, "summary": summary})
    return summary


def _check_resumable(out: Path, info_path: Path, setting: dict, done: dict, mine: list[int],
                     prompts: list[str]) -> None:
    if not done and not out.exists():
        return
    if info_path.is_file():
        old = read_json(info_path).get("settings", {})
        diff = sorted(k for k in set(old) | set(setting) if old.get(k) != setting.get(k))
        if diff:
            raise W2SError(f"{out} was made with different settings ({', '.join(diff)}); "
                           "pass --overwrite to start again or choose another -o")
    allowed = set(mine)
    for qid, record in done.items():
        if qid not in allowed:
            raise W2SError(f"{out} holds id {qid}, which is not in this run's questions/shard; "
                           "pass --overwrite or choose another -o")
        if record.get("prompt") != prompts[qid]:
            raise W2SError(f"{out}: the stored prompt of id {qid} differs from this run's; "
                           "pass --overwrite or choose another -o")


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm
    return tqdm(total=total, unit="q", desc="generate", file=sys.stderr, dynamic_ncols=True)


def _advance(bar, n: int, tokens: int, seconds: float) -> None:
    if bar is not None:
        bar.update(n)
        bar.set_postfix_str(f"{tokens / max(seconds, 1e-9):.1f} tok/s", refresh=True)


def _summary(out: Path, questions: int, reused: int, generated: int, tokens: int, seconds: float) -> dict:
    records = list(resume.recover(out).values())
    graded = [r for r in records if r.get("result") is not None]
    summary = {"questions": questions, "reused": reused, "generated": generated, "tokens": tokens,
               "seconds": round(seconds, 2), "tokens_per_s": round(tokens / seconds, 1) if seconds and tokens else None}
    if graded:
        summary["accuracy"] = round(sum(bool(r["result"]) for r in graded) / len(graded), 4)
    sampled = [s for r in records for s in r.get("samples", []) if s.get("result") is not None]
    if sampled:
        summary["sample_accuracy"] = round(sum(bool(s["result"]) for s in sampled) / len(sampled), 4)
    return summary

