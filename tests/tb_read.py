"""tb_read.py RUN_DIR METRICS_JSONL PARAMS — reads megac's TensorBoard events with
TensorBoard's own EventAccumulator and checks them against the metrics file of the
same run (2 ranks, TP 1; PARAMS: the model's parameter count as logged)."""
import json
import math
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

run, metrics_path, params = sys.argv[1], sys.argv[2], int(sys.argv[3])
ea = EventAccumulator(run, size_guidance={"scalars": 0})
ea.Reload()
tags = set(ea.Tags()["scalars"])
fails = []


def scalars(tag):
    return {e.step: e.value for e in ea.Scalars(tag)} if tag in tags else {}


def close(a, b, rel=1e-6):
    return abs(a - b) <= rel * max(abs(b), 1e-30)


train = [m for m in map(json.loads, open(metrics_path)) if "lm_loss" in m]
val = [m for m in map(json.loads, open(metrics_path)) if "val_loss" in m]
# the same values on every rank (the last rank writes the events, rank 0 the metrics file)
want = {"lm loss": "lm_loss", "learning-rate": "lr", "grad-norm": "grad_norm", "loss-scale": "loss_scale",
        "skipped-iterations": "skipped_iterations"}
for tag, key in want.items():
    got = scalars(tag)
    exp = {m["iteration"]: m[key] for m in train if m.get(key) is not None}
    if not exp:
        fails.append(f"{tag}: the metrics file has no {key}")
    if set(got) != set(exp):
        fails.append(f"{tag}: steps {sorted(got)} != metrics iterations {sorted(exp)}")
    for it, v in exp.items():  # simple_value is a float32; the metrics file prints 6-9 digits
        if it in got and not close(got[it], v, 1e-5):
            fails.append(f"{tag} at {it}: {got[it]} != {v}")
for tag, key in (("lm loss validation", "val_loss"), ("lm loss validation ppl", "val_ppl")):
    got, exp = scalars(tag), {m["iteration"]: m[key] for m in val}
    if set(got) != set(exp) or any(not close(got[i], exp[i], 1e-5) for i in exp):
        fails.append(f"{tag}: {got} != {exp}")
# fp16 from a 2^32 scale: the first steps overflow, so some grad norms are absent, some skips counted
if not any(m["skipped_iterations"] > 0 for m in train):
    fails.append("no skipped iterations in an fp16 run starting at scale 2^32")
# timings are each rank's own: throughput = models/flops.h's GPT formula over the
# iteration time, per rank (2 ranks), where tokens/s = global batch x seq / time
L, h, s, pos, gb = 2, 32, 32, 32, 8
flops = 6 * (params - pos * h) * gb * s + 12 * L * h * s * gb * s
tb_tps, tb_tf, tb_mfu = scalars("tokens-per-second"), scalars("throughput"), scalars("mfu")
steps = sorted(m["iteration"] for m in train)
if not (sorted(tb_tps) == sorted(tb_tf) == sorted(tb_mfu) == steps):
    fails.append(f"tokens-per-second/throughput/mfu steps {sorted(tb_tps)} {sorted(tb_tf)} {sorted(tb_mfu)} != {steps}")
rows = [(m["iteration"], m["tokens_per_sec"], m["tflops_per_gpu"], m["mfu"], "metrics file") for m in train]
rows += [(i, tb_tps[i], tb_tf.get(i, 0), tb_mfu.get(i, 0), "events") for i in tb_tps]
for it, tps, tf, mfu, where in rows:
    want_tf = flops / 2 * (tps / (gb * s)) / 1e12
    if not (tps > 0 and close(tf, want_tf, 1e-4)):
        fails.append(f"{where}: TFLOP/s/GPU at {it}: {tf} != {want_tf} (formula at {tps} tokens/s)")
    if not close(mfu, tf / 0.5, 1e-5):
        fails.append(f"{where}: MFU at {it}: {mfu} != TFLOP/s / 0.5")
for f in fails:
    print("FAIL:", f)
if not fails:
    print(f"ok: {len(tags)} scalar tags read back by TensorBoard's EventAccumulator: {sorted(tags)}")
sys.exit(1 if fails else 0)
