"""Make plain `llamafactory-cli` in this project's environment know our `w2s_vanilla` template.

LLaMA-Factory only knows templates registered in its own process, so `llamafactory-cli train
llama_factory_configs/dpo_70b.yaml` would stop with "Template w2s_vanilla does not exist".
`scripts/setup.sh` puts a one-line `w2s_lf_templates.pth` into the environment's site-packages
(`import w2s_lf.lf.hook`); Python runs it at start-up, and this module then waits, at the cost of
one entry in `sys.meta_path`, for `llamafactory.data.template` to be imported, and registers our
template right after it (torchrun ranks included: they are Pythons of the same environment).
The same way, right after `llamafactory.train.dpo.trainer` is imported, it applies
`w2s_lf.lf.patches.pass_pref_loss` (IPO and hinge train as themselves on TRL 0.24).
Nothing else is imported at start-up. Outside such an environment use `python -m w2s_lf.lf.cli`,
which registers the template explicitly.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

# LLaMA-Factory module -> (our module, function) to run as soon as it has executed
AFTER_IMPORT = {"llamafactory.data.template": ("w2s_lf.lf.templates", "register"),
                "llamafactory.train.dpo.trainer": ("w2s_lf.lf.patches", "pass_pref_loss")}
TARGET = "llamafactory.data.template"


def _run(target: str) -> None:
    module, function = AFTER_IMPORT[target]
    getattr(importlib.import_module(module), function)()


class _RegisterAfterImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself; when a module of AFTER_IMPORT is imported, wraps its loader so that
    our function for it runs as soon as the module has executed."""

    def __init__(self, target: str = TARGET):
        self.target = target

    def find_spec(self, name, path=None, target=None):
        if name != self.target:
            return None
        sys.meta_path.remove(self)   # one shot; also keeps the lookup below from finding us
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module):
            execute(module)
            _run(name)

        spec.loader.exec_module = exec_module
        return spec


def install() -> None:
    for target in AFTER_IMPORT:
        if target in sys.modules:   # already imported: run now
            _run(target)
        elif not any(isinstance(f, _RegisterAfterImport) and f.target == target for f in sys.meta_path):
            sys.meta_path.insert(0, _RegisterAfterImport(target))


install()
