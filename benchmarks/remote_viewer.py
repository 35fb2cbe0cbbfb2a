#!/usr/bin/env python3
"""Per-grab cost of the "remote PC with a GUI" route (issue 13) against the headless client, in the same run.

    .venv/bin/python benchmarks/remote_viewer.py [--repeat 200] [--integration-s 0.001] [--rounds 2]

The main PC's side is the same for both: this package's TCPServer 0D plugin under PyMoDAQ's plugin harness,
each grab waited for in a Qt event loop (``bridge.Grabber``). The remote side is either

* ``client``: ``pymodaq-timetagger-client`` (countrate, channels 1,2) on the simulator, or
* ``viewer``: a real DAQ_Viewer (offscreen) with ``TimeTaggerCountrate`` (channels 1,2, its default) on the
  simulator, its *Remote server* group connected (tests/support/remote_viewer.py): the Qt hop into the plugin's thread,
  the grab job, the local display as temporary data.

Count rates integrated ``--integration-s`` per request; every grab is checked to carry exactly that capture
duration. The routes alternate ``--rounds`` times (the machine's load changes); medians per route and the
viewer's extra cost per grab (median difference) are printed. Loopback only.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT / "tests")]

import bridge  # noqa: E402  (sets up sys.path and the offscreen platform)


def grab_times(route: str, repeat: int, integration_s: float, warmup: int = 10) -> list[float]:
    """Seconds per grab of the TCPServer 0D plugin served by ``route`` ('client' or 'viewer')."""
    det = bridge._plugin("0D")
    port = det.controller.port
    if route == "client":
        cmd = bridge._client_cmd(port, "--measurement", "countrate", "--channels", "1,2",
                                 "--integration-s", str(integration_s))
    else:
        cmd = [sys.executable, str(ROOT / "tests" / "support" / "remote_viewer.py"), "TimeTaggerCountrate", "DAQ0D", str(port),
               "--set", f"integration_s={integration_s}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        bridge._wait_client(det, timeout=60)

        def check(dte):
            assert abs(dte.data[0].capture_duration_s - integration_s) < 1e-12, dte.data[0].capture_duration_s

        return bridge._timed(bridge.Grabber(det), repeat, warmup, check)
    finally:
        det.close()
        bridge._stop(proc)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=200)
    p.add_argument("--integration-s", type=float, default=0.001)
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args(argv)
    times = {"client": [], "viewer": []}
    for _ in range(args.rounds):
        for route in times:
            times[route] += grab_times(route, args.repeat, args.integration_s)
    ms = {r: [1000 * t for t in v] for r, v in times.items()}
    print(f"\n## Per grab, TCPServer 0D plugin <- remote side on the simulator, count rates integrated "
          f"{1000 * args.integration_s:g} ms ({args.rounds} x {args.repeat} grabs per route, ms)\n")
    print("| remote side | median | p10-p90 | overhead (median - integration) |")
    print("|---|---:|---:|---:|")
    names = {"client": "pymodaq-timetagger-client (headless)", "viewer": "Countrate DAQ_Viewer, Remote server"}
    for r, v in ms.items():
        q = statistics.quantiles(v, n=10)
        print(f"| {names[r]} | {statistics.median(v):.2f} | {q[0]:.2f}-{q[-1]:.2f} "
              f"| {statistics.median(v) - 1000 * args.integration_s:.2f} |")
    print(f"\nThe viewer route costs {statistics.median(ms['viewer']) - statistics.median(ms['client']):+.2f} ms "
          f"per grab against the headless client (difference of the medians).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
