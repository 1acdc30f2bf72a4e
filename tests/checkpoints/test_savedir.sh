#!/usr/bin/env bash
# test_savedir.sh MEGAC WCOMPARE CKPT_EDIT KILL_ON_REMOVE — the save directory
# (issue 17 items 1, 2, 5, 6):
#  1. one job per --save directory: a second job (started later, or at the same
#     instant) is refused in one line naming the holder's pid and host, and the
#     first job's checkpoints are intact;
#  2. a run that rolls back (--load DIR/iter_10 --save DIR --keep-last 2 when
#     latest was 20) keeps the checkpoint it continues from until a newer one of
#     its own is committed, and never prunes the newer iterations it abandoned;
#  5. a kill while pruning deletes an iteration leaves no half-deleted iter_N
#     (LD_PRELOAD shim: SIGKILL after the first removal); the leftover trash is
#     ignored by verify and cleaned by the next save;
#  6. a leftover iter_N.tmp/ holding a user's file is not deleted: the save is
#     refused in one line naming the file.
. "$(dirname "$0")/common.sh"
SHIM=$(realpath "$4")
T=("$MEGAC" train gpt "${MODEL[@]}" --eval-iters 0)
host=$(hostname)

# 1. a second job while the first is saving
"${T[@]}" --train-iters 400 --save "$W/one" --save-interval 20 > "$W/a.log" 2>&1 &
a=$!
for _ in $(seq 1 300); do [ -f "$W/one/latest_checkpointed_iteration.txt" ] && break; sleep 0.1; done
expect_error "a second job into the same --save" "another megac job (pid $a on host $host) is saving checkpoints here" -- \
  "${T[@]}" --train-iters 40 --save "$W/one" --save-interval 20
"$MEGAC" ckpt export-hf "$W/one" "$W/hfx" > /dev/null || fail "export-hf while the job runs failed"
expect_error "import-hf --force into a save directory a job holds" "another megac job (pid $a" -- \
  "$MEGAC" ckpt import-hf "$W/hfx" "$W/one" --force
wait $a || fail "the first job failed: $(tail -2 "$W/a.log")"
[ "$(cat "$W/one/latest_checkpointed_iteration.txt")" = 400 ] && "$MEGAC" ckpt verify "$W/one" > /dev/null &&
  echo "ok: the first job finished with its own iteration 400 verified" || fail "the first job's checkpoints are not its own"
# two jobs started at the same instant: exactly one saves
"${T[@]}" --train-iters 30 --save "$W/two" --save-interval 10 > "$W/b1.log" 2>&1 & b1=$!
"${T[@]}" --train-iters 30 --save "$W/two" --save-interval 10 > "$W/b2.log" 2>&1 & b2=$!
wait $b1; r1=$?; wait $b2; r2=$?
if [ $((r1 == 0)) -ne $((r2 == 0)) ] && grep -q "another megac job (pid" "$W/b1.log" "$W/b2.log"; then
  echo "ok: two jobs started together: one saved, the other was refused ($(grep -h 'error' "$W/b1.log" "$W/b2.log" | head -1))"
else
  fail "two jobs started together: exits $r1 and $r2 ($(tail -1 "$W/b1.log"); $(tail -1 "$W/b2.log"))"
fi

# 2. rollback keeps the lineage
"${T[@]}" --train-iters 20 --save "$W/r" --save-interval 2 > "$W/r1.log" 2>&1 || fail "run to 20 failed"
"${T[@]}" --train-iters 12 --load "$W/r/iter_0000010" --save "$W/r" --save-interval 2 --keep-last 2 > "$W/r2.log" 2>&1 &&
  [ -d "$W/r/iter_0000010" ] && [ -d "$W/r/iter_0000012" ] && [ ! -d "$W/r/iter_0000008" ] &&
  [ -d "$W/r/iter_0000016" ] && [ -d "$W/r/iter_0000018" ] && [ -d "$W/r/iter_0000020" ] &&
  [ "$(cat "$W/r/latest_checkpointed_iteration.txt")" = 12 ] &&
  echo "ok: rollback to 10 with --keep-last 2: kept 10 and 12 (and 16..20 it abandoned), pruned 2..8 ($(ls "$W/r" | tr '\n' ' '))" ||
  fail "rollback to 10 with --keep-last 2 left: $(ls "$W/r" | tr '\n' ' ') (latest $(cat "$W/r/latest_checkpointed_iteration.txt"))"

# 5. killed while pruning
"${T[@]}" --train-iters 4 --save "$W/k" --save-interval 2 > /dev/null 2>&1 || fail "run to 4 failed"
MEGAC_KILL_AFTER_REMOVES=1 LD_PRELOAD=$SHIM "${T[@]}" --train-iters 6 --load "$W/k" --save "$W/k" --save-interval 2 \
  --keep-last 1 > "$W/k.log" 2>&1
rc=$?
[ $rc -eq 137 ] || fail "the run was not killed while pruning (exit $rc)"
bad=0
for d in "$W"/k/iter_*; do "$MEGAC" ckpt verify "$d" > /dev/null 2>&1 || { bad=1; fail "killed while pruning: $(basename "$d") does not verify (half deleted)"; }; done
[ $bad -eq 0 ] && "$MEGAC" ckpt verify "$W/k" > /dev/null && echo "ok: killed while pruning: every iter_* left verifies ($(ls -A "$W/k" | tr '\n' ' '))"
"${T[@]}" --train-iters 8 --load "$W/k" --save "$W/k" --save-interval 2 --keep-last 1 > /dev/null 2>&1 || fail "the next run failed"
[ -z "$(ls -A "$W/k" | grep trash)" ] && echo "ok: the next save cleaned the trash ($(ls -A "$W/k" | tr '\n' ' '))" ||
  fail "trash left after the next save: $(ls -A "$W/k" | tr '\n' ' ')"

# 6. a user's file in a leftover temporary
mkdir -p "$W/u/iter_0000002.tmp"; echo "my notes" > "$W/u/iter_0000002.tmp/notes.txt"
expect_error "a user's file in iter_0000002.tmp" "iter_0000002.tmp: holds 'notes.txt', which megac did not write" -- \
  "${T[@]}" --train-iters 2 --save "$W/u" --save-interval 2
[ -f "$W/u/iter_0000002.tmp/notes.txt" ] && echo "ok: the user's file is still there" || fail "the user's file was deleted"
finish test_savedir
