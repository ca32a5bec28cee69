#!/usr/bin/env bash
# Bitwise reproducibility of ist-train across processes (issue 13): one command and one seed must end with
# the same parameters and optimizer state whatever else happens in the process: with or without --metrics,
# --sequential or concurrent workers, killed with SIGKILL in round 4 and resumed, stopped cleanly after round
# 3 and resumed in a new process; and --threads 1 and --threads 2 each reproduce themselves. With the top-k
# and bf16 transfer codecs too (top-k: its error-feedback residuals survive a stop and resume).
#
# Usage: determinism.sh IST_TRAIN CHECKPOINT_DIGEST [DATA_DIR]
# Exit codes: 0 all variants identical, 1 a variant differs or a run failed, 77 skipped (no data set).
# Runtime: about 14 runs of 6 short rounds (2-3 minutes on two cores).
set -u

train=${1:?usage: determinism.sh IST_TRAIN CHECKPOINT_DIGEST [DATA_DIR]}
digest=${2:?usage: determinism.sh IST_TRAIN CHECKPOINT_DIGEST [DATA_DIR]}
data=${3:-/usr/share/datasets/fashion-mnist}

for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  if [[ ! -e "$data/$f" && ! -e "$data/$f.gz" ]]; then
    echo "SKIPPED: Fashion-MNIST not found: expected $data/$f(.gz) (Debian package dataset-fashion-mnist)"
    exit 77
  fi
done
for exe in "$train" "$digest"; do
  if [[ ! -x "$exe" ]]; then
    echo "determinism.sh: expected an executable at $exe, found none"
    exit 1
  fi
done

export OMP_WAIT_POLICY=passive
work=$(mktemp -d "${TMPDIR:-/tmp}/ist-determinism.XXXXXX")
trap 'rm -rf "$work"' EXIT

common=(--protocol resist -S 4 -L 5 --train-subset 2048 --test-subset 1000 --batch 32 --seed 7 --eval-every 0
        --data "$data" --quiet)
failed=0

# run NAME ARGS...: one ist-train process with the common flags, its output in $work/NAME.log.
run() {
  local name=$1
  shift
  if ! "$train" "${common[@]}" "$@" >"$work/$name.log" 2>&1; then
    echo "FAIL: $name: ist-train exited with an error; its output:"
    tail -n 20 "$work/$name.log"
    failed=1
    return 1
  fi
}

# final NAME: the digest of round 6 in $work/NAME (empty, with a message, when missing or malformed).
final() {
  local ckpt="$work/$1/round-000006.ckpt"
  if [[ ! -f "$ckpt" ]]; then
    echo "missing: expected $ckpt" >&2
    return
  fi
  "$digest" "$ckpt"
}

# accuracy NAME: the final test accuracy ist-train printed (for the report only).
accuracy() { sed -n 's/.*final test accuracy \([0-9.]*\).*/\1/p' "$work/$1.log" | tail -n 1; }

# Uninterrupted runs, one process each.
run plain --max-rounds 6 --checkpoint-dir "$work/plain"
run metrics --max-rounds 6 --checkpoint-dir "$work/metrics" --metrics "$work/metrics.jsonl"
run sequential --max-rounds 6 --checkpoint-dir "$work/sequential" --sequential
run threads1 --max-rounds 6 --checkpoint-dir "$work/threads1" --threads 1
run threads2a --max-rounds 6 --checkpoint-dir "$work/threads2a" --threads 2
run threads2b --max-rounds 6 --checkpoint-dir "$work/threads2b" --threads 2

# A clean stop after round 3, resumed to round 6 by a new process.
run stop3 --max-rounds 3 --checkpoint-dir "$work/stopped"
run stopped --max-rounds 6 --checkpoint-dir "$work/stopped" --resume

# Killed with SIGKILL while round 4 runs (right after round 3's checkpoint appears), then resumed.
"$train" "${common[@]}" --max-rounds 6 --checkpoint-dir "$work/killed" >"$work/killed-first.log" 2>&1 &
pid=$!
for ((i = 0; i < 6000; ++i)); do
  [[ -e "$work/killed/round-000003.ckpt" ]] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.02
