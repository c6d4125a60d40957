"""Training deletes only inside an output_dir that w2s-lf created (issue 17, finding 1).

`w2s-lf train CFG output_dir=DIR` used to remove DIR and everything in it whenever it held no
checkpoint-*, even with overwrite_output_dir=false; `output_dir=.` would have emptied the
working directory. A folder w2s-lf did not create is now refused (or, with
overwrite_output_dir=true, trained into as LLaMA-Factory does), and nothing in it is deleted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from w2s_lf.errors import W2SError
from w2s_lf.lf.train import OURS, check_output_dir, prepare_output_dir

REPO = Path(__file__).resolve().parents[2]


def _someones_folder(folder: Path) -> dict[str, str]:
    (folder / "sub").mkdir(parents=True)
    files = {"notes.txt": "thesis", "sub/data.csv": "1,2", "adapter_model.safetensors": "not ours"}
    for rel, text in files.items():
        (folder / rel).write_text(text)
    return files


def _unchanged(folder: Path, files: dict[str, str]) -> bool:
    return all((folder / rel).read_text() == text for rel, text in files.items())


def test_train_refuses_an_output_dir_it_did_not_create_and_deletes_nothing(tmp_path, cli, monkeypatch):
    """The issue's reproduction, through the CLI (validation off, so nothing else stops it first;
    on main this emptied the folder, then started LLaMA-Factory)."""
    monkeypatch.chdir(tmp_path)
    files = _someones_folder(tmp_path / "p")
    config = tmp_path / "sft.yaml"
    config.write_text((REPO / "llama_factory_configs/cpu_sft.yaml").read_text()
                      .replace("overwrite_output_dir: true", "overwrite_output_dir: false"))
    for target in (tmp_path / "p", Path(".")):   # `.` is the working directory
        result = cli("train", config, f"output_dir={target}", "--no-validate")
        assert result.exit_code == 2 and "w2s-lf did not create it" in result.output, result.output
        assert "nothing was deleted" in result.output
        assert _unchanged(tmp_path / "p", files)
    assert not list(tmp_path.glob("*.train.yaml"))   # refused before anything was written


def test_overwrite_output_dir_trains_into_a_folder_without_deleting_in_it(tmp_path):
    files = _someones_folder(tmp_path / "p")
    assert check_output_dir(tmp_path / "p", overwrite=True) is False
    prepare_output_dir(tmp_path / "p", overwrite=True)
    assert _unchanged(tmp_path / "p", files) and not (tmp_path / "p" / OURS).exists()


def test_a_foreign_folder_with_checkpoints_is_left_to_llamafactory_to_resume(tmp_path):
    out = tmp_path / "saves"
    (out / "checkpoint-4").mkdir(parents=True)   # no trainer_state.json: torn, but not ours
    (out / "notes.txt").write_text("keep")
    prepare_output_dir(out)
    assert (out / "checkpoint-4").is_dir() and (out / "notes.txt").read_text() == "keep"


def test_missing_or_empty_folders_become_ours_and_a_file_is_refused(tmp_path):
    prepare_output_dir(tmp_path / "new")
    (tmp_path / "empty").mkdir()
    prepare_output_dir(tmp_path / "empty")
    assert (tmp_path / "new" / OURS).is_file() and (tmp_path / "empty" / OURS).is_file()
    (tmp_path / "f").write_text("x")
    with pytest.raises(W2SError, match="is a file"):
        prepare_output_dir(tmp_path / "f")
    assert (tmp_path / "f").read_text() == "x"


def test_our_folder_drops_checkpoints_cut_off_by_a_kill(tmp_path):
    """transformers writes trainer_state.json last; a checkpoint without it was cut off, and
    resuming from it would fail. It goes; complete ones stay."""
    out = tmp_path / "out"
    prepare_output_dir(out)
    for step, complete in ((4, True), (6, True), (8, False)):
        (out / f"checkpoint-{step}").mkdir(parents=True)
        if complete:
            (out / f"checkpoint-{step}/trainer_state.json").write_text('{"global_step": %d}' % step)
    (out / "checkpoint-9").mkdir()
    (out / "checkpoint-9/trainer_state.json").write_text('{"global_st')   # cut off mid-write
    prepare_output_dir(out)
    assert sorted(p.name for p in out.iterdir()) == [OURS, "checkpoint-4", "checkpoint-6"]


def test_our_folder_without_checkpoints_is_an_earlier_output_and_is_cleared(tmp_path):
    out = tmp_path / "stale"
    prepare_output_dir(out)
    (out / "adapter_config.json").write_text("{}")
    prepare_output_dir(out)   # no checkpoint: a fresh start
    assert sorted(p.name for p in out.iterdir()) == [OURS]
