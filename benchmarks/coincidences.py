"""Simulator throughput with coincidences: generation + 4 Poisson inputs + 2-fold and 4-fold Coincidences.

Stream tags (the four inputs) processed per wall second on the virtual clock, one core, on each kernel backend:
one Coincidences with the groups [1, 2] and [1, 2, 3, 4] (1 ns window) and one Countrate of the four inputs and
the two coincidence channels (what a Coincidences grab builds). Target (issue 25): >= 15 M tags/s with the
numba kernels; the numpy path is measured beside it.

    .venv/bin/python benchmarks/run.py --only coincidences
"""
from __future__ import annotations

import os
import statistics
import time

from pymodaq_plugins_timetagger.hardware import simulator as TT
from pymodaq_plugins_timetagger.hardware.simulator import PoissonSource, kernels

RATE_HZ = 1e6
TARGET_TAGS_PER_S = 15e6
WINDOW_PS = 1000


def _run(seconds: float) -> tuple[float, float]:
    """(tags per wall second, tags per CPU second) of a ``seconds`` capture."""
    t = TT.createTimeTagger(clock="virtual", seed=1,
                            sources=[PoissonSource(channels=(1, 2, 3, 4), rate_hz=RATE_HZ)])
    try:
        co = TT.Coincidences(t, [[1, 2], [1, 2, 3, 4]], WINDOW_PS)
        cr = TT.Countrate(t, [1, 2, 3, 4, *co.getChannels()])
        t0, c0 = time.perf_counter(), time.process_time()
        cr.startFor(int(seconds * 1e12))
        cr.waitUntilFinished()
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        n = int(cr.getCountsTotal()[:4].sum())
        return n / dt, n / cpu
    finally:
        TT.freeTimeTagger(t)


def section(args, report) -> None:
    default = kernels.backend()
    backends = ["numba", "numpy"] if kernels.numba_available() else ["numpy"]
    cores = os.sched_getaffinity(0) if hasattr(os, "sched_setaffinity") else None
    if cores:
        os.sched_setaffinity(0, {sorted(cores)[0]})   # "on one core"
    rows = []
    try:
        for backend in backends:
            kernels.set_backend(backend)
            runs = [_run(args.seconds) for _ in range(args.repeat)]
            wall = sorted(r[0] for r in runs)
            med = statistics.median(wall)
            rows.append({"kernels": backend, "median_tags_per_s": med, "min": wall[0], "max": wall[-1],
                         "median_tags_per_cpu_s": statistics.median(r[1] for r in runs),
                         "target": TARGET_TAGS_PER_S if backend == "numba" else None,
                         "meets_target": med >= TARGET_TAGS_PER_S if backend == "numba" else None})
    finally:
        kernels.set_backend(default)
        if cores:
            os.sched_setaffinity(0, cores)
    print(f"\n## Coincidences: 4 x {RATE_HZ / 1e6:g} Mcps Poisson, 2-fold + 4-fold Coincidences + Countrate, "
          f"{args.seconds:g} s of stream, {args.repeat} runs, one core\n")
    print("| kernels | median Mtags/s | spread (min-max) | Mtags per CPU s | target |")
    print("|---|---:|---:|---:|---|")
    for r in rows:
        target = "" if r["target"] is None else f"{'met' if r['meets_target'] else 'MISSED'} (>= 15 M)"
        print(f"| {r['kernels']} | {r['median_tags_per_s'] / 1e6:.1f} | {r['min'] / 1e6:.1f}-{r['max'] / 1e6:.1f} "
              f"| {r['median_tags_per_cpu_s'] / 1e6:.1f} | {target} |")
    report["coincidences"] = rows
    for r in rows:
        if r["target"] is not None:
            report.setdefault("targets", []).append(
                (f"simulator [{r['kernels']}] generation + 4 inputs + 2- and 4-fold Coincidences >= 15 M tags/s, "
                 f"one core", r["meets_target"], f"{r['median_tags_per_s'] / 1e6:.1f} M tags/s"))
