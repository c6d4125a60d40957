"""CPU stand-in for torchaudio, installed by scripts/setup.sh on machines without a GPU.

PyPI's torchaudio wheels are CUDA builds that fail to load next to the CPU torch wheel, and
LLaMA-Factory 0.9.5 imports torchaudio unconditionally (llamafactory/data/mm_plugin.py) even for
text-only training. w2s-lf trains on text only, so this stand-in lets that import succeed and
fails loudly if audio is ever actually used. GPU installs get the real torchaudio instead.
"""

__version__ = "0.0.0+w2s-lf-cpu-stub"


def _unavailable(*args, **kwargs):
    raise RuntimeError("torchaudio is a stub on this CPU install (see scripts/setup.sh); "
                       "audio data is not supported here")


load = _unavailable


class functional:  # noqa: N801 - mirrors the torchaudio.functional namespace
    resample = staticmethod(_unavailable)
