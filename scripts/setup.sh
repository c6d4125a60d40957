#!/usr/bin/env bash
# Create or refresh .venv with everything w2s-lf needs: torch, vLLM, LLaMA-Factory, the package.
#
#   bash scripts/setup.sh          # CPU machine: exact pins from requirements/cpu-lock.txt
#   bash scripts/setup.sh --gpu    # CUDA machine: vllm + CUDA torch, LLaMA-Factory beside it
#
# Why one environment with our own pins: pip cannot resolve vllm(-cpu) and llamafactory together
# (llamafactory pins transformers<=5.6.0, vLLM needs a newer one). Both run fine on the newer
# transformers, so we install llamafactory with --no-deps, pin its dependencies ourselves and set
# DISABLE_VERSION_CHECK=1 (w2s_lf sets it for its own subprocesses; export it for manual use).
# The CPU lock installs with --no-deps: no resolver, the same versions on every machine, ~2 min
# fresh and a few seconds when nothing changed (a stamp file records what was installed).
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=cpu
[[ "${1:-}" == "--gpu" ]] && MODE=gpu
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
VENV=.venv
STAMP=$VENV/.w2s-lf-setup
want=$(cat requirements/cpu-lock.txt requirements/lf-deps.txt pyproject.toml scripts/setup.sh \
       scripts/cpu_shims/torchaudio/__init__.py | sha256sum | cut -c1-16)-$MODE

if [[ -f $STAMP && "$(cat $STAMP)" == "$want" ]] && $VENV/bin/python -c "import w2s_lf" 2>/dev/null; then
    echo "setup: $VENV is up to date ($MODE)"
    exit 0
fi

[[ -x $VENV/bin/python ]] || "$PY" -m venv $VENV
PIP="$VENV/bin/python -m pip --disable-pip-version-check -q"
quiet() { grep -v "^WARNING: Location" || true; }   # this machine's mirror config is noisy

if [[ $MODE == cpu ]]; then
    # Every package pinned (torch is the CPU wheel 2.13.0+cpu); no torchvision/torchaudio/torchcodec:
    # their PyPI wheels are CUDA builds that break imports next to CPU torch.
    $PIP install --no-deps -r requirements/cpu-lock.txt 2>&1 | quiet
    $PIP uninstall -y torchvision torchaudio torchcodec 2>&1 | quiet
    # LLaMA-Factory imports torchaudio even for text; give it a stand-in that fails if audio is used.
    site=$($VENV/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    rm -rf "$site/torchaudio" && cp -r scripts/cpu_shims/torchaudio "$site/torchaudio"
else
    # GPU: vLLM brings its CUDA torch, torchvision and torchaudio; LLaMA-Factory goes in beside it.
    $PIP install vllm 2>&1 | quiet
    $PIP install --no-deps llamafactory==0.9.5 2>&1 | quiet
    $PIP install -r requirements/lf-deps.txt 2>&1 | quiet
    $PIP install pytest pytest-timeout math-verify jsonlines 2>&1 | quiet
fi
$PIP install --no-deps -e . 2>&1 | quiet
echo "$want" > $STAMP
$VENV/bin/python -c "import torch, vllm, transformers, w2s_lf; print(f'setup: torch {torch.__version__}, vllm {vllm.__version__}, transformers {transformers.__version__}, w2s-lf {w2s_lf.__version__}')" 2>&1 | tail -1
