"""`w2s-lf run`: execute a recipe's stages in a run folder, or print the plan (`--dry-run`)."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import Callable

from w2s_lf import hardware
from w2s_lf.errors import W2SError
from w2s_lf.grading import GRADER_VERSION
from w2s_lf.io import is_dir, locked, read_json, sha256_json
from w2s_lf.launch.placement import shape_of
from w2s_lf.launch.proctree import run_logged
from w2s_lf.run.manifest import Run, Stage, select
from w2s_lf.run.recipe import Recipe
from w2s_lf.schema import shown


class Executor:
    """Runs one stage's commands: writes its configs, then each command with a log in logs/."""

    def __init__(self, root: Path, shape, launch: dict, progress: bool = True):
        self.root, self.shape, self.launch, self.progress = root, shape, launch, progress

    def __call__(self, stage: Stage, commands: list, configs, stats_file: str | None) -> dict:
        from w2s_lf.lf import train
        log = self.root / "logs" / f"{stage.name}.log"
        for kind, config, path in configs:
            if kind == "train":
                shape = stage.shape or self.shape   # the nodes the plan chose for this stage
                train.train(config, path, log, shape.launcher(self.launch, config), progress=self.progress,
                            deepspeed=stage.params.get("deepspeed_config"))
            elif kind == "export":
                train.export(config, path, log, progress=self.progress)
            else:   # a generation job file, read by the command below
                write_jobs(path, config)
        for cmd in commands:
            # A string is the shown form of a LLaMA-Factory launch, already run from `configs`.
            if isinstance(cmd, list):
                run_logged(cmd, log, {"DISABLE_VERSION_CHECK": "1"}, stage.label, self.progress)
        if stats_file and (self.root / stats_file).exists():
            return read_json(self.root / stats_file)
        return {}


def build_plan(recipe: Recipe, progress: bool = True) -> list[Stage]:
    from w2s_lf.run.plan import plan
    return plan(recipe, Executor(recipe.run_path, shape_of(recipe), recipe.training.launch, progress))


def write_jobs(path: str | Path, jobs: dict) -> Path:
    import yaml

    from w2s_lf.io import write_text
    write_text(path, yaml.safe_dump(jobs, sort_keys=False))
    return Path(path)


def write_configs(stages: list[Stage], shape, launch: dict, write: bool = True) -> dict[str, str]:
    """Write every config of the plan as the launch would (LLaMA-Factory YAML with the batch
    resolved for `shape`, generation job files), for --dry-run and `w2s-lf validate`; returns
    each training stage's batch line. `write=False` only returns the lines (a live run's folder)."""
    from w2s_lf.lf.configs import resolve_batch, write_config
    notes = {}
    for stage in stages:
        for kind, config, path in stage.configs:
            if not write:
                if kind == "train":
                    notes[stage.name] = resolve_batch(config, *shape.training_world(launch, config))[1]
            elif kind == "train":
                deepspeed = stage.params.get("deepspeed_config")
                notes[stage.name] = (stage.shape or shape).write_training_config(config, path, launch, deepspeed)[1]
            elif kind == "export":
                write_config(path, config)
            else:
                write_jobs(path, config)
    return notes


def check_batches(stages: list[Stage], shape, launch: dict) -> None:
    """Fail before the first stage, not hours in, when a global batch does not divide."""
    from w2s_lf.lf.configs import resolve_batch
    for stage in stages:
        if stage.params.get("kind") == "train":
            try:
                resolve_batch(stage.params["config"], *(stage.shape or shape).training_world(launch, stage.params["config"]))
            except W2SError as e:
                raise W2SError(f"stage {stage.name}: {e}") from None


def describe(stage: Stage, state: str) -> str:
    from w2s_lf.run.sizes import human
    gpus = f"{stage.gpus} GPU(s)" if stage.gpus else "no GPU"
    return f"[{state}; {gpus}; writes ~{human(stage.disk_bytes)}; {stage.placement}]"


def ready_state(run: Run, stage: Stage) -> str | None:
    """`run.state` of a stage whose inputs are all there; None while an earlier stage has still
    to write them (its key cannot be computed yet)."""
    if not all(run.path(i).exists() for i in stage.inputs):
        return None
    return run.state(stage, run.key(stage))


