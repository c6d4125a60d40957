"""Running jobs: questions -> prompts -> engine -> graded records, resumable and shardable.

Each job's output JSONL is its checkpoint (see `resume.py`); `<out>.run.json` records the settings
that change results (a resume with different settings is refused), the shard, and a summary once
complete; `<out>.demos.json` records the few-shot demonstrations. Jobs run in order on one shared
engine, which starts only when the first job with work left needs it.
"""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

from w2s_lf.errors import InputError, W2SError
from w2s_lf.generation import prompts as P
from w2s_lf.generation import resume, shards
from w2s_lf.generation.backends import Sampling, stream
from w2s_lf.generation.engine import SharedEngine
from w2s_lf.generation.jobs import EngineSpec, JobsFile, JobSpec
from w2s_lf.generation.results import Grader, make_record
from w2s_lf.io import read_json, read_jsonl, sha256_file, write_json
from w2s_lf.tasks import get_task, zero_shot_prompt


def run_jobs(jobs: JobsFile, progress: bool = True, engine=None) -> list[dict]:
    """Run every job in order on one engine; return each job's summary.

    The model and every adapter are checked before the engine starts, so a wrong path fails in a
    second. `engine` lets a caller supply a started backend (tests, benchmarks) or keep a
    `SharedEngine` across calls (and read its `starts`); it must serve every job's adapter."""
    spec = jobs.engine
    model = spec.model
    if spec.backend != "openai":
        from w2s_lf.models.checks import check_adapter, check_model
        model = check_model(model)   # built-in names -> their folders
        for i, job in enumerate(jobs.jobs):
            if job.adapter:
                try:
                    check_adapter(job.adapter, model)
                except W2SError as e:
                    raise W2SError(f"jobs[{i}].adapter: {e}") from None
    for job in jobs.jobs:
        adopt_hand_made_shards(spec, job)
    owned = engine is None
    engine = engine or SharedEngine(spec, model, jobs.adapters())
    try:
        summaries = []
        for job in jobs.jobs:
            with resume.exclusive(job.output):
                summaries.append(_run_job(spec, model, job, engine, progress))
        return summaries
    finally:
        if owned:
            engine.close()


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


def build_prompts(spec: EngineSpec, model: str, job: JobSpec, questions: list[dict]) -> tuple[list[str], dict | None]:
    """Prompts by question id, and the demonstrations' provenance (few-shot only)."""
    provenance, demos = None, []
    if job.demos:
        pool = P.load_demo_pool(job.demos)
        ids = list(job.demo_ids) if job.demo_ids else None
        demos = P.choose_demos(pool, job.demo_strategy, job.shots, job.demo_seed, ids,
                               P.answer_marker(get_task(spec.task), spec.prompt_style))
        provenance = P.demos_provenance(job.demos, demos, job.demo_strategy, job.demo_seed,
                                        tuple(job.demo_ids) if job.demo_ids else None)
    if spec.prompt_style == "chat":
        render = P.chat_renderer(model)
        return [render(P.chat_messages(q["question"], demos)) for q in questions], provenance
    if demos:
        return [P.few_shot_prompt(demos, q["question"]) for q in questions], provenance
    return [zero_shot_prompt(q["question"]) for q in questions], provenance


def golds(job: JobSpec, source: Path, questions: list[dict]) -> list[str | None]:
    if not job.grading():
        return [None] * len(questions)
    rows = read_jsonl(job.gold_file, required=("answer",)) if job.gold_file else questions
    if len(rows) < len(questions):
        raise InputError(f"has {len(rows)} records, fewer than the {len(questions)} questions",
                         job.gold_file or source)
    return [str(r["answer"]) for r in rows[:len(questions)]]


def settings(spec: EngineSpec, model: str, job: JobSpec, input_sha: str, demo_ids, max_new_tokens: int,
             stop) -> dict:
    """What changes the records: a resumed run must match these exactly."""
    out = {"model": model, "adapter": job.adapter, "task": spec.task, "mode": job.mode, "backend": spec.backend,
           "prompt_style": spec.prompt_style, "grader": spec.grader}
    out.update(input_sha256=input_sha, demos=demo_ids, max_new_tokens=max_new_tokens, stop=list(stop),
               graded=job.grading(), gold_file=job.gold_file)
    if job.mode == "sample":
        out.update(k=job.k, temperature=job.temperature, top_p=job.top_p, seed=spec.seed)
    return out


def _run_job(spec: EngineSpec, model: str, job: JobSpec, backend, progress: bool) -> dict:
    """Generate every unfinished question of the (shard of the) job's input; return a summary.
    A finished job reruns in a second: the engine is asked only for missing ids."""
    task = get_task(spec.task)
    out = Path(job.output)
    path = job.input_path(spec.task)
    questions = load_questions(path, job.limit)
    prompts, provenance = build_prompts(spec, model, job, questions)
    gold = golds(job, path, questions)
    max_new = spec.max_new_tokens or task.max_new_tokens
    shard = shards.parse_shard(job.shard)
    mine = shards.shard_ids(list(range(len(questions))), shard)
    stop = P.stop_strings(task, spec.prompt_style)
    chats = [P.chat_fields(q["question"]) if spec.prompt_style == "chat" else None for q in questions]
    setting = settings(spec, model, job, sha256_file(path), provenance and provenance["ids"], max_new, stop)

    info_path = shards.run_info_path(out)
    if job.overwrite:
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
    sample = job.mode == "sample"
    grader = Grader(task, spec.grader)
    tokens, started = 0, time.time()
    if todo:
        if hasattr(backend, "start"):   # a shared engine starts on first use: not in tokens/s
            backend.start()
        size = spec.batch_size or backend.default_batch_size
        bar = _progress(len(todo), progress)
        started = time.time()
        seeds = tuple(question_seed(spec.seed, i) for i in todo) if sample else None
        sampling = Sampling(n=job.k if sample else 1, temperature=job.temperature if sample else 0.0,
                            top_p=job.top_p if sample else 1.0, max_new_tokens=max_new,
                            stop=stop, seeds=seeds)
        try:
            # Answers are written as they finish, in that order; `finalize` sorts the file by id.
            for j, outs in stream(backend, [prompts[i] for i in todo], sampling, job.adapter, size):
                i = todo[j]
                resume.append(out, [make_record(i, prompts[i], outs, gold[i], grader, sample,
                                                seeds[j] if seeds else None, chats[i])])
                tokens += sum(c.num_tokens or 0 for c in outs) or getattr(backend, "last_tokens", 0)
                _advance(bar, 1, tokens, time.time() - started)
        finally:
            if bar is not None:
                bar.close()
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


def adopt_hand_made_shards(spec: EngineSpec, job: JobSpec) -> bool:
    """A job whose output is missing but whose hand-made shards (`--shard i/N`) hold exactly its
    questions takes them as its output (they are read, never deleted), so a pipeline stage does
    not redo generation someone already spread over machines by hand."""
    if Path(job.output).exists() or not shards.shard_files(job.output):
        return False
    questions = load_questions(job.input_path(spec.task), job.limit)
    return shards.adopt_shards(job.output, range(len(questions)))


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
