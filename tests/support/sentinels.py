"""A sentinel tree around a run folder: files no command of the run may delete, change or add to.

`Sentinels(root, run)` writes files beside the run folder (in its parent, in a sibling run with
a manifest and an adapter, in folders named as a run's outputs are) and records every file under
`root` outside `run`. `check()` fails naming each that went away or changed, and any file that
appeared outside the run folder; call it after each command, or after each stage via `echo`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

TREE = {
    "notes.txt": "thesis",
    "runs/other/manifest.json": '{"name": "other", "stages": {}}',
    "runs/other/models/weak/adapter_model.safetensors": "weights of another run",
    "runs/other/data/dataset_info.json": "{}",
    "saves/mplus/adapter_config.json": "{}",
    "data/train_2.jsonl": '{"question": "q", "answer": "#### 1"}\n',
    "models/weak/checkpoint-2/trainer_state.json": "{}",
    ".lock": "someone else's lock",
}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Sentinels:
    def __init__(self, root: Path, run: Path, allowed: tuple[Path, ...] = ()):
        self.root, self.run = Path(root), Path(run)
        self.allowed = {Path(p) for p in allowed}   # files the test itself writes outside the run
        for rel, text in TREE.items():
            path = self.root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        self.before = self._outside()
        self.checks = 0

    def _outside(self) -> dict[Path, str]:
        return {p: _digest(p) for p in sorted(self.root.rglob("*"))
                if p.is_file() and not p.is_relative_to(self.run) and p not in self.allowed}

    def check(self, *_: object) -> None:
        now = self._outside()
        gone = [str(p) for p in self.before if p not in now]
        changed = [str(p) for p in self.before if p in now and now[p] != self.before[p]]
        added = [str(p) for p in now if p not in self.before]
        assert not (gone or changed or added), f"outside the run folder: deleted {gone}, changed {changed}, added {added}"
        self.checks += 1
