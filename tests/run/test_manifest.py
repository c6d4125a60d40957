"""The pipeline engine: content-keyed skipping, re-running on change, resuming, selection."""

from __future__ import annotations

import json

import pytest

from w2s_lf.errors import W2SError
from w2s_lf.run.manifest import Run, Stage, select


def _stages(root, calls, value="a", fail_second=False):
    def first(stage):
        calls.append("first")
        (root / "one.txt").write_text(value)
        return {"n": 1}

    def second(stage):
        calls.append("second")
        if fail_second:
            (root / "two.txt").write_text("partial")
            raise KeyboardInterrupt   # as if killed mid-way
        text = (root / "one.txt").read_text()
        done = (root / "two.txt").read_text() if (root / "two.txt").exists() else ""
        (root / "two.txt").write_text(text * 2 if not done else done + "+resumed")
    return [Stage("first", {"value": value}, [], ["one.txt"], first),
            Stage("second", {}, ["one.txt"], ["two.txt"], second, resumable=True)]


def _run_all(root, stages):
    run = Run(root, {"name": "t"})
    return [run.execute(s, echo=lambda m: None) for s in stages]


def test_second_run_skips_everything(tmp_path):
    calls = []
    assert _run_all(tmp_path, _stages(tmp_path, calls)) == ["done", "done"]
    assert _run_all(tmp_path, _stages(tmp_path, calls)) == ["skipped", "skipped"]
    assert calls == ["first", "second"]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["stages"]["first"]["stats"] == {"n": 1}
    assert manifest["stages"]["second"]["status"] == "done"


def test_a_warning_in_a_stages_statistics_is_printed_under_its_line(tmp_path):
    """`prepare` returns the split sizes beside the paper's; a run shows their warning."""
    def stage(_):
        (tmp_path / "one.txt").write_text("x")
        return {"train_1": 3736, "warning": "these splits are not the paper's"}
    said = []
    Run(tmp_path, {"name": "t"}).execute(Stage("prepare", {}, [], ["one.txt"], stage), echo=said.append)
    assert said[0].startswith("prepare ... done in") and said[1:] == ["  WARNING: these splits are not the paper's"]


def test_changed_params_rerun_downstream(tmp_path):
    calls = []
    _run_all(tmp_path, _stages(tmp_path, calls, "a"))
    assert _run_all(tmp_path, _stages(tmp_path, calls, "b")) == ["done", "done"]
    assert (tmp_path / "two.txt").read_text() == "bb"


def test_tampered_output_is_redone(tmp_path):
    calls = []
    _run_all(tmp_path, _stages(tmp_path, calls))
    (tmp_path / "two.txt").write_text("edited by hand")
    assert _run_all(tmp_path, _stages(tmp_path, calls)) == ["skipped", "done"]
    assert (tmp_path / "two.txt").read_text() == "aa"


def test_interrupted_stage_resumes_and_failure_is_recorded(tmp_path):
    calls = []
    with pytest.raises(KeyboardInterrupt):
        _run_all(tmp_path, _stages(tmp_path, calls, fail_second=True))
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["stages"]["second"]["status"] == "failed"
    assert _run_all(tmp_path, _stages(tmp_path, calls)) == ["skipped", "done"]
    assert calls == ["first", "second", "second"]
    assert (tmp_path / "two.txt").read_text() == "partial+resumed"   # partial output kept


def test_missing_input_and_missing_output_are_errors(tmp_path):
    run = Run(tmp_path, {"name": "t"})
    with pytest.raises(W2SError, match="input .*one.txt is missing"):
        run.execute(Stage("s", {}, ["one.txt"], [], lambda s: None), echo=lambda m: None)
    with pytest.raises(W2SError, match="finished without writing"):
        run.execute(Stage("s", {}, [], ["never.txt"], lambda s: None), echo=lambda m: None)


def test_select():
    stages = [Stage(n, {}, [], [], lambda s: None) for n in ("a", "b", "c", "d")]
    assert [s.name for s in select(stages, start="b")] == ["b", "c", "d"]
    assert [s.name for s in select(stages, until="b")] == ["a", "b"]
    assert [s.name for s in select(stages, start="b", until="c")] == ["b", "c"]
    assert [s.name for s in select(stages, only=("d", "a"))] == ["a", "d"]
    with pytest.raises(W2SError, match="unknown stage 'cc' \\(did you mean 'c'\\?\\)"):
        select(stages, only=("cc",))


