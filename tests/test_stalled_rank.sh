#!/usr/bin/env bash
# test_stalled_rank.sh MEGAC — a rank stopped with SIGSTOP (a hung process or node) no
# longer hangs the job forever (issue 17, item 12): with --distributed-timeout-minutes
# 0.05 (3 s) the other rank gives up inside its collective, prints one line naming its
# rank, the group and the call, and MPI_Abort ends the job, the stopped rank included.
# The job is given 60 s; a hang fails the test. The stopped rank is continued and
# killed at exit whatever happens.
set -u
MEGAC=$(realpath "$1")
W=$(mktemp -d)
cleanup() {
  for f in "$W"/pid.*; do
    [ -f "$f" ] || continue
    p=$(cat "$f")
    kill -CONT "$p" 2>/dev/null
    kill -KILL "$p" 2>/dev/null
  done
  [ -n "${job:-}" ] && kill -KILL "$job" 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

for i in $(seq 1 40); do echo "Line $i: the quick brown fox jumps over the lazy dog; a stitch in time saves nine."; done > "$W/text.txt"
# each rank records its pid (the shell execs megac, which keeps it)
cat > "$W/rank.sh" <<'SH'
#!/usr/bin/env bash
echo $$ > "$W/pid.${OMPI_COMM_WORLD_RANK:-${PMIX_RANK:-0}}"
exec "$@"
SH
chmod +x "$W/rank.sh"
export W
start=$(date +%s)
mpirun -np 2 "$W/rank.sh" "$MEGAC" train gpt --num-layers 1 --hidden-size 16 --num-attention-heads 2 --seq-length 16 \
  --micro-batch-size 2 --train-iters 100000000 --lr 1e-3 --log-interval 1 --eval-iters 0 --tokenizer-type Byte \
  --data-path "$W/text.txt" --distributed-timeout-minutes 0.05 > "$W/out" 2> "$W/err" &
job=$!
# wait until training runs (a few logged iterations), then stop rank 1
for i in $(seq 1 300); do
  [ "$(grep -c '^iter\|iteration' "$W/out" 2>/dev/null)" -ge 3 ] && [ -f "$W/pid.1" ] && break
  kill -0 $job 2>/dev/null || break
  sleep 0.2
done
if [ ! -f "$W/pid.1" ] || ! kill -0 $job 2>/dev/null; then
  fail "the job did not start training: $(tail -3 "$W/err")"
else
  kill -STOP "$(cat "$W/pid.1")"
  stopped=$(date +%s)
  for i in $(seq 1 600); do kill -0 $job 2>/dev/null || break; sleep 0.1; done
  if kill -0 $job 2>/dev/null; then
    fail "the job still runs 60 s after rank 1 was stopped (a stalled rank hangs the job)"
  else
    wait $job
    rc=$?
    took=$(( $(date +%s) - stopped ))
    line=$(grep -m1 "distributed-timeout-minutes" "$W/err")
    if [ $rc -eq 0 ]; then fail "the job exited 0 after a rank was stopped"
    elif ! printf '%s' "$line" | grep -q "rank 0 ([a-z]* group rank 0 of 2) waited [0-9]* s in MPI_"; then
      fail "no line naming the rank, group and collective (exit $rc): $(tail -5 "$W/err")"
    else
      echo "ok: exit $rc ${took} s after rank 1 was stopped: $line"
    fi
  fi
fi
# a bad value is refused in one line
out=$("$MEGAC" train gpt --num-layers 1 --hidden-size 16 --num-attention-heads 2 --seq-length 16 --train-iters 1 \
      --lr 1e-3 --tokenizer-type Byte --data-path "$W/text.txt" --distributed-timeout-minutes 0 2>&1 >/dev/null)
printf '%s' "$out" | grep -q -- "--distributed-timeout-minutes must be positive" && echo "ok: $out" ||
  fail "--distributed-timeout-minutes 0: $out"
echo "total $(( $(date +%s) - start )) s"
if [ $fails -ne 0 ]; then echo "$fails check(s) failed" >&2; exit 1; fi
echo "test_stalled_rank: all checks passed"
