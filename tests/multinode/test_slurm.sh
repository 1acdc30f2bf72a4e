#!/usr/bin/env bash
# test_slurm.sh MEGAC — a one-node Slurm cluster from Debian's packages
# (munge, slurmctld, slurmd; tools/setup.sh installs them) runs the repository's
# Slurm recipe, tools/slurm/train_gpt.sbatch, submitted with `sbatch`:
#   - the generated slurm.conf declares one node with 4 CPUs (SlurmdParameters=
#     config_overrides: the machine may have fewer cores), cgroup-free plugins
#     (proctrack/linuxproc, task/none), munge on the test's own socket and key;
#   - the daemons and every client run inside a network namespace of their own
#     (nsenter --net, so /sys stays the host's), their address on a veth pair inside
#     it: nothing listens outside, and a leftover cannot collide with the next run;
#   - the job: the recipe's `megac plan` pre-flight, then `srun --mpi=pmix` (Debian's
#     Open MPI reads PMIx only) starting a TP=2 x DP=2 GPT on the CPU; its metrics
#     file must hold the losses of the same run under mpirun, and a resubmission
#     resumes from the checkpoint the first job saved (the recipe's --load); then
#     the recipe's LAUNCHER=mpirun branch gives the same losses. (task/none: srun
#     warns that the configuration "lacks support for cpu binding" for the recipe's
#     --cpu-bind=cores, and runs unbound.)
# The cluster is stopped (every process in the namespace ended, the namespace
# deleted) by a trap whatever happens. Skips (77) without root, without the
# packages, or where the daemons cannot start.
set -u
MEGAC=$(realpath "$1")
# the recipe users submit, as the repository ships it (a script, run as it is)
SBATCH_SCRIPT=$(realpath "$(dirname "$0")/../../tools/slurm/train_gpt.sbatch")
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root to run the Slurm and munge daemons"
for c in munged slurmctld slurmd sbatch srun sinfo nsenter ip mpirun; do
  command -v "$c" >/dev/null || skip "$c not found (bash tools/setup.sh installs slurmctld, slurmd, slurm-client, munge)"
done

id=$$
NS=megac-slurm-$id VA=mcsa$id VB=mcsb$id
VA=${VA:0:15} VB=${VB:0:15}
ADDR=10.$((100 + id % 100)).$(((id / 100) % 250)).1
W=$(mktemp -d)
ns_kill() { # ends the processes inside namespace $1 (all started by this test)
  local pids; pids=$(ip netns pids "$1" 2>/dev/null)
  [ -n "$pids" ] && kill -9 $pids 2>/dev/null
  return 0
}
cleanup() {
  if [ -f "$W/slurm.conf" ]; then SLURM_CONF=$W/slurm.conf timeout 5 nsenter --net="/run/netns/$NS" scancel --full -u root 2>/dev/null; fi
  for p in slurmd slurmctld munged; do [ -f "$W/$p.pid" ] && kill "$(cat "$W/$p.pid")" 2>/dev/null; done
  sleep 0.5
  ns_kill "$NS"
  ip netns del "$NS" 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^megac-slurm-'); do
  p=${ns##*-}; kill -0 "$p" 2>/dev/null || { ns_kill "$ns"; ip netns del "$ns" 2>/dev/null; }
done

ip netns add "$NS" 2>/dev/null || skip "cannot create a network namespace"
# a veth pair with both ends inside: getaddrinfo (AI_ADDRCONFIG) wants a non-loopback address
ip -n "$NS" link set lo up && ip -n "$NS" link add "$VA" type veth peer name "$VB" &&
  ip -n "$NS" addr add "$ADDR/24" dev "$VA" && ip -n "$NS" link set "$VA" up && ip -n "$NS" link set "$VB" up ||
  skip "cannot set up the namespace's network"
IN=(nsenter --net="/run/netns/$NS")

HOST=$(hostname -s)
mkdir -p "$W/state" "$W/spool"
head -c 1024 /dev/urandom > "$W/munge.key" && chmod 400 "$W/munge.key"
: > "$W/plugstack.conf"
cat > "$W/slurm.conf" <<EOF
ClusterName=megac$id
SlurmctldHost=$HOST($ADDR)
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
AuthInfo=socket=$W/munge.sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$W/state
SlurmdSpoolDir=$W/spool
SlurmctldPidFile=$W/slurmctld.pid
SlurmdPidFile=$W/slurmd.pid
SlurmctldLogFile=$W/slurmctld.log
SlurmdLogFile=$W/slurmd.log
PlugStackConfig=$W/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=megacnode NodeHostname=$HOST NodeAddr=$ADDR CPUs=4 Sockets=1 CoresPerSocket=4 ThreadsPerCore=1 RealMemory=1000 State=UNKNOWN
PartitionName=megac Nodes=megacnode Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$W/slurm.conf
t_start=$(date +%s)
logs() { for f in munged slurmctld slurmd; do [ -f "$W/$f.log" ] && { echo "--- $f.log"; tail -n 5 "$W/$f.log"; }; done; }
"${IN[@]}" munged --socket="$W/munge.sock" --key-file="$W/munge.key" --pid-file="$W/munged.pid" \
  --log-file="$W/munged.log" --seed-file="$W/munge.seed" --force 2>"$W/munged.err" ||
  { cat "$W/munged.err"; logs; skip "munged cannot start"; }
"${IN[@]}" slurmctld -f "$SLURM_CONF" 2>"$W/slurmctld.err" || { cat "$W/slurmctld.err"; logs; skip "slurmctld cannot start"; }
"${IN[@]}" slurmd -f "$SLURM_CONF" -N megacnode 2>"$W/slurmd.err" || { cat "$W/slurmd.err"; logs; skip "slurmd cannot start"; }
state=""
for _ in $(seq 1 60); do
  state=$("${IN[@]}" sinfo -h -N -o '%T' 2>/dev/null)
  [ "$state" = idle ] && break
  sleep 0.5
done
[ "$state" = idle ] || { logs; skip "the Slurm node did not come up (state '$state')"; }
mpis=$("${IN[@]}" srun --mpi=list 2>&1 | tr '\n' ' ')
echo "ok: Slurm $(slurmd -V | awk '{print $2}') up in $(($(date +%s) - t_start)) s: node megacnode (4 CPUs) idle; srun --mpi=list: $mpis"
case "$mpis" in *pmix*) ;; *) echo "FAIL: Slurm has no PMIx plugin (Debian's Open MPI needs --mpi=pmix)"; exit 1 ;; esac

fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
losses() { grep -o '"lm_loss": [^,]*' "$1" | awk '{print $2}'; }
for i in $(seq 1 400); do echo "Sentence $i: pack my box with five dozen liquor jugs, then $((i * 7 % 13)) more."; done > "$W/text.txt"

# the recipe's settings for a tiny CPU run (everything else is the recipe's)
export MEGAC DEVICE=cpu TP=2 MICRO=2 GLOBAL=16 ITERS=8 SAVE_INTERVAL=4 CKPT=$W/ck GPU=V100-32GB
export MODEL="--num-layers 2 --hidden-size 32 --num-attention-heads 4 --seq-length 16"
export DATA_ARGS="--data-path $W/text.txt"
export TRAIN_ARGS="--lr 3e-3 --lr-warmup-iters 2 --log-interval 1 --eval-iters 0 --hidden-dropout 0.1 --attention-dropout 0 --ddp-bucket-size 2000"
# 4 ranks on fewer cores: ranks yield when idle (mpirun does this by itself when it oversubscribes)
export OMPI_MCA_mpi_yield_when_idle=1
read -ra MODEL_A <<< "$MODEL"; read -ra DATA_A <<< "$DATA_ARGS"; read -ra TRAIN_A <<< "$TRAIN_ARGS"

# the reference: the same flags under mpirun on this host
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 OMP_NUM_THREADS=1 \
  timeout -k 10 120 mpirun -q -np 4 "$MEGAC" train gpt --device cpu "${MODEL_A[@]}" --tensor-model-parallel-size $TP \
  --micro-batch-size $MICRO --global-batch-size $GLOBAL "${DATA_A[@]}" --train-iters $ITERS "${TRAIN_A[@]}" \
  --metrics-file "$W/mpirun.jsonl" > "$W/mpirun.log" 2>&1 || { fail "mpirun reference: $(tail -3 "$W/mpirun.log")"; exit 1; }

