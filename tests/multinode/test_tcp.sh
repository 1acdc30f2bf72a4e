#!/usr/bin/env bash
# test_tcp.sh MEGAC OVERLAP — two "nodes" over TCP: two network namespaces joined
# by a veth pair, each an Open MPI host (mpirun runs in node A; a tiny
# plm_rsh_agent starts node B's orted with `ip netns exec`; each node has its own
# UTS namespace and hostname), shared memory off (`--mca pml ob1 --mca btl
# tcp,self`, TCP only on the veth's subnet).
#   1. placement: ranks 0,1 on nodeA and 2,3 on nodeB, so at (TP, DP) = (2, 2) TP
#      stays inside a node and only DP crosses the link (Megatron's order);
#   2. a TP=2 x DP=2 GPT run gives the losses of the same run on one host;
#   3. with the link capped by `tc qdisc ... tbf`, the bucketed DP reduction
#      overlaps the backward: tests/multinode/overlap.c reads the DP communicator's
#      wait time (megac's comm counters) with small buckets and with one bucket
#      started after the backward (the serialised cost of the same bytes), and the
#      first must be well below the second (and the second at least what the bytes
#      counted on the veth take at the capped rate, so the cap is really in the path);
#   4. the link taken down mid-run: the job ends, bounded, naming the lost node,
#      and the last committed checkpoint verifies and loads (--load). mpirun's
#      out-of-band keepalive (oob_tcp_keepalive_*: 2 s idle, 3 probes 1 s apart)
#      notices the dead daemon in seconds; with Open MPI's defaults (300 s idle) the
#      job was still hanging after 10 minutes here, hence `timeout -k`.
# Addresses live only inside the two namespaces this test creates; names carry the
# test's pid, and a trap deletes the namespaces (and the veth with them) and ends
# the processes inside them, whatever happens. Skips (77) without root or
# without ip/tc/unshare or network namespaces.
set -u
MEGAC=$(realpath "$1"); OVERLAP=$(realpath "$2")
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root for network namespaces (ip netns, veth, tc)"
for c in ip tc unshare mpirun; do command -v "$c" >/dev/null || skip "$c not found"; done

id=$$
NSA=megac-tcpA-$id NSB=megac-tcpB-$id VA=mcta$id VB=mctb$id
VA=${VA:0:15} VB=${VB:0:15}
# 10.<a>.<b>.0/24, picked from the pid: it exists only inside the two namespaces
NET=10.$((100 + id % 100)).$(((id / 100) % 250)); A=$NET.1 B=$NET.2
W=$(mktemp -d)
ns_kill() { # ends the processes left inside namespace $1 (started by this test)
  local pids; pids=$(ip netns pids "$1" 2>/dev/null)
  [ -n "$pids" ] && kill -9 $pids 2>/dev/null
  return 0
}
cleanup() {
  ns_kill "$NSA"; ns_kill "$NSB"
  ip netns del "$NSA" 2>/dev/null; ip netns del "$NSB" 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
# leftovers of a crashed earlier run (its pid gone): delete them
for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^megac-tcp[AB]-'); do
  p=${ns##*-}; kill -0 "$p" 2>/dev/null || { ns_kill "$ns"; ip netns del "$ns" 2>/dev/null; }
done

ip netns add "$NSA" 2>/dev/null && ip netns add "$NSB" || skip "cannot create network namespaces"
# created inside the namespaces: no interface of this test ever exists outside them
ip -n "$NSA" link add "$VA" type veth peer name "$VB" netns "$NSB" || skip "cannot create a veth pair"
ip -n "$NSA" addr add "$A/24" dev "$VA" && ip -n "$NSB" addr add "$B/24" dev "$VB" &&
  ip -n "$NSA" link set "$VA" up && ip -n "$NSB" link set "$VB" up &&
  ip -n "$NSA" link set lo up && ip -n "$NSB" link set lo up || { echo "FAIL: setting up the veth pair"; exit 1; }

# the launcher agent: `agent HOST COMMAND...` runs COMMAND on that "node"
cat > "$W/agent.sh" <<EOF
#!/bin/sh
host=\$1; shift
case \$host in
  nodeA) ns=$NSA ;;
  nodeB) ns=$NSB ;;
  *) echo "agent: unknown host \$host" >&2; exit 1 ;;
