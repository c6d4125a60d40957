"""`w2s-lf run`: execute a recipe's stages in a run folder, or print the plan (`--dry-run`)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Callable

from w2s_lf.errors import W2SError
from w2s_lf.grading import GRADER_VERSION
from w2s_lf.io import read_json, sha256_json
from w2s_lf.pipeline import Run, Stage, select
from w2s_lf.recipe import Recipe


class Executor:
    """Runs one stage's commands: writes its configs, then each command with a log in logs/."""

    def __init__(self, root: Path, progress: bool = True, launch: dict | None = None):
        self.root, self.progress, self.launch = root, progress, launch or {}

    def __call__(self, stage: Stage, commands: list, configs, stats_file: str | None) -> dict:
        from w2s_lf import train
        log = self.root / "logs" / f"{stage.name}.log"
        for kind, config, path in configs:
            if kind == "train":
                train.train(config, path, log, self.launch, progress=self.progress,
                            deepspeed=stage.params.get("deepspeed_config"))
            else:
                train.export(config, path, log, progress=self.progress)
        for cmd in commands:
            # A string is the shown form of a LLaMA-Factory launch, already run from `configs`.
            if isinstance(cmd, list):
                train.run_logged(cmd, log, {"DISABLE_VERSION_CHECK": "1"}, stage.name, self.progress)
        if stats_file and (self.root / stats_file).exists():
            return read_json(self.root / stats_file)
        return {}


def build_plan(recipe: Recipe, progress: bool = True) -> list[Stage]:
    from w2s_lf.stages import plan
    return plan(recipe, Executor(recipe.run_path, progress, recipe.training.launch))


def write_configs(stages: list[Stage], root: Path) -> dict[str, str]:
    """Write every LLaMA-Factory config of the plan (for --dry-run and `w2s-lf validate`) as the
    launch would, for this machine's GPUs; returns each training stage's batch line."""
    from w2s_lf.configs import write_config
    from w2s_lf.train import write_train_config
    notes = {}
    for stage in stages:
        path = root / "configs" / f"{stage.name}.yaml"
        if stage.params.get("kind") == "train":
            notes[stage.name] = write_train_config(stage.params["config"], path, stage.params.get("launch"),
                                                   stage.params.get("deepspeed_config"))[2]
        elif stage.params.get("kind") == "export":
            write_config(path, stage.params["config"])
    return notes


def check_batches(stages: list[Stage]) -> None:
    """Fail before the first stage, not hours in, when a global batch does not divide."""
    from w2s_lf.configs import resolve_batch
    from w2s_lf.train import launch_world
    for stage in stages:
        if stage.params.get("kind") == "train":
            try:
                resolve_batch(stage.params["config"], *launch_world(stage.params.get("launch")))
            except W2SError as e:
                raise W2SError(f"stage {stage.name}: {e}") from None


def run_recipe(recipe: Recipe, dry_run: bool = False, start: str | None = None, until: str | None = None,
               only: tuple[str, ...] = (), progress: bool = True,
               echo: Callable[[str], None] = print) -> list[tuple[str, str]]:
    """Run (or, with `dry_run`, describe) the selected stages; returns (stage, outcome) pairs."""
    stages = select(build_plan(recipe, progress), start, until, only)
    header = {"name": recipe.name, "recipe": recipe.to_dict(), "recipe_hash": sha256_json(recipe.to_dict()),
              "task": recipe.task, "grader_mode": recipe.grader, "grader_version": GRADER_VERSION}
    check_batches(stages)   # before any work, and before the dry run writes configs
    if dry_run:
        notes = write_configs(stages, recipe.run_path)
        written = sum(s.params.get("kind") in ("train", "export") for s in stages)
        echo(f"# plan for recipe '{recipe.name}' in {recipe.run_path} ({len(stages)} stages; "
             f"{written} LLaMA-Factory configs written to {recipe.run_path / 'configs'})")
        for i, stage in enumerate(stages, 1):
            echo(f"\n## {i}. {stage.name}")
            if stage.name in notes:
                echo(f"# {notes[stage.name]}")
            for line in stage.commands:
                echo(line)
        return [(s.name, "planned") for s in stages]
    _fetch_builtin_models(recipe)
    run = Run(recipe.run_path, header)
    with _lock(recipe.run_path):
        run.save()
        return [(stage.name, run.execute(stage, echo)) for stage in stages]


@contextlib.contextmanager
def _lock(root: Path):
    """One `w2s-lf run` per run folder: two writers would corrupt the manifest."""
    lock = root / ".lock"
    root.mkdir(parents=True, exist_ok=True)
    if lock.exists():
        try:
            pid = int(lock.read_text())
            os.kill(pid, 0)
        except (ValueError, ProcessLookupError):
            lock.unlink()   # left by a run that was killed
        else:
            if pid != os.getpid():
                raise W2SError(f"{root} is in use by `w2s-lf run` process {pid}")
    lock.write_text(str(os.getpid()))
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _fetch_builtin_models(recipe: Recipe) -> None:
    from w2s_lf.models import BUILDERS, fetch
    for spec in {recipe.weak.model, recipe.strong.model}:
        if spec in BUILDERS:
            fetch(spec)
