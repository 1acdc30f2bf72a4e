#!/usr/bin/env python3
"""bench_table.py FILE... — issue 9's speed table from the JSON lines of `megac bench
--json` and tools/bench_torch.py (other lines are ignored), as markdown:

  training: per model and precision, megac's and PyTorch's (eager, torch.compile)
            tokens/s, each one's model-FLOPs utilisation (achieved model TFLOP/s over
            the bf16 dense matmul peak measured in the same run), and megac's ratio
            to each PyTorch mode (> 1: megac is faster);
  inference: forward latency per mode and PyTorch's latency over megac's;
  goals:    the issue's targets against what was measured.

No dependencies beyond the standard library (runs where torch is not installed).
"""
import json
import sys

GOAL_MFU_MODEL = "gpt-1.2b"   # the ~1.3B GPT row of the issue
GOALS = {"mfu": 0.50, "vs_eager": 1.2, "vs_compile": 1.0, "latency_ms": 0.5, "latency_model": "bert-base"}


def load(paths):
    recs = []
    for path in paths:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line.startswith("{"):
                    continue
                try:
                    recs.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    return recs


def fmt_rate(x):
    if x is None:
        return "—"
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e4:
        return f"{x / 1e3:.1f}k"
    return f"{x:.1f}"


def fmt(x, spec):
    return "—" if x is None else format(x, spec)


def cell_of(rec, value):
    """a measurement's cell: the value, or why there is none"""
    if rec is None:
        return "—"
    if rec.get("status") != "ok":
        err = rec.get("error", "failed")
        return "OOM" if "out of memory" in err else "error"
    return value(rec)


def ratio(a, b):
    if a is None or b is None or a.get("status") != "ok" or b.get("status") != "ok":
        return None
    return a["tokens_per_s"] / b["tokens_per_s"]


