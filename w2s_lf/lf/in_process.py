"""LLaMA-Factory's parser inside our own process, the same on any machine: its version check off
while it is imported, the distributed environment of torchrun or MPI hidden, its logs quiet.

`w2s-lf validate` and the pipeline's check before each training stage parse configs here
(`get_train_args`, about 0.1 s after the import), so a config is judged the same on a laptop,
a 1- or 8-GPU node, or inside torchrun.
"""

from __future__ import annotations

import contextlib
import os


@contextlib.contextmanager
def version_check_off():
    """LLaMA-Factory 0.9.5 checks its dependencies' versions when `llamafactory.hparams` is first
    imported and refuses the newer transformers that vLLM needs (see scripts/setup.sh); the check
    is off while validation imports it in this process, and our environment is left as it was."""
    old = os.environ.get("DISABLE_VERSION_CHECK")
    os.environ["DISABLE_VERSION_CHECK"] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("DISABLE_VERSION_CHECK", None)
        else:
            os.environ["DISABLE_VERSION_CHECK"] = old


# Set by torchrun, MPI launchers and accelerate; LLaMA-Factory and accelerate read them to
# decide the process is one rank of a distributed job (and would join its rendezvous).
DISTRIBUTED_ENV = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK", "GROUP_WORLD_SIZE",
                   "ROLE_RANK", "ROLE_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "PMI_SIZE", "PMI_RANK",
                   "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_RANK",
                   "MV2_COMM_WORLD_SIZE", "MV2_COMM_WORLD_RANK", "CCL_WORKER_COUNT")
DISTRIBUTED_PREFIXES = ("TORCHELASTIC_", "ACCELERATE_")


@contextlib.contextmanager
def one_cpu_process():
    """Parse as a lone CPU process: the distributed environment hidden, accelerate's global
    state reset before and after (transformers keeps it across TrainingArguments)."""
    from accelerate.state import AcceleratorState
    hidden = {k: os.environ.pop(k) for k in list(os.environ)
              if k in DISTRIBUTED_ENV or k.startswith(DISTRIBUTED_PREFIXES)}
    AcceleratorState._reset_state(reset_partial_state=True)
    try:
        yield
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)
        os.environ.update(hidden)


@contextlib.contextmanager
def quiet_llamafactory():
    """LLaMA-Factory logs its import and parse (version check, rank, dtype) at INFO/WARNING; in
    a check inside `w2s-lf run` that is noise on the user's console (the stage's own training
    logs it again, into the stage log); its errors reach the report as exceptions."""
    import logging

    with version_check_off():
        from llamafactory.extras import logging as lf_logging
    lf_logging.get_logger(__name__)    # configures LLaMA-Factory's root logger (level from its env)
    import transformers

    lf = logging.getLogger("llamafactory")
    level, hf_level = lf.level, transformers.logging.get_verbosity()
    verbosity = os.environ.get("LLAMAFACTORY_VERBOSITY")
    lf.setLevel(logging.ERROR)
    # LLaMA-Factory's parser turns transformers' logging up to INFO unless this says WARN; it is
    # restored afterwards so that trainings started later from this process log as usual.
    os.environ["LLAMAFACTORY_VERBOSITY"] = "WARN"
    try:
        yield
    finally:
        lf.setLevel(level)
        transformers.logging.set_verbosity(hf_level)
        if verbosity is None:
            os.environ.pop("LLAMAFACTORY_VERBOSITY", None)
        else:
            os.environ["LLAMAFACTORY_VERBOSITY"] = verbosity