def disk_needed(run: Run, stages: list[Stage]) -> float:
    """Bytes the stages still to run will write (a finished stage writes nothing again)."""
    return sum(s.disk_bytes for s in stages if ready_state(run, s) != "done")


def model_downloads(recipe: Recipe) -> list[tuple[str, float]]:
    """The recipe's hub models that are not in the Hugging Face cache yet, with the bytes their
    first use will download into it (~138 GB for Llama-2-70B)."""
    from w2s_lf.models.hub import cached_snapshot, is_hub_id
    from w2s_lf.run.sizes import download_bytes
    return [(m, download_bytes(m)) for m in dict.fromkeys([*(w.model for w in recipe.weak_models), recipe.strong.model])
            if is_hub_id(m) and cached_snapshot(m) is None]


def _existing(path: Path) -> Path:
    while not path.exists():
        path = path.parent
    return path


def check_disk(root: Path, needed: float, downloads: float = 0.0, cache: Path | None = None) -> None:
    """Refuse to start without the disk the run will write: `needed` in the run folder, and
    `downloads` (hub models not cached yet) in the model cache `cache`, counted together when
    both are on one file system."""
    from w2s_lf.run.sizes import human
    places = [(root, needed, "the run folder")] + ([(cache, downloads, "model downloads")] if downloads else [])
    by_fs: dict[int, list] = {}
    for path, nbytes, what in places:
        probe = _existing(Path(path))
        by_fs.setdefault(probe.stat().st_dev, [path, probe, 0.0, []])
        entry = by_fs[probe.stat().st_dev]
        entry[2] += nbytes
        entry[3].append(f"{what} ~{human(nbytes)}")
    for path, probe, total, parts in by_fs.values():
        free = shutil.disk_usage(probe).free
        if total > free:
            detail = f" ({', '.join(parts)})" if len(parts) > 1 or downloads else ""
            raise W2SError(f"{path}: the run needs ~{human(total)} of disk{detail} and its file system has "
                           f"{human(free)} free; free space, or set run_dir (HF_HOME for the model cache) to a larger disk")


def run_recipe(recipe: Recipe, dry_run: bool = False, start: str | None = None, until: str | None = None,
               only: tuple[str, ...] = (), progress: bool = True,
               echo: Callable[[str], None] = print) -> list[tuple[str, str]]:
    """Run (or, with `dry_run`, describe) the selected stages; returns (stage, outcome) pairs."""
    stages = select(build_plan(recipe, progress), start, until, only)
    for k, stage in enumerate(stages, 1):
        stage.position = (k, len(stages))
    header = {"name": recipe.name, "recipe": recipe.to_dict(), "recipe_hash": sha256_json(recipe.to_dict()),
              "task": recipe.task, "grader_mode": recipe.grader, "grader_version": GRADER_VERSION}
    shape = shape_of(recipe)
    check_batches(stages, shape, recipe.training.launch)   # before any work, dry run included
    # A hub model must be reachable or cached, and its download fit on disk, only for a run whose
    # stages load one (`--only stage1` on released outputs loads no model).
    loads_models = any(s.params.get("kind") in ("train", "generate", "export") for s in stages)
    check_inputs(recipe, check_hub=not dry_run and loads_models)
    if dry_run:
        return _print_plan(recipe, stages, shape, echo)
    _fetch_builtin_models(recipe, echo)
    # Wall times mean little without the machine: its CPU capability (an AVX2-only CPU emulates
    # bf16), cores and dtype, as of the latest invocation. A dry run measures nothing.
    run = Run(recipe.run_path, {**header, "machine": hardware.describe()})
    with _lock(recipe.run_path):
        from w2s_lf.models.hub import cache_dir
        downloads = sum(b for _, b in model_downloads(recipe)) if loads_models else 0.0
        check_disk(recipe.run_path, disk_needed(run, stages), downloads, cache_dir())
        run.save()
        return [(stage.name, run.execute(stage, echo)) for stage in stages]


