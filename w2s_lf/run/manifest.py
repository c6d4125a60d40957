"""The pipeline engine: run stages in order, skip what is done, resume what was interrupted.

A stage is done only when its key (a hash of its result-affecting parameters and of the content of
its inputs) matches the one recorded in the run's `manifest.json` and its outputs still hash as
recorded; a file merely existing proves nothing. A stage that was interrupted (status `running`,
same key) runs again over its partial outputs: generation resumes by question id and training from
its last checkpoint. Outputs are removed only when the manifest proves they are this run's (recorded
hashes still match); anything else found in an output's place (a shard merged by hand, a file
written by another node or edited by hand) is never deleted: a stage that can continue from it
(generation, which checks settings and ids) does; any other stage moves it aside and says so.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from w2s_lf import __version__
from w2s_lf.errors import W2SError
from w2s_lf.io import read_json, sha256_file, sha256_json, write_json


@dataclass
class Stage:
    """One step of a run. Paths are relative to the run folder."""

    name: str
    params: dict                        # everything that changes the result
    inputs: list[str]                   # files or folders whose content feeds the stage
    outputs: list[str]                  # what the stage writes (files or folders)
    run: Callable[["Stage"], dict | None]   # does the work; returns stats for the manifest
    commands: list[str] = field(default_factory=list)   # shell equivalents, for --dry-run
    resumable: bool = False             # keep partial outputs when re-running an interrupted stage
    configs: list = field(default_factory=list)   # (kind, config, path) written before the commands
    adopts: bool = False                # may continue from outputs it did not write (generation)
    gpus: int = 0                       # for the plan: GPUs the stage occupies
    disk_bytes: float = 0.0             # for the plan: estimated bytes written
    placement: str = "this machine"     # for the plan: where it runs
    note: str = ""                      # for the plan: why it runs there, when there was a choice
    shape: object = None                # training: the ClusterShape it trains on (placement, not keyed)
    position: tuple[int, int] = (0, 0)  # (k, N) of this invocation, for the progress lines

    @property
    def label(self) -> str:
        k, n = self.position
        return f"[{k}/{n}] {self.name}" if n else self.name


def hash_path(path: Path, cache: dict | None = None) -> str:
    """Content hash of a file, or of a folder's files (checkpoints and logs left out).

    `cache` memoises file digests by (path, size, mtime): a merged 70B model is an output of one
    stage and an input of several, and would otherwise be read once per stage on every rerun.
    """
    def digest(p: Path) -> str:
        if cache is None:
            return sha256_file(p)
        st = p.stat()
        key = (str(p), st.st_size, st.st_mtime_ns)
        if key not in cache:
            cache[key] = sha256_file(p)
        return cache[key]

    if path.is_file():
        return digest(path)
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")):
        rel = p.relative_to(path)
        if not p.is_file() or rel.parts[0].startswith("checkpoint-") or p.suffix == ".log":
            continue
        h.update(f"{rel}\0{digest(p)}\n".encode())
    return h.hexdigest()


def portable(value, root: Path, token: str = "$RUN"):
    """`value` with the absolute path `root` written `token`: configs and commands name paths
    absolutely, but moving a run folder (or the model cache) must not make finished stages stale."""
    prefix = str(Path(root).absolute())
    if isinstance(value, str):
        return token if value == prefix else value.replace(f"{prefix}/", f"{token}/")
    if isinstance(value, dict):
        return {k: portable(v, root, token) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [portable(v, root, token) for v in value]
    return value


def git_revision() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


class Run:
    """A run folder and its manifest."""

    def __init__(self, root: str | Path, header: dict):
        self.root = Path(root)
        self.manifest_path = self.root / "manifest.json"
        old = read_json(self.manifest_path) if self.manifest_path.exists() else {}
        self.manifest = {**header, "w2s_lf_version": __version__, "git_revision": git_revision(),
                         "stages": old.get("stages", {})}
        self._digests: dict = {}   # file digests, shared by every stage of this invocation

    def path(self, rel: str) -> Path:
        return self.root / rel

    def save(self) -> None:
        write_json(self.manifest_path, self.manifest, indent=2)

    def key(self, stage: Stage) -> str:
        inputs = {}
        for rel in stage.inputs:
            p = self.path(rel)
            if not p.exists():
                raise W2SError(f"stage {stage.name}: input {p} is missing; run the stages before it")
            inputs[rel] = hash_path(p, self._digests)
        return sha256_json({"params": portable(stage.params, self.root), "inputs": inputs})

    def is_done(self, stage: Stage, key: str) -> bool:
        entry = self.manifest["stages"].get(stage.name, {})
        if entry.get("status") != "done" or entry.get("key") != key:
            return False
        recorded = entry.get("outputs", {})
        return all(self.path(rel).exists() and recorded.get(rel) == hash_path(self.path(rel), self._digests)
                   for rel in stage.outputs)

    def state(self, stage: Stage, key: str) -> str:
        """done | resume (interrupted, same key) | redo (ours, stale) | new (nothing there) |
        foreign (outputs there that this run's manifest does not vouch for)."""
        if self.is_done(stage, key):
            return "done"
        entry = self.manifest["stages"].get(stage.name, {})
        if entry.get("status") in ("running", "failed") and entry.get("key") == key and stage.resumable:
            return "resume"
        present = [rel for rel in stage.outputs if self.path(rel).exists()]
        if not present:
            return "new"
        recorded = entry.get("outputs", {})
        ours = entry.get("status") in ("running", "failed") or all(
            recorded.get(rel) == hash_path(self.path(rel), self._digests) for rel in present)
        return "redo" if ours else "foreign"

    def _clear(self, stage: Stage, state: str, echo: Callable[[str], None]) -> None:
        for rel in stage.outputs:
            p = self.path(rel)
            if not p.exists():
                continue
            if state == "redo":   # provably this run's own stale or partial output
                shutil.rmtree(p) if p.is_dir() else p.unlink()
            else:
                aside = _free_name(p)
                p.rename(aside)
                echo(f"{stage.label}: {p} was not written by this run; kept as {aside}")

    def execute(self, stage: Stage, echo: Callable[[str], None] = print) -> str:
        """Run one stage unless it is done; returns 'skipped' or 'done'."""
        root = os.path.normpath(self.root)
        for rel in stage.outputs:   # a plan's bug must never make a run clear what is not its own
            where = os.path.normpath(self.path(rel))
            if where == root or not Path(where).is_relative_to(root):
                raise W2SError(f"stage {stage.name}: output {rel} is not inside the run folder {self.root}")
        key = self.key(stage)
        state = self.state(stage, key)
        if state == "done":
            echo(f"{stage.label} ... up to date")
            return "skipped"
        if state in ("redo", "foreign") and not (state == "foreign" and stage.adopts):
            self._clear(stage, state, echo)
        how = {"resume": "resumed, ", "foreign": "continued from existing outputs, "}.get(state, "")
        self.manifest["stages"][stage.name] = {"status": "running", "key": key, "params": stage.params}
        self.save()
        start, cpu_start = time.perf_counter(), _cpu_seconds()
        try:
            stats = stage.run(stage) or {}
        except BaseException:
            self.manifest["stages"][stage.name]["status"] = "failed"
            self.save()
            raise
        missing = [rel for rel in stage.outputs if not self.path(rel).exists()]
        if missing:
            raise W2SError(f"stage {stage.name} finished without writing {missing}")
        wall = time.perf_counter() - start
        self.manifest["stages"][stage.name] = {
            "status": "done", "key": key, "params": stage.params,
            "outputs": {rel: hash_path(self.path(rel), self._digests) for rel in stage.outputs},
            "wall_s": round(wall, 2),
            # CPU seconds of the stage's processes (all threads): with wall_s, how busy the
            # machine let it be (scripts/profile_demo.py)
            "cpu_s": round(_cpu_seconds() - cpu_start, 2), "stats": stats,
        }
        self.save()
        echo(f"{stage.label} ... {how}done in {wall:.1f}s")
        if isinstance(stats, dict) and stats.get("warning"):
            echo(f"  WARNING: {stats['warning']}")
        return "done"


def _cpu_seconds() -> float:
    """CPU seconds used so far by this process and its finished children."""
    import resource
    return sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))


def _free_name(path: Path) -> Path:
    """`out.jsonl` -> `out.jsonl.foreign` (or `.foreign.2`, ...): a name nothing else uses."""
    n, candidate = 1, path.with_name(path.name + ".foreign")
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}.foreign.{n}")
    return candidate


def select(stages: list[Stage], start: str | None = None, until: str | None = None,
           only: tuple[str, ...] = ()) -> list[Stage]:
    """Stages chosen by --from / --until / --only (names checked, with a did-you-mean)."""
    import difflib
    names = [s.name for s in stages]
    for name in [start, until, *only]:
        if name is not None and name not in names:
            near = difflib.get_close_matches(name, names, n=1)
            hint = f" (did you mean '{near[0]}'?)" if near else f"; stages: {', '.join(names)}"
            raise W2SError(f"unknown stage '{name}'{hint}")
    if only:
        return [s for s in stages if s.name in only]
    lo = names.index(start) if start else 0
    hi = names.index(until) + 1 if until else len(names)
    return stages[lo:hi]
