"""Generation spread over data-parallel engines on a simulated two-node Ray cluster (two raylets
on this machine), with real transformers engines on the tiny Llama.

One test, to pay for the cluster and the engines' start-up once: a single-engine reference run;
then `w2s-lf generate --jobs` with 2 engines (one per node) whose engine 0 is SIGKILLed mid-stage
(the stage must fail, keeping every finished answer); then a rerun that completes. The result must
be byte-identical to the single-engine run: no id lost, none duplicated, question order.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from support.ray_cluster import local_ray_cluster

from w2s_lf.generation.jobs import parse_jobs
from w2s_lf.generation.run import run_jobs

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def _jobs(model, data, root: Path, engines: int, address: str | None) -> dict:
    # batch_size 1: each transformers call is one unpadded question, so an answer does not
    # depend on which other questions share its engine (padding changes float sums).
    return {"engine": {"model": str(model), "backend": "hf", "max_new_tokens": 24, "batch_size": 1,
                       "data_parallel_size": engines, "ray_address": address,
                       "options": {"dtype": "float32", "cpus_per_engine": 2}},
            "jobs": [{"output": str(root / "greedy.jsonl"), "data_dir": str(data), "split": "test", "limit": 12},
                     {"output": str(root / "sample.jsonl"), "data_dir": str(data), "split": "test", "limit": 2,
                      "mode": "sample", "k": 2}]}


@pytest.fixture(scope="module")
def ray_cluster():
    with local_ray_cluster(nodes=2, cpus_per_node=2) as address:
        yield address


def _ids(path: Path) -> list[int]:
    return [json.loads(line)["id"] for line in path.open()]


def test_two_engines_on_two_nodes_equal_one_engine_and_survive_a_killed_engine(tiny_model, embedded_data, tmp_path,
                                                                              ray_cluster):
    single = tmp_path / "single"
    one = parse_jobs(_jobs(tiny_model, embedded_data, single, 1, None))
    reference = run_jobs(one, progress=False)
    assert [s["generated"] for s in reference] == [12, 2]

    spread = tmp_path / "spread"
    spread.mkdir()
    jobs_file = spread / "jobs.yaml"
    jobs_file.write_text(yaml.safe_dump(_jobs(tiny_model, embedded_data, spread, 2, ray_cluster)))
    # The controller runs as the pipeline runs it, in a process of its own (which also keeps
    # Ray's settings, read when ray is first imported, those of the cluster).
    first = _controller(jobs_file)
    greedy = spread / "greedy.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and first.poll() is None and \
            not (greedy.exists() and greedy.read_text().count("\n") >= 3):
        time.sleep(0.05)
    engines = _engines(first.lines)
    assert len(engines) == 2 and engines[0][1] != engines[1][1], f"one engine per node: {first.lines}"
    os.kill(int(engines[0][2]), signal.SIGKILL)
    assert first.wait(timeout=60) == 2
    first.reader.join(timeout=5)
    assert "rerun to resume" in "".join(first.lines), first.lines
    kept = _ids(greedy)
    assert 3 <= len(kept) < 12 and len(set(kept)) == len(kept)

    rerun = _controller(jobs_file)
    assert rerun.wait(timeout=180) == 0, rerun.lines
    rerun.reader.join(timeout=5)
    assert len({node for _, node, _ in _engines(rerun.lines)}) == 2
    assert f"{greedy}: 12 questions ({12 - len(kept)} generated, {len(kept)} resumed)" in "".join(rerun.lines)
    assert _ids(greedy) == list(range(12))
    for name in ("greedy.jsonl", "sample.jsonl"):
        assert (spread / name).read_bytes() == (single / name).read_bytes(), name


def _controller(jobs_file: Path) -> subprocess.Popen:
    """`w2s-lf generate --jobs FILE` in the background; its output lines gather in `.lines`."""
    proc = subprocess.Popen([sys.executable, "-m", "w2s_lf", "generate", "--jobs", str(jobs_file), "--no-progress"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    proc.lines = []
    proc.reader = threading.Thread(target=lambda: proc.lines.extend(proc.stdout), daemon=True)
    proc.reader.start()
    return proc


def _engines(lines: list[str]) -> list[tuple[str, str, str]]:
    """(engine, node, pid) from the controller's placement lines."""
    found = (re.match(r"engine (\d+): \S+ node (\S+) pid (\d+)", line) for line in lines)
    return [m.groups() for m in found if m]
