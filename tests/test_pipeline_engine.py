"""The pipeline engine: content-keyed skipping, re-running on change, resuming, selection."""

from __future__ import annotations

import json

import pytest

from w2s_lf.errors import W2SError
from w2s_lf.pipeline import Run, Stage, select


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
    import w2s_lf.pipeline as engine
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


def test_keys_do_not_depend_on_where_the_run_folder_is(tmp_path):
    """Configs and commands name the run folder absolutely; the key writes it `$RUN`."""
    from w2s_lf.pipeline import portable
    keys = []
    for root in (tmp_path / "a", tmp_path / "elsewhere/b"):
        root.mkdir(parents=True)
        (root / "in.txt").write_text("same")
        stage = Stage("s", {"cmd": ["-o", str(root / "out.txt")], "config": {"output_dir": str(root / "m")}},
                      ["in.txt"], ["out.txt"], lambda s: None)
        keys.append(Run(root, {}).key(stage))
    assert keys[0] == keys[1]
    assert portable({"x": [f"{tmp_path}/a/m", f"--dir={tmp_path}/a/d", f"{tmp_path}/ab"]}, tmp_path / "a") == \
        {"x": ["$RUN/m", "--dir=$RUN/d", f"{tmp_path}/ab"]}
