#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Summarise the RESULT lines that perf/run.sh collected over several runs.

Input: files (or stdin) with lines
    #RUN <i>                          starts run i (written by run.sh)
    RESULT <label> key=value ...      a benchmark figure
Output, in this order:
  1. derived same-run ratios (--ratio), one per run:
         RESULT ratio_<name> run=<i> value=<x> [regime=<regime of the divisor>]
  2. the median over runs of every key of every label (ratios included),
         MEDIAN <label> runs=<n> key=median ...
         runs: key=run1/run2/... (only keys whose values differ)
     a non-numeric value (regime=near) gives the most common one and a count;
  3. comparisons with recorded peer figures (--peer), on the medians:
         RESULT vs_peers peer=<name> ours=<x> theirs=<y> factor=<x/y or y/x>
         basis=recorded_not_same_run
  4. targets (--target): PASS, MISS or SKIP (no data) per target.

Why same-run ratios: the machines' cross-core latency flips between regimes
between runs, so lw pingpong p50 is divided by the limit p50 of the same run
before taking a median, never median by median.

Expressions: LABEL.key or a number. --ratio NAME=A/B needs two labels and
is computed per run; --peer NAME=A/B has one label and one number and is
computed on the median (write it so that factor > 1 means Lightwire is
better). --target 'NAME=LABEL.key<=V' or '>=V' checks the median.
Standard library only.
"""
import argparse
import collections
import re
import statistics
import sys


def parse(files):
    """runs[i] = {label: {key: value}}, labels/keys in first-seen order."""
    runs = collections.OrderedDict()
    order = collections.OrderedDict()
    run = 0
    for f in files:
        for line in f:
            m = re.match(r"#RUN\s+(\d+)", line)
            if m:
                run = int(m.group(1))
                continue
            if not line.startswith("RESULT "):
                continue
            parts = line.split()
            if len(parts) < 2:
                continue
            label = parts[1]
            d = runs.setdefault(run, collections.OrderedDict()).setdefault(
                label, collections.OrderedDict())
            keys = order.setdefault(label, [])
            for kv in parts[2:]:
                if "=" not in kv:
                    continue
                k, v = kv.split("=", 1)
                d[k] = v
                if k not in keys:
                    keys.append(k)
    return runs, order


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def fmt(x):
    if x is None:
        return "-"
    if abs(x) >= 1e6:
        return f"{x:.0f}"
    return f"{x:.6g}"


def operand(s):
    """('label', 'key') for LABEL.key, or a float for a number."""
    n = num(s)
    if n is not None:
        return n
    label, _, key = s.rpartition(".")
    if not label or not key:
        sys.exit(f"median.py: bad operand '{s}' (want LABEL.key or a number)")
    return (label, key)


def split_expr(spec):
    name, _, expr = spec.partition("=")
    a, _, b = expr.partition("/")
    if not name or not a or not b:
        sys.exit(f"median.py: bad expression '{spec}' (want NAME=A/B)")
    return name, operand(a), operand(b)


def medians(runs, order):
    """{label: {key: (median or mode string, values list)}}."""
    out = collections.OrderedDict()
    for label, keys in order.items():
        out[label] = collections.OrderedDict()
        for k in keys:
            vals = [r[label][k] for r in runs.values() if label in r and k in r[label]]
            nums = [num(v) for v in vals]
            if vals and all(n is not None for n in nums):
                out[label][k] = (statistics.median(nums), nums)
            elif vals:
                c = collections.Counter(vals).most_common(1)[0]
                out[label][k] = (f"{c[0]}({c[1]}/{len(vals)})", vals)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="*")
    ap.add_argument("--ratio", action="append", default=[])
    ap.add_argument("--peer", action="append", default=[])
    ap.add_argument("--target", action="append", default=[])
    args = ap.parse_args()
    files = [open(f) for f in args.files] or [sys.stdin]
    runs, order = parse(files)

    # 1. Same-run ratios, added to the data so they get a median too.
    for spec in args.ratio:
        name, a, b = split_expr(spec)
        if not isinstance(a, tuple) or not isinstance(b, tuple):
            sys.exit(f"median.py: --ratio '{spec}' needs two LABEL.key operands")
        label = f"ratio_{name}"
        for i, r in runs.items():
            x = num(r.get(a[0], {}).get(a[1]))
            y = num(r.get(b[0], {}).get(b[1]))
            if x is None or not y:
                continue
            reg = r[b[0]].get("regime")
            line = f"RESULT {label} run={i} value={x / y:.3f}"
            print(line + (f" regime={reg}" if reg else ""))
            d = r.setdefault(label, collections.OrderedDict())
            d["value"] = f"{x / y:.6f}"
            keys = order.setdefault(label, ["value"])
            if reg:
                d["regime"] = reg
                if "regime" not in keys:
                    keys.append("regime")

    # 2. Medians of every key.
    med = medians(runs, order)
    print(f"=== medians over {len(runs)} run(s); 'runs:' lists per-run values "
          "of the keys that differed")
    for label, keys in med.items():
        n = max((len(v[1]) for v in keys.values()), default=0)
        cells = [f"{k}={m if isinstance(m, str) else fmt(m)}" for k, (m, _) in keys.items()]
        print(f"MEDIAN {label} runs={n} " + " ".join(cells))
        spread = [f"{k}=" + "/".join(fmt(v) for v in vals)
                  for k, (m, vals) in keys.items()
                  if not isinstance(m, str) and len(set(vals)) > 1]
        if spread:
            print("    runs: " + " ".join(spread))

    def value(op):
        if isinstance(op, tuple):
            m = med.get(op[0], {}).get(op[1])
            return m[0] if m and not isinstance(m[0], str) else None
        return op

    # 3. Peers (recorded figures, not the same run).
    for spec in args.peer:
        name, a, b = split_expr(spec)
        ours = a if isinstance(a, tuple) else b
        theirs = b if isinstance(a, tuple) else a
        x, y = value(a), value(b)
        if x is None or not y:
            print(f"RESULT vs_peers peer={name} ours=- theirs={fmt(theirs)} factor=- "
                  f"basis=recorded_not_same_run (no data for {'.'.join(ours)})")
            continue
        print(f"RESULT vs_peers peer={name} ours={fmt(value(ours))} theirs={fmt(theirs)} "
              f"factor={x / y:.3f} basis=recorded_not_same_run")

    # 4. Targets.
    for spec in args.target:
        m = re.match(r"([^=]+)=(.+?)(<=|>=)(.+)$", spec)
        if not m:
            sys.exit(f"median.py: bad target '{spec}' (want NAME=LABEL.key<=V)")
        name, op, cmp, lim = m.group(1), operand(m.group(2)), m.group(3), float(m.group(4))
        v = value(op)
        what = ".".join(op) if isinstance(op, tuple) else str(op)
        if v is None:
            print(f"SKIP target {name}: no data for {what}")
            continue
        ok = v <= lim if cmp == "<=" else v >= lim
        print(f"{'PASS' if ok else 'MISS'} target {name}: median {what} = {fmt(v)} "
              f"(want {cmp} {fmt(lim)})")


if __name__ == "__main__":
    main()