esac
exec ip netns exec \$ns unshare --uts sh -c "hostname \$host && exec \$*"
EOF
chmod +x "$W/agent.sh"
printf 'nodeA slots=2\nnodeB slots=2\n' > "$W/hosts"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
unset OMPI_MCA_rmaps_base_oversubscribe
# TCP only, on the veth's subnet; large eager messages and socket buffers let a
# bucket move while the ranks compute; ranks yield when idle (4 ranks, 2 cores)
MCA=(--hostfile "$W/hosts" -np 4 --mca plm_rsh_agent "$W/agent.sh" --mca pml ob1 --mca btl tcp,self
     --mca btl_tcp_if_include "$NET.0/24" --mca oob_tcp_if_include "$NET.0/24"
     --mca btl_tcp_eager_limit 4194304 --mca btl_tcp_max_send_size 4194304
     --mca btl_tcp_sndbuf 4194304 --mca btl_tcp_rcvbuf 4194304 --mca mpi_yield_when_idle 1
     --mca oob_tcp_keepalive_time 2 --mca oob_tcp_keepalive_intvl 1 --mca oob_tcp_keepalive_probes 3
     -x OMP_NUM_THREADS)
Q=(-q)
two_nodes() { # two_nodes SECONDS ARGS...: mpirun (with MCA) on nodeA, bounded
  local t=$1; shift
  timeout -k 10 "$t" ip netns exec "$NSA" unshare --uts sh -c 'hostname nodeA && exec "$@"' sh mpirun "${Q[@]}" "${MCA[@]}" "$@"
}
link_tx() { ip netns exec "$NSA" cat "/sys/class/net/$VA/statistics/tx_bytes"; }
link_rx() { ip netns exec "$NSA" cat "/sys/class/net/$VA/statistics/rx_bytes"; }
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
t_start=$(date +%s)

# 1. placement
place=$(two_nodes 60 sh -c 'echo "$OMPI_COMM_WORLD_RANK $(hostname)"' 2>&1 | sort)
if [ "$(printf '%s\n' "$place" | tr '\n' ' ')" = "0 nodeA 1 nodeA 2 nodeB 3 nodeB " ]; then
  echo "ok: ranks 0,1 on nodeA ($A), 2,3 on nodeB ($B)"
else
  fail "rank placement: $place"; exit 1
fi

# 2. the same losses as on one host
for i in $(seq 1 400); do echo "Sentence $i: pack my box with five dozen liquor jugs, then $((i * 7 % 13)) more."; done > "$W/text.txt"
GPT=(train gpt --data-path "$W/text.txt" --num-layers 2 --hidden-size 32 --num-attention-heads 4 --seq-length 16
     --micro-batch-size 2 --global-batch-size 16 --lr 3e-3 --lr-warmup-iters 2 --log-interval 1 --eval-iters 0
     --hidden-dropout 0.1 --attention-dropout 0 --ddp-bucket-size 2000 --tensor-model-parallel-size 2)
losses() { grep -o '"lm_loss": [^,]*' "$1" | awk '{print $2}'; }
OMPI_MCA_rmaps_base_oversubscribe=1 timeout -k 10 120 mpirun -q -np 4 "$MEGAC" "${GPT[@]}" --train-iters 8 \
  --metrics-file "$W/one.jsonl" > "$W/one.log" 2>&1 || { fail "single-host run: $(tail -3 "$W/one.log")"; exit 1; }
tx0=$(link_tx)
t0=$(date +%s.%N)
two_nodes 120 "$MEGAC" "${GPT[@]}" --train-iters 8 --metrics-file "$W/two.jsonl" > "$W/two.log" 2>&1 ||
  { fail "two-node run: $(tail -3 "$W/two.log")"; exit 1; }
