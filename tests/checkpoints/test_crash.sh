#!/usr/bin/env bash
# test_crash.sh MEGAC WCOMPARE CKPT_EDIT — crash safety. A run that checkpoints
# every iteration is killed with SIGKILL at random instants once it is saving (8
# kills, seeded so a failure can be replayed: CKPT_CRASH_SEED); after each kill `megac ckpt verify` passes on the
# latest checkpoint and the next start resumes from it. Finally the run completes,
# and its last checkpoint is bitwise identical (weights, moments, step) to one
# from a run that was never interrupted; no temporary directory is left behind.
. "$(dirname "$0")/common.sh"
ITERS=120
SEED=${CKPT_CRASH_SEED:-4242}
RANDOM=$SEED
"$MEGAC" train gpt "${MODEL[@]}" --train-iters $ITERS --eval-iters 0 --save "$W/ref" > "$W/ref.log" 2>&1 ||
  fail "reference run failed: $(tail -2 "$W/ref.log")"
C=("$MEGAC" train gpt "${MODEL[@]}" --train-iters $ITERS --eval-iters 0 --save "$W/c" --load "$W/c" --save-interval 1 --keep-last 3)
kills=0 prev=-1 advanced=0
for attempt in $(seq 1 8); do
  "${C[@]}" > "$W/run$attempt.log" 2>&1 &
  pid=$!
  # once this run is saving (start-up time varies by machine and build), a random instant
  for _ in $(seq 1 300); do grep -q "saving checkpoint" "$W/run$attempt.log" 2>/dev/null && break; sleep 0.1; done
  sleep "0.$((RANDOM % 4))$((RANDOM % 10))"
  if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
  wait "$pid" 2>/dev/null
  if [ -f "$W/c/latest_checkpointed_iteration.txt" ]; then
    it=$(cat "$W/c/latest_checkpointed_iteration.txt")
    if out=$("$MEGAC" ckpt verify "$W/c" 2>&1); then
      echo "ok: kill $attempt: latest is iteration $it and verifies ($(ls "$W/c" | tr '\n' ' '))"
    else
      fail "kill $attempt: latest iteration $it does not verify: $out"
    fi
    [ "$it" -gt "$prev" ] && advanced=$((advanced + 1))
    prev=$it
  else
    echo "ok: kill $attempt: before the first commit (no pointer yet)"
  fi
done
[ $kills -ge 6 ] || fail "only $kills of 8 runs were still alive to be killed"
[ $advanced -ge 3 ] || fail "training advanced between only $advanced kills"
if "${C[@]}" > "$W/final.log" 2>&1; then
  grep -q "loaded checkpoint" "$W/final.log" || [ $prev -lt 0 ] || fail "the final run did not resume"
  out=$("$WCOMPARE" "$W/ref" "$W/c" 0 --optimizer 2>&1) && echo "ok: after $kills kills the final checkpoint equals the uninterrupted run's: $out" ||
    fail "after the kills the final checkpoint differs from the uninterrupted run's: $out"
  left=$(ls "$W/c" | tr '\n' ' ')
  case "$left" in *.tmp*|*.old*) fail "temporaries left behind: $left" ;; *) echo "ok: checkpoint directory holds $left" ;; esac
else
  fail "the final run failed: $(tail -2 "$W/final.log")"
fi
finish "test_crash (seed $SEED)"