submit() { # tag -> runs the recipe with sbatch --wait; prints the job id
  local out
  out=$(cd "$W" && METRICS=$W/$1.jsonl timeout -k 10 180 "${IN[@]}" sbatch --wait --parsable --nodes=1 --ntasks-per-node=4 \
        --cpus-per-task=1 --gpus-per-node=0 --time=10 --job-name="megac-$1" --output="$W/$1-%j.out" \
        "$SBATCH_SCRIPT" 2>&1)
  local rc=$?
  echo "$out" > "$W/$1.sbatch"
  return $rc
}
t0=$(date +%s)
submit first; rc=$?
job=$(head -1 "$W/first.sbatch" | tr -dc '0-9')
if [ $rc -ne 0 ]; then
  fail "sbatch --wait: exit $rc: $(cat "$W/first.sbatch") $(tail -5 "$W"/first-*.out 2>/dev/null)"; logs; exit 1
fi
out=$(ls "$W"/first-*.out)
grep -q "parallel: world 4 = tensor-parallel 2 x data-parallel 2" "$out" || fail "job $job: not TP=2 x DP=2: $(head -5 "$out")"
grep -q "fits" "$W/plan-$job.txt" 2>/dev/null || fail "job $job: no plan pre-flight (plan-$job.txt)"
worst=$(paste <(losses "$W/mpirun.jsonl") <(losses "$W/first.jsonl") |
  awk '{ d = ($1 - $2) / $1; if (d < 0) d = -d; if (d > w) w = d; n++ } END { if (n != 8) print "count" n; else printf "%.3g", w }')
case "$worst" in
  count*) fail "job $job: expected 8 logged iterations, got ${worst#count}: $(tail -5 "$out")" ;;
  *) if awk -v w="$worst" 'BEGIN { exit !(w <= 1e-6) }'; then
       echo "ok: sbatch tools/slurm/train_gpt.sbatch (job $job, srun --mpi=pmix, $(($(date +%s) - t0)) s):" \
            "TP=2 x DP=2, 8 losses equal mpirun's (max relative difference $worst); plan: $(grep -m1 fits "$W/plan-$job.txt")"
     else fail "job $job: losses differ from mpirun's by $worst"; fi ;;
esac

# resubmitting continues from the checkpoint the first job left (iteration 8)
t0=$(date +%s)
ITERS=10 submit second || fail "resubmission: $(cat "$W/second.sbatch") $(tail -5 "$W"/second-*.out 2>/dev/null)"
first=$(head -1 "$W/second.jsonl" 2>/dev/null | sed 's/.*"iteration": \([0-9]*\).*/\1/')
loaded=$(grep -m1 -o "loaded checkpoint [^:]*: iteration [0-9]*" "$W"/second-*.out 2>/dev/null)
if [ "$first" = 9 ] && [ -n "$loaded" ]; then
  echo "ok: resubmitted: the recipe passed --load ($loaded) and the job resumed at iteration 9 ($(($(date +%s) - t0)) s)"
else
  fail "resubmission did not resume at iteration 9 (first logged: '$first'): $(head -8 "$W"/second-*.out 2>/dev/null)"
fi

# the recipe's other launcher: mpirun inside the allocation (Open MPI reads it from
# Slurm and starts its daemons with srun); 4 ranks on 2 cores cannot be bound one per core
t0=$(date +%s)
rm -rf "$W/ck"
LAUNCHER=mpirun MAP_BY=ppr:4:node BIND_TO=none OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
  submit third || fail "LAUNCHER=mpirun: $(cat "$W/third.sbatch") $(tail -5 "$W"/third-*.out 2>/dev/null)"
worst=$(paste <(losses "$W/mpirun.jsonl") <(losses "$W/third.jsonl") |
  awk '{ d = ($1 - $2) / $1; if (d < 0) d = -d; if (d > w) w = d; n++ } END { if (n != 8) print "count" n; else printf "%.3g", w }')
if [[ $worst != count* ]] && awk -v w="$worst" 'BEGIN { exit !(w <= 1e-6) }'; then
  echo "ok: LAUNCHER=mpirun sbatch tools/slurm/train_gpt.sbatch: 8 losses equal (max relative difference $worst;" \
       "$(($(date +%s) - t0)) s)"
else
  fail "LAUNCHER=mpirun: losses '$worst': $(tail -5 "$W"/third-*.out 2>/dev/null)"
fi

echo "test_slurm: $(($(date +%s) - t_start)) s"
[ $fails -eq 0 ] || { echo "$fails failure(s)"; logs; exit 1; }
echo "all checks passed"
