"""Make plain `llamafactory-cli` in this project's environment know our `w2s_vanilla` template.

LLaMA-Factory only knows templates registered in its own process, so `llamafactory-cli train
llama_factory_configs/dpo_70b.yaml` would stop with "Template w2s_vanilla does not exist".
`scripts/setup.sh` puts a one-line `w2s_lf_templates.pth` into the environment's site-packages
(`import w2s_lf.lf.hook`); Python runs it at start-up, and this module then waits, at the cost of
one entry in `sys.meta_path`, for `llamafactory.data.template` to be imported, and registers our
template right after it (torchrun ranks included: they are Pythons of the same environment).
Nothing else is imported at start-up. Outside such an environment use `python -m w2s_lf.lf.cli`,
which registers the template explicitly.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys

TARGET = "llamafactory.data.template"


class _RegisterAfterImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself; when LLaMA-Factory's template module is imported, wraps its loader so
    that `w2s_lf.lf.templates.register()` runs as soon as the module has executed."""

    def find_spec(self, name, path=None, target=None):
        if name != TARGET:
            return None
        sys.meta_path.remove(self)   # one shot; also keeps the lookup below from finding us
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module):
            execute(module)
            from w2s_lf.lf.templates import register
            register()

        spec.loader.exec_module = exec_module
        return spec


def install() -> None:
    if TARGET in sys.modules:   # already imported: register now
        from w2s_lf.lf.templates import register
        register()
    elif not any(isinstance(f, _RegisterAfterImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterAfterImport())


install()