t1=$(date +%s.%N)
crossed=$(($(link_tx) - tx0))
worst=$(paste <(losses "$W/one.jsonl") <(losses "$W/two.jsonl") |
  awk '{ d = ($1 - $2) / $1; if (d < 0) d = -d; if (d > w) w = d; if ($1 != $2) diff++; n++ }
       END { if (n != 8) print "count" n; else printf "%.3g %d", w, diff }')
case "$worst" in
  count*) fail "expected 8 logged iterations on both, got ${worst#count}" ;;
  *) set -- $worst
     if awk -v w="$1" 'BEGIN { exit !(w <= 1e-6) }'; then
       echo "ok: TP=2 x DP=2 across the two nodes: 8 losses equal the one-host run's (max relative difference $1," \
            "$2 differing in the printed digits; $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s," \
            "$crossed bytes sent over the veth by nodeA)"
     else fail "losses differ from the one-host run by $1"; fi ;;
esac
# only DP crosses the link: nodeA's two ranks each send their gradients (parameters per
# rank x 4 bytes) once a step; TP's activation all-reduces would add about as much again
per_rank=$(sed -n 's/.*parameters per rank: \([0-9]*\).*/\1/p' "$W/two.log")
dp_bytes=$((2 * ${per_rank:-0} * 4 * 8))
if [ "$dp_bytes" -gt 0 ] && [ "$crossed" -ge "$dp_bytes" ] && [ "$crossed" -le $((dp_bytes * 6 / 5)) ]; then
  echo "ok: only DP crossed the link: $crossed bytes against $dp_bytes of DP gradients (2 ranks x $per_rank x 4 B x 8 steps)"
else
  fail "link traffic $crossed bytes, expected the DP gradients' $dp_bytes to 1.2x (TP crossing nodes?)"
fi

# 3. overlap under a bandwidth cap: small buckets vs one bucket after the backward
RATE_MBIT=50
for side in "$NSA $VA" "$NSB $VB"; do
  set -- $side
  ip netns exec "$1" tc qdisc replace dev "$2" root tbf rate ${RATE_MBIT}mbit burst 32kb limit 8mb ||
    { fail "tc tbf on $2"; exit 1; }
done
STEPS=5
measure() { # bucket -> "W S C": DP wait, step time, the bytes' time at the capped rate (s)
  local tx rx out
  tx=$(link_tx) rx=$(link_rx)
  out=$(two_nodes 120 "$OVERLAP" 2 "$1" $STEPS 4 128 128 8 2>&1) || { echo "error: $out"; return; }
  tx=$(($(link_tx) - tx)) rx=$(($(link_rx) - rx))
  printf '%s\n' "$out" | awk -v tx=$tx -v rx=$rx -v steps=$STEPS -v rate=$RATE_MBIT '/^overlap:/ {
    bytes = (tx > rx ? tx : rx) / steps
    printf "%s %s %.4f %d %d\n", $9, $11, bytes * 8 / (rate * 1e6), $3, bytes }'
}
ok=0
for attempt in 1 2 3; do
  read -r w0 s0 c0 n0 bytes0 <<< "$(measure 20000)"
  read -r w1 s1 c1 n1 bytes1 <<< "$(measure 0)"
  case "$w0$w1" in *error*|"") fail "overlap run failed: $w0 $s0 $c0 $w1 $s1 $c1"; break ;; esac
  echo "attempt $attempt at ${RATE_MBIT} Mbit/s, $bytes1 bytes/step over the link (${c1} s at that rate):" \
       "$n0 buckets during the backward: DP wait $w0 s (step $s0 s); one bucket after it: DP wait $w1 s (step $s1 s)"
  if awk -v w0="$w0" -v w1="$w1" -v c="$c1" 'BEGIN { exit !(w1 >= 0.9 * c && w0 <= 0.7 * w1) }'; then ok=1; break; fi