def check_inputs(recipe: Recipe, check_hub: bool = True) -> None:
    """What a recipe names outside itself, before any stage: its models resolve (a hub id is
    cached or, with `check_hub`, known to the hub) and its folders exist."""
    from w2s_lf.models.checks import resolve_model_name
    weak = [(f"weak[{k}]" if isinstance(recipe.weak, list) else "weak", w) for k, w in enumerate(recipe.weak_models)]
    for where, spec in [(f"{at}.model", w.model) for at, w in weak] + [("strong.model", recipe.strong.model)]:
        resolve_model_name(spec, where, check_hub)
    for where, folder in [(f"{at}.adapter", w.adapter) for at, w in weak] + [
            ("data.from_dir", recipe.data.from_dir if recipe.data.source == "local" else None)]:
        if folder and not is_dir(folder):
            raise W2SError(f"{where}: folder {shown(folder)} not found")


def _print_plan(recipe: Recipe, stages: list[Stage], shape, echo) -> list[tuple[str, str]]:
    """The plan, and its configs written into the run folder under the run's lock; while a run
    holds the folder, nothing is written (its configs are the live run's)."""
    from w2s_lf.run.sizes import human
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(_lock(recipe.run_path))
            live = None
        except W2SError as e:
            live = str(e)
        notes = write_configs(stages, shape, recipe.training.launch, write=live is None)
    run = Run(recipe.run_path, {}) if (recipe.run_path / "manifest.json").exists() else None
    where = (f"configs written to {recipe.run_path / 'configs'}" if live is None else
             "nothing written: a run is using the folder")
    echo(f"# plan for recipe '{recipe.name}' in {recipe.run_path} ({len(stages)} stages; {where})")
    if live:
        echo(f"# {live}")
    echo(f"# cluster: {shape.backend}, {shape.nodes} node(s) x {shape.gpus_per_node} GPU(s)"
         + (f", address {shape.address}" if shape.address else ""))
    if shape.nodes > 1 and shape.gpus:
        echo("# placement: generation spreads over every node; a training stage trains on one node when its "
             "model fits there (cluster.training_nodes overrides)")
    for stage in stages:
        state = _planned_state(run, stage)
        echo(f"\n## {stage.label}  {describe(stage, state)}")
        for note in (stage.note, notes.get(stage.name)):
            if note:
                echo(f"# {note}")
        for line in stage.commands:
            echo(line)
    echo(f"\n# disk: ~{human(sum(s.disk_bytes for s in stages))} for these stages; "
         f"a run checks the free space of {recipe.run_path} before it starts")
    downloads = model_downloads(recipe)
    if downloads:
        from w2s_lf.models.hub import cache_dir
        echo(f"# model cache: ~{human(sum(b for _, b in downloads))} more in {cache_dir()}: "
             f"{', '.join(m for m, _ in downloads)} not cached yet (`w2s-lf models fetch ID` before the run; "
             "Llama-2 is gated: accept its licence, set HF_TOKEN); the run checks that space too")
    return [(s.name, "planned") for s in stages]


def _planned_state(run: Run | None, stage: Stage) -> str:
    state = ready_state(run, stage) if run else None
    return "to run" if state is None else {"done": "up to date", "resume": "resumes", "redo": "reruns (inputs changed)",
            "foreign": "continues from existing outputs" if stage.adopts else "moves foreign outputs aside",
            "new": "to run"}[state]


def _lock(root: Path):
    """One `w2s-lf run` per run folder: two writers would corrupt the manifest."""
    return locked(root / ".lock", f"{root} (one `w2s-lf run` per run folder)")


def _fetch_builtin_models(recipe: Recipe, echo: Callable[[str], None]) -> None:
    """Build the recipe's built-in models that are not cached yet, saying so first: the CPU
    demo's `smollm2-strong` takes minutes (its own progress bar follows)."""
    from w2s_lf.models.builtin import BUILDERS, fetch, is_current, model_dir
    for spec in sorted({*(w.model for w in recipe.weak_models), recipe.strong.model}):
        if spec in BUILDERS:
            if not is_current(spec):
                echo(f"building the built-in model {spec} into {model_dir(spec)} (once per machine)")
            fetch(spec)