done
if kill -9 "$pid" 2>/dev/null; then
  wait "$pid" 2>/dev/null
  if [[ ! -e "$work/killed/round-000003.ckpt" ]]; then
    echo "FAIL: killed: expected round-000003.ckpt before the kill, found: $(ls "$work/killed" 2>/dev/null | tr '\n' ' ')"
    failed=1
  elif [[ -e "$work/killed/round-000004.ckpt" ]]; then
    echo "note: killed: round 4 had already finished when SIGKILL arrived (resuming from round 4)"
  fi
else
  wait "$pid"
  echo "FAIL: killed: expected ist-train to be running in round 4, found it had exited (rc $?):"
  tail -n 20 "$work/killed-first.log"
  failed=1
fi
run killed --max-rounds 6 --checkpoint-dir "$work/killed" --resume

# Transfer codecs (docs/codecs.md): top-k with error feedback keeps per-worker residuals, which travel through
# the checkpoint (as state buffers, so the digest covers them); bf16 rounds what travels. Each reproduces
# itself with --sequential workers, and a top-k run stopped after round 3 and resumed by a new process ends
# where the uninterrupted one does.
run topk --max-rounds 6 --checkpoint-dir "$work/topk" --codec topk:0.1
run topk-sequential --max-rounds 6 --checkpoint-dir "$work/topk-sequential" --codec topk:0.1 --sequential
run topk-stop3 --max-rounds 3 --checkpoint-dir "$work/topk-stopped" --codec topk:0.1
run topk-stopped --max-rounds 6 --checkpoint-dir "$work/topk-stopped" --codec topk:0.1 --resume
run bf16 --max-rounds 6 --checkpoint-dir "$work/bf16" --codec bf16
run bf16-sequential --max-rounds 6 --checkpoint-dir "$work/bf16-sequential" --codec bf16 --sequential

# Compare the final parameter and optimizer payloads.
reference=$(final plain)
if [[ -z "$reference" ]]; then
  echo "FAIL: plain: expected a round-6 checkpoint, found none"
  exit 1
fi
echo "plain      (acc $(accuracy plain)): $reference"
for name in metrics sequential threads1 stopped killed; do
  got=$(final "$name")
  if [[ "$got" == "$reference" ]]; then
    echo "same       $name (acc $(accuracy "$name"))"
  else
    echo "FAIL: $name (acc $(accuracy "$name")): expected the payload of plain: $reference"
    echo "      found: $got"
    failed=1
  fi
done
t2a=$(final threads2a)
t2b=$(final threads2b)
if [[ -n "$t2a" && "$t2a" == "$t2b" ]]; then
  echo "same       threads2b as threads2a (acc $(accuracy threads2a)): $t2a"
else
  echo "FAIL: threads2b (acc $(accuracy threads2b)): expected the payload of threads2a (acc $(accuracy threads2a)): $t2a"
  echo "      found: $t2b"
  failed=1
fi

# same_as REFERENCE NAME...: each NAME's final payload equals REFERENCE's, which differs from plain's (the
# codec is in effect).
same_as() {
  local ref=$1 want got
  shift
  want=$(final "$ref")
  if [[ -z "$want" || "$want" == "$reference" ]]; then
    echo "FAIL: $ref (acc $(accuracy "$ref")): expected a round-6 payload other than plain's, found: ${want:-none}"
    failed=1
    return
  fi
  echo "$ref (acc $(accuracy "$ref")): $want"
  for name in "$@"; do
    got=$(final "$name")
    if [[ "$got" == "$want" ]]; then
      echo "same       $name as $ref (acc $(accuracy "$name"))"
    else
      echo "FAIL: $name (acc $(accuracy "$name")): expected the payload of $ref: $want"
      echo "      found: $got"
      failed=1
    fi
  done
}
same_as topk topk-sequential topk-stopped
same_as bf16 bf16-sequential

if ((failed)); then
  echo "determinism: FAILED"
  exit 1
fi
echo "determinism: all variants bitwise identical"