def main(argv):
    if len(argv) < 2:
        sys.exit("usage: bench_table.py FILE... (JSON lines of megac bench --json and bench_torch.py)")
    recs = load(argv[1:])
    peaks, megac_peak = {}, None
    for r in recs:
        if r.get("kind") == "peak" and r.get("status") == "ok":
            if r.get("tool") == "megac":
                megac_peak = r
            else:
                peaks[r["precision"]] = r
    bf16 = peaks.get("bf16", {}).get("tflops")
    dev = next((r.get("device_name") for r in recs if r.get("device_name")), "?")
    torch_v = next((r.get("torch") for r in recs if r.get("torch")), "?")
    print(f"device: {dev}; PyTorch {torch_v}")
    line = []
    if bf16:
        line.append(f"bf16 matmul peak {bf16:.1f} TFLOP/s ({peaks['bf16']['size']}^3, torch.matmul, median)")
    if "fp32" in peaks:
        line.append(f"fp32 (TF32 off) {peaks['fp32']['tflops']:.1f} TFLOP/s")
    if megac_peak:
        line.append(f"megac's fp32 matmul ({megac_peak.get('source', '?')}) {megac_peak['tflops']:.1f} TFLOP/s")
    print("peaks: " + ("; ".join(line) if line else "none measured (MFU not computed)"))

    def mfu(rec):
        if rec is None or rec.get("status") != "ok" or not bf16:
            return None
        return rec["tflops"] / bf16

    # ---- training
    rows, seen = {}, []
    for r in recs:
        if r.get("kind") != "train":
            continue
        key = (r.get("model"), r.get("precision"))
        if key not in rows:
            rows[key] = {}
            seen.append(key)
        mode = "megac" if r.get("tool") == "megac" else r.get("mode")
        rows[key][mode] = r
    goal_lines = []
    if seen:
        print()
        print("training step (forward, backward, AdamW); MFU = model TFLOP/s / bf16 matmul peak; "
              "ratio > 1: megac faster")
        print()
        print("| model | seq | precision | megac micro-batch | megac tokens/s | megac MFU | torch micro-batch "
              "| torch eager tokens/s | eager MFU | torch.compile tokens/s | compile MFU | megac / eager "
              "| megac / compile |")
        print("|" + "---|" * 13)
        for key in seen:
            row = rows[key]
            m, e, c = row.get("megac"), row.get("eager"), row.get("compile")
            any_rec = m or e or c
            seq = any_rec.get("seq", "?")
            tb = e if e and e.get("status") == "ok" else c
            torch_mb = tb.get("micro_batch") if tb and tb.get("status") == "ok" else None
            if c and e and c.get("status") == "ok" and e.get("status") == "ok" and c["micro_batch"] != e["micro_batch"]:
                torch_mb = f"{e['micro_batch']} / {c['micro_batch']}"
            megac_cell = cell_of(m, lambda r: fmt_rate(r["tokens_per_s"])) if m else (
                "— (no bf16 kernels yet)" if key[1] == "bf16" else "—")
            re, rc = ratio(m, e), ratio(m, c)
            print(f"| {key[0]} | {seq} | {key[1]} | {fmt(m and m.get('micro_batch'), '')} | {megac_cell} | "
                  f"{fmt(mfu(m), '.3f')} | {fmt(torch_mb, '')} | {cell_of(e, lambda r: fmt_rate(r['tokens_per_s']))} | "
                  f"{fmt(mfu(e), '.3f')} | {cell_of(c, lambda r: fmt_rate(r['tokens_per_s']))} | {fmt(mfu(c), '.3f')} | "
                  f"{fmt(re, '.2f')} | {fmt(rc, '.2f')} |")
            goal_lines.append((key, m, re, rc))

    # ---- inference
    inf, iseen = {}, []
    for r in recs:
        if r.get("kind") != "infer":
            continue
        key = (r.get("model"), r.get("precision"), r.get("micro_batch"), r.get("seq"))
        if key not in inf:
            inf[key] = {}
            iseen.append(key)
        inf[key]["megac" if r.get("tool") == "megac" else r.get("mode")] = r
    lat_goal = []
    if iseen:
        print()
        print("inference (forward pass; BERT: the encoder), median latency; ratio > 1: megac faster")
        print()
        print("| model | batch | seq | precision | megac ms | torch eager ms | torch.compile ms | eager / megac "
              "| compile / megac |")
        print("|" + "---|" * 9)
        for key in iseen:
            row = inf[key]
            m, e, c = row.get("megac"), row.get("eager"), row.get("compile")

            def lat(r):
                return r["latency_ms"] if r is not None and r.get("status") == "ok" else None

            def sp(t):
                return lat(t) / lat(m) if lat(t) is not None and lat(m) is not None else None
            mcell = cell_of(m, lambda r: f"{r['latency_ms']:.3f}") if m else (
                "— (no bf16 kernels yet)" if key[1] == "bf16" else "—")
            print(f"| {key[0]} | {key[2]} | {key[3]} | {key[1]} | {mcell} | "
                  f"{cell_of(e, lambda r: format(r['latency_ms'], '.3f'))} | "
                  f"{cell_of(c, lambda r: format(r['latency_ms'], '.3f'))} | {fmt(sp(e), '.2f')} | {fmt(sp(c), '.2f')} |")
            if key[0] == GOALS["latency_model"]:
                lat_goal.append((key, lat(m)))

    # ---- goals
    if goal_lines or lat_goal:
        print()
        print("goals (issue 9):")
        for key, m, re, rc in goal_lines:
            ok_m = m is not None and m.get("status") == "ok"
            if key[0] == GOAL_MFU_MODEL:
                v = mfu(m) if ok_m else None
                why = "megac has no bf16 kernels yet" if key[1] == "bf16" and m is None else "no measurement"
                print(f"- {key[0]} {key[1]} megac MFU >= {GOALS['mfu']}: "
                      + (f"not measured ({why})" if v is None else
                         f"{v:.3f} {'met' if v >= GOALS['mfu'] else 'not met'}"))
            parts = []
            for name, r, goal in (("eager", re, GOALS["vs_eager"]), ("torch.compile", rc, GOALS["vs_compile"])):
                status = "not measured" if r is None else f"{r:.2f}x, {'met' if r >= goal else 'not met'}"
                parts.append(f">= {goal}x PyTorch {name}: {status}")
            print(f"- {key[0]} {key[1]} megac " + "; ".join(parts))
        for key, v in lat_goal:
            status = "not measured" if v is None else f"{v:.3f} ms {'met' if v <= GOALS['latency_ms'] else 'not met'}"
            print(f"- {key[0]} {key[1]} batch {key[2]} seq {key[3]} latency <= {GOALS['latency_ms']} ms: {status}")


if __name__ == "__main__":
    main(sys.argv)
