#!/usr/bin/env bash
# Generation over every GPU of a node, and over several nodes, with `w2s-lf generate --shard`.
#
# Each engine gets TP GPUs (tensor parallelism, for models that do not fit one GPU), the node
# runs GPUS/TP engines side by side, and NODES nodes split the questions further. Shard s of
# S = engines x nodes holds the ids with id % S == s; every shard file is its own checkpoint,
# so rerunning this script after a crash or preemption resumes every shard where it stopped.
#
#   # one node, 8 GPUs, Llama-2-70B in bf16 with TP=4 -> 2 engines:
#   TP=4 scripts/launch_generation.sh runs/x/gen/icl.jsonl -- \
#       --model /models/Llama-2-70b-hf --task gsm8k --data-dir runs/x/data --split train_2 \
#       --mode few-shot --demos runs/x/gen/weak_train_2.jsonl --max-model-len 4096
#
#   # 4 nodes (e.g. under Slurm: NODE_RANK=$SLURM_NODEID NODES=$SLURM_NNODES), 7B model:
#   NODES=4 NODE_RANK=$SLURM_NODEID scripts/launch_generation.sh out.jsonl -- --model M ...
#   # then, once every node is done, on any node with the shared file system:
#   w2s-lf generate merge out.jsonl out.jsonl.shard*-of-32.jsonl
#
# Environment: TP (default 1), GPUS (default: nvidia-smi count, else 1), NODES (1), NODE_RANK (0).
# Everything after `--` goes to `w2s-lf generate` as is.
set -euo pipefail

if [ $# -lt 2 ] || [ "$2" != "--" ]; then
    sed -n '2,23p' "$0" >&2
    exit 2
fi
OUT=$1
shift 2
PYTHON=${PYTHON:-python}
TP=${TP:-1}
if [ -z "${GPUS:-}" ]; then
    GPUS=$(nvidia-smi -L 2>/dev/null | wc -l || true)
    [ "${GPUS:-0}" -gt 0 ] || GPUS=1
fi
NODES=${NODES:-1}
NODE_RANK=${NODE_RANK:-0}
ENGINES=$((GPUS / TP))
if [ "$ENGINES" -lt 1 ]; then
    echo "TP=$TP needs more than the $GPUS GPU(s) here" >&2
    exit 2
fi
TOTAL=$((ENGINES * NODES))

pids=()
for e in $(seq 0 $((ENGINES - 1))); do
    shard=$((NODE_RANK * ENGINES + e))
    first=$((e * TP))
    devices=$(seq -s, "$first" $((first + TP - 1)))
    file="$OUT.shard$shard-of-$TOTAL.jsonl"
    echo "engine $e: GPUs $devices, shard $shard/$TOTAL -> $file (log: $file.log)"
    CUDA_VISIBLE_DEVICES=$devices "$PYTHON" -m w2s_lf generate "$@" --tensor-parallel-size "$TP" \
        --shard "$shard/$TOTAL" -o "$file" --no-progress > "$file.log" 2>&1 &
    pids+=($!)
done

failed=0
for pid in "${pids[@]}"; do
    wait "$pid" || failed=1
done
if [ "$failed" != 0 ]; then
    echo "a shard failed (see the .log files); rerun this script to resume" >&2
    exit 1
fi
if [ "$NODES" = 1 ]; then
    "$PYTHON" -m w2s_lf generate merge "$OUT" "$OUT".shard*-of-"$TOTAL".jsonl
else
    echo "node $NODE_RANK done; when every node is: w2s-lf generate merge $OUT $OUT.shard*-of-$TOTAL.jsonl"
fi