def test_file_digests_are_read_once_per_invocation_and_redone_after_a_rewrite(tmp_path, monkeypatch):
    """A big output that feeds several stages (a merged model) is hashed once, not once per stage."""
    import w2s_lf.run.manifest as engine
    reads = []
    real = engine.sha256_file
    monkeypatch.setattr(engine, "sha256_file", lambda p: reads.append(str(p)) or real(p))
    (tmp_path / "big.bin").write_bytes(b"weights")
    readers = [Stage(f"use{i}", {}, ["big.bin"], [f"out{i}.txt"],
                     lambda s, i=i: (tmp_path / f"out{i}.txt").write_text("x")) for i in range(3)]
    run = Run(tmp_path, {"name": "t"})
    for stage in readers:
        run.execute(stage, echo=lambda m: None)
    assert reads.count(str(tmp_path / "big.bin")) == 1
    (tmp_path / "big.bin").write_bytes(b"other weights")   # new size and mtime: hashed again
    again = Run(tmp_path, {"name": "t"})   # a second invocation: its own cache, one read
    assert [again.execute(s, echo=lambda m: None) for s in readers] == ["done"] * 3
    assert reads.count(str(tmp_path / "big.bin")) == 2


def test_progress_lines_say_position_and_time(tmp_path):
    lines = []
    stages = _stages(tmp_path, [])
    for k, s in enumerate(stages, 1):
        s.position = (k, 2)
    run = Run(tmp_path, {"name": "t"})
    [run.execute(s, echo=lines.append) for s in stages]
    [Run(tmp_path, {"name": "t"}).execute(s, echo=lines.append) for s in stages]
    assert lines[0].startswith("[1/2] first ... done in ") and lines[0].endswith("s")
    assert lines[2:] == ["[1/2] first ... up to date", "[2/2] second ... up to date"]


def test_outputs_not_written_by_this_run_are_never_deleted(tmp_path):
    """A file in an output's place that the manifest does not vouch for (made by hand or by
    another node) is continued from by a stage that can (generation), else moved aside."""
    (tmp_path / "one.txt").write_text("made by hand")
    calls, lines = [], []
    first, second = _stages(tmp_path, calls)
    Run(tmp_path, {"name": "t"}).execute(first, echo=lines.append)
    assert (tmp_path / "one.txt.foreign").read_text() == "made by hand"
    assert (tmp_path / "one.txt").read_text() == "a" and "kept as" in lines[0]

    (tmp_path / "two.txt").write_text("shards merged by hand")
    second.adopts = True
    Run(tmp_path, {"name": "t"}).execute(second, echo=lines.append)
    assert (tmp_path / "two.txt").read_text() == "shards merged by hand+resumed"
    assert "continued from existing outputs, done in" in lines[-1]


def test_tampered_output_is_kept_aside(tmp_path):
    _run_all(tmp_path, _stages(tmp_path, []))
    (tmp_path / "two.txt").write_text("edited by hand")
    _run_all(tmp_path, _stages(tmp_path, []))
    assert (tmp_path / "two.txt.foreign").read_text() == "edited by hand"


HOLD = ("import sys, time; from pathlib import Path; from w2s_lf.run.execute import _lock\n"
        "with _lock(Path(sys.argv[1])):\n    print('held', flush=True)\n    time.sleep(float(sys.argv[2]))\n")


def test_the_run_lock_names_its_holder_and_dies_with_it(tmp_path):
    """A second controller is refused with the holder's host, pid and start time; once the holder
    is SIGKILLed the kernel has released the lock, and the folder is usable again."""
    import signal
    import subprocess
    import sys

    from w2s_lf.run.execute import _lock
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path), "60"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(W2SError, match=rf"in use \(host \S+, pid {holder.pid}, since \d{{4}}-"):
            with _lock(tmp_path):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with _lock(tmp_path):
        assert f"pid {__import__('os').getpid()}," in (tmp_path / ".lock").read_text()
    assert not (tmp_path / ".lock").exists()   # the holder removes it as it lets go


@pytest.mark.slow
def test_two_controllers_started_together_never_both_hold_the_lock(tmp_path):
    """20 rounds of two processes taking one folder's lock at the same instant: one wins each time."""
    import subprocess
    import sys
    script = ("import sys, time; from pathlib import Path; from w2s_lf.errors import W2SError\n"
              "from w2s_lf.run.execute import _lock\n"
              "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"
              "try:\n    with _lock(Path(sys.argv[1])):\n        print('won', flush=True); time.sleep(0.5)\n"
              "except W2SError:\n    print('refused', flush=True)\n")
    import time
    for round_ in range(20):
        folder = tmp_path / f"r{round_}"
        start = str(time.time() + 1.5)
        procs = [subprocess.Popen([sys.executable, "-c", script, str(folder), start], stdout=subprocess.PIPE, text=True)
                 for _ in range(2)]
        outcomes = sorted(p.communicate(timeout=60)[0].strip() for p in procs)
        assert outcomes == ["refused", "won"], f"round {round_}: {outcomes}"


def test_a_run_refuses_to_start_without_the_disk_it_needs(tmp_path):
    from w2s_lf.run.execute import check_disk
    check_disk(tmp_path / "new" / "run", 1.0)
    with pytest.raises(W2SError, match="the run needs ~1.0 PB|the run needs ~1000.0 TB"):
        check_disk(tmp_path, 1e15)
