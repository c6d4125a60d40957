#!/usr/bin/env python
"""Where the time of a recipe run goes: one line per stage, with the CPU it ran on.

Reads a run folder's manifest (wall and CPU seconds per stage), LLaMA-Factory's
`all_results.json` (time spent in the training loop, hence start-up overhead and seconds per
step) and generation's `<output>.run.json` (tokens and seconds spent generating, hence engine
start-up and tokens/s). With `--recipe` it first runs the recipe in a clean run folder, timed.

    python scripts/profile_demo.py runs/cpu_demo                    # an existing run
    python scripts/profile_demo.py --recipe recipes/cpu_demo.yaml   # run it fresh, then profile
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 \\
        python scripts/profile_demo.py --recipe recipes/cpu_demo.yaml --run-dir /tmp/demo-avx2

`cpu/wall` near the number of cores means the stage had the machine to itself; well below it
on a shared machine means it waited for CPU, and its wall time overstates what it costs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def training_detail(root: Path, params: dict) -> tuple[str, int]:
    """`steps, s/step, loop s` of a training stage, and 1 LLaMA-Factory start."""
    config = params.get("config", {})
    out = Path(config.get("output_dir") or config.get("export_dir") or "")
    if not out.is_absolute():
        out = root / out
    results = _read(out / "all_results.json")
    steps = _read(out / "trainer_state.json").get("global_step")
    runtime = results.get("train_runtime")
    if runtime is None or not steps:
        return "", 1
    return f"{steps} steps x {config.get('per_device_train_batch_size', '?')}, {runtime / steps:.2f} s/step, " \
           f"loop {runtime:.1f}s", 1


def generation_detail(root: Path, outputs: list[str]) -> tuple[str, float, int]:
    """Questions, tokens and tokens/s of a generation stage, its seconds of generating, and the
    number of engines it started (one per output file without a shared jobs engine)."""
    parts, seconds, engines = [], 0.0, 0
    for rel in outputs:
        info = _read(root / f"{rel}.run.json")
        summary = info.get("summary") or {}
        if not summary:
            continue
        engines += 1
        seconds += summary.get("seconds") or 0
        parts.append(f"{summary.get('generated', '?')} q, {summary.get('tokens', '?')} tok, "
                     f"{summary.get('tokens_per_s') or 0:.0f} tok/s")
    return "; ".join(parts), seconds, engines


def profile(root: Path) -> dict:
    manifest = _read(root / "manifest.json")
    if not manifest:
        raise SystemExit(f"{root}/manifest.json not found or unreadable: is this a run folder?")
    rows, lf_starts, engine_starts = [], 0, 0
    for name, entry in manifest.get("stages", {}).items():
        params, wall, cpu = entry.get("params", {}), entry.get("wall_s"), entry.get("cpu_s")
        kind, detail = params.get("kind", "?"), ""
        if kind in ("train", "export"):
            detail, starts = training_detail(root, params)
            lf_starts += starts
        elif kind == "generate" or params.get("engine") or "jobs" in params:
            detail, gen_s, engines = generation_detail(root, list(entry.get("outputs", {})))
            engine_starts += max(engines, 1) if "jobs" not in params else 1
            if wall and gen_s:
                detail += f"; start-up and loading {wall - gen_s:.1f}s"
        rows.append({"stage": name, "kind": kind, "status": entry.get("status"), "wall_s": wall,
                     "cpu_s": cpu, "detail": detail})
    return {"rows": rows, "lf_starts": lf_starts, "engine_starts": engine_starts,
            "total_wall_s": round(sum(r["wall_s"] or 0 for r in rows), 1),
            "total_cpu_s": round(sum(r["cpu_s"] or 0 for r in rows), 1)}


def print_profile(result: dict, timed_s: float | None = None) -> None:
    from w2s_lf.hardware import describe
    print(describe())
    print(f"load average now: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"\n{'stage':<24} {'kind':<9} {'wall s':>8} {'cpu s':>8} {'cpu/wall':>8}  detail")
    for r in result["rows"]:
        ratio = f"{r['cpu_s'] / r['wall_s']:.2f}" if r["cpu_s"] and r["wall_s"] else "-"
        wall = f"{r['wall_s']:.1f}" if r["wall_s"] is not None else "-"
        cpu = f"{r['cpu_s']:.1f}" if r["cpu_s"] is not None else "-"
        print(f"{r['stage']:<24} {r['kind']:<9} {wall:>8} {cpu:>8} {ratio:>8}  {r['detail']}")
    print(f"\nstages: {len(result['rows'])}, sum of stage wall {result['total_wall_s']}s, "
          f"CPU {result['total_cpu_s']}s; LLaMA-Factory starts {result['lf_starts']}, "
          f"generation engine starts {result['engine_starts']}")
    if timed_s is not None:
        print(f"w2s-lf run, whole command: {timed_s:.1f}s ({timed_s / 60:.1f} min)")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", nargs="?", help="run folder to profile")
    p.add_argument("--recipe", help="run this recipe first, in a clean run folder")
    p.add_argument("--run-dir", dest="run_dir_opt", help="with --recipe: where to run it [default: the recipe's]")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="with --recipe: recipe override")
    p.add_argument("--json", help="also write the profile to this file")
    args = p.parse_args(argv)
    timed = None
    if args.recipe:
        from w2s_lf.run.recipe import load_recipe
        overrides = dict(kv.split("=", 1) for kv in args.set)
        if args.run_dir_opt:
            overrides["run_dir"] = args.run_dir_opt
        import yaml
        root = load_recipe(args.recipe, {k: yaml.safe_load(v) for k, v in overrides.items()}).run_path
        if root.exists():
            shutil.rmtree(root)   # a clean run folder, as the demo's timing requires
        cmd = [sys.executable, "-m", "w2s_lf", "run", args.recipe,
               *[f"{k}={v}" for k, v in overrides.items()]]
        start = time.perf_counter()
        subprocess.run(cmd, check=True)
        timed = time.perf_counter() - start
    elif args.run_dir:
        root = Path(args.run_dir)
    else:
        p.error("give a run folder or --recipe")
    result = profile(root)
    print_profile(result, timed)
    if args.json:
        Path(args.json).write_text(json.dumps({**result, "timed_s": timed}, indent=2) + "\n")


if __name__ == "__main__":
    main()
