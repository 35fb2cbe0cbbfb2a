#!/usr/bin/env python3
"""Benchmarks, measured side by side in one run; prints a markdown table and writes JSON.

    .venv/bin/python benchmarks/run.py [--repeat 5] [--seconds 2] [--json benchmarks/results/latest.json]

Simulator rows: stream time per wall time for two 1 Mcps Poisson inputs (2 Mtags/s of stream) on the
virtual clock, pinned to one CPU core, with increasing work attached. The baseline row draws the same
Poisson arrival times with bare numpy and nothing else (the floor any simulator of this stream pays).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from pymodaq_plugins_timetagger.hardware import simulator as TT  # noqa: E402
from pymodaq_plugins_timetagger.hardware.simulator import PoissonSource  # noqa: E402

TARGET_TAGS_PER_S = 10e6
RATE_HZ = 1e6


def _stream(seconds, build):
    t = TT.createTimeTagger(clock="virtual", seed=1,
                            sources=[PoissonSource(channels=(1, 2), rate_hz=RATE_HZ)])
    try:
        meas = build(t)
        counter = TT.Countrate(t, [1, 2])
        for m in [*meas, counter]:
            m.startFor(int(seconds * 1e12))
        t0 = time.perf_counter()
        counter.waitUntilFinished()
        for m in meas:
            m.waitUntilFinished()
        dt = time.perf_counter() - t0
        return int(counter.getCountsTotal().sum()) / dt
    finally:
        TT.freeTimeTagger(t)


def baseline_numpy(seconds):
    rng = np.random.default_rng(1)
    t0 = time.perf_counter()
    n_total = 0
    chunk = 0.1
    for _ in range(int(seconds / chunk)):
        for _ch in range(2):
            n = rng.poisson(RATE_HZ * chunk)
            x = np.cumsum(rng.standard_exponential(n + 1))
            tags = (x[:n] * (chunk * 1e12 / x[n])).astype(np.int64)
            n_total += tags.size
    return n_total / (time.perf_counter() - t0)


SIM_CASES = {
    "numpy Poisson draw only (baseline)": None,
    "simulator: generation + Countrate": lambda t: [],
    "simulator: generation + Countrate + Correlation": lambda t: [TT.Correlation(t, 1, 2)],
    "simulator: + Correlation + Histogram + Counter": lambda t: [
        TT.Correlation(t, 1, 2), TT.Histogram(t, 1, 2), TT.Counter(t, [1, 2], 10**9, 10)],
}


def median_spread(values):
    values = sorted(values)
    return statistics.median(values), values[0], values[-1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--seconds", type=float, default=2.0, help="stream seconds per simulator run")
    p.add_argument("--json", default=str(Path(__file__).parent / "results" / "latest.json"))
    args = p.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # "per core": one core

    rows = []
    base = None
    for name, build in SIM_CASES.items():
        runs = [baseline_numpy(args.seconds) if build is None else _stream(args.seconds, build)
                for _ in range(args.repeat)]
        med, lo, hi = median_spread(runs)
        if build is None:
            base = med
        rows.append({"name": name, "median_tags_per_s": med, "min": lo, "max": hi,
                     "ratio_to_target": med / TARGET_TAGS_PER_S,
                     "ratio_to_baseline": med / base if base else None,
                     "meets_target": (med >= TARGET_TAGS_PER_S) if build is not None else None})

    print(f"\nSimulator throughput, 2 x {RATE_HZ / 1e6:g} Mcps Poisson, {args.seconds:g} s of stream, "
          f"{args.repeat} runs, one core ({platform.processor() or platform.machine()}, "
          f"numpy {np.__version__})\n")
    print("| case | median Mtags/s | spread (min-max) | vs target 10 M | vs numpy baseline | target |")
    print("|---|---:|---:|---:|---:|---|")
    for r in rows:
        target = "" if r["meets_target"] is None else ("met" if r["meets_target"] else "MISSED")
        ratio_b = "1.00" if r["ratio_to_baseline"] is None else f"{r['ratio_to_baseline']:.2f}"
        print(f"| {r['name']} | {r['median_tags_per_s'] / 1e6:.1f} | {r['min'] / 1e6:.1f}-"
              f"{r['max'] / 1e6:.1f} | {r['ratio_to_target']:.2f}x | {ratio_b} | {target} |")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"simulator": rows, "python": sys.version, "numpy": np.__version__,
                               "machine": platform.machine(), "time": time.time()}, indent=2))
    print(f"\nJSON: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