done
if [ $ok = 1 ]; then
  echo "ok: the bucketed DP reduction overlaps the backward: wait $w0 s against $w1 s serialised" \
       "($(awk -v a="$w0" -v b="$w1" 'BEGIN { printf "%.0f", 100 * (1 - a / b) }')% hidden; the bytes alone take $c1 s)"
else
  fail "no overlap shown in 3 attempts (need serialised wait >= 0.9 x bytes/rate and bucketed <= 0.7 x serialised)"
fi
for side in "$NSA $VA" "$NSB $VB"; do set -- $side; ip netns exec "$1" tc qdisc del dev "$2" root 2>/dev/null; done

# 4. the link goes down mid-run: bounded end naming the failure, last checkpoint loads
CK=$W/ck
( Q=(); two_nodes 120 "$MEGAC" "${GPT[@]}" --train-iters 100000 --save "$CK" --save-interval 5 \
    --log-interval 5 > "$W/cut.log" 2>&1; echo $? > "$W/cut.rc" ) &
sub=$!
for _ in $(seq 1 300); do
  it=$(cat "$CK/latest_checkpointed_iteration.txt" 2>/dev/null || echo 0)
  [ "${it:-0}" -ge 10 ] && break
  [ -f "$W/cut.rc" ] && break
  sleep 0.2
done
tcut=$(date +%s.%N)
ip -n "$NSB" link set "$VB" down
wait $sub
tend=$(date +%s.%N)
rc=$(cat "$W/cut.rc" 2>/dev/null || echo none)
took=$(awk -v a="$tcut" -v b="$tend" 'BEGIN { printf "%.1f", b - a }')
if [ "$rc" = 0 ] || [ "$rc" = 124 ] || [ "$rc" = 137 ] || [ "$rc" = none ]; then
  fail "link down: the job did not end by itself (exit $rc after $took s): $(tail -5 "$W/cut.log")"
else
  lost=$(grep -m1 "lost communication" "$W/cut.log")
  node=$(grep -m1 "Remote daemon.* on node nodeB" "$W/cut.log" | sed 's/^ *//')
  # megac's own communicator timeout (--distributed-timeout-minutes, where built in) is the
  # other acceptable way to end, naming the collective that timed out
  own=$(grep -m1 -iE "megac.*(timed out|timeout)" "$W/cut.log")
  if { [ -n "$lost" ] && [ -n "$node" ] || [ -n "$own" ]; } && awk -v t="$took" 'BEGIN { exit !(t < 90) }'; then
    echo "ok: link down -> the job ended in $took s (exit $rc): ${own:-$lost ($node)}"
  else
    fail "link down: exit $rc after $took s, expected under 90 s naming nodeB: $(tail -12 "$W/cut.log")"
  fi
fi
ns_kill "$NSB"
last=$(cat "$CK/latest_checkpointed_iteration.txt" 2>/dev/null)
if [ -z "$last" ] || [ "$last" -lt 5 ]; then
  fail "no committed checkpoint before the cut (latest: '${last}')"
else
  v=$("$MEGAC" ckpt verify "$CK" 2>&1) || fail "ckpt verify: $v"
  OMPI_MCA_rmaps_base_oversubscribe=1 timeout -k 10 120 mpirun -q -np 4 "$MEGAC" "${GPT[@]}" --load "$CK" \
    --train-iters $((last + 2)) --metrics-file "$W/resume.jsonl" > "$W/resume.log" 2>&1 ||
    fail "--load of iteration $last: $(tail -3 "$W/resume.log")"
  first=$(head -1 "$W/resume.jsonl" 2>/dev/null | sed 's/.*"iteration": \([0-9]*\).*/\1/')
  if [ "$first" = $((last + 1)) ]; then
    echo "ok: the last committed checkpoint (iteration $last) verifies ($(printf '%s' "$v" | tail -1)) and" \
         "resumes at iteration $first on one host"
  else fail "resume from iteration $last started at '$first'"; fi
fi

echo "test_tcp: $(($(date +%s) - t_start)) s"
[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all checks passed"
