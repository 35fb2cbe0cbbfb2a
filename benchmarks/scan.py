#!/usr/bin/env python3
"""What a user feels per DAQ_Scan step: PyMoDAQ's real Dashboard + DAQ_Scan, one route per process.

    .venv/bin/python benchmarks/scan.py [--steps 100] [--integration-s 0.01] [--routes local,tcp,remote,leco]

(``benchmarks/run.py --only scan`` runs the same and prints the table with the others.)

A Dashboard loads an experiment (PyMoDAQ's ``Mock`` actuator + one 0D detector), DAQ_Scan scans the actuator
over ``--steps`` positions and each step grabs count rates integrated ``--integration-s`` on the simulator:

* ``local``: the ``TimeTaggerCountrate`` plugin, address ``sim``, in the Dashboard's process;
* ``tcp``: our TCPServer 0D plugin on 127.0.0.1 (port chosen by the system) and a real
  ``python -m pymodaq_plugins_timetagger.bridge`` client process on ``sim``;
* ``remote``: the same TCPServer 0D plugin, served by a ``TimeTaggerCountrate`` DAQ_Viewer (its "Remote server"
  group on) in a child process (tests/support/remote_viewer.py): the "remote PC with a GUI" route, to compare with
  ``tcp`` (the headless client) in the same run;
* ``leco``: a pyleco Coordinator (child process, 127.0.0.1), our client in ``--transport leco`` and PyMoDAQ's
  ``LECODirector`` 0D plugin (pymodaq_plugins_mock).

Per step, timestamps taken in the Dashboard's process on DAQ_Scan's modules manager: *step* = from one step's
data reaching DAQ_Scan to the next one's (move + grab + DAQ_Scan's bookkeeping: the period of the scan);
*detector* = from the end of the step's move to its data reaching DAQ_Scan (DAQ_Scan asking the detector,
the integration, the route back). Overhead = time - integration (the floor). The first step period
(DAQ_Scan creates the file's arrays in it) is reported apart; the first step's detector time (a cold
start) is left out. Every step's data are checked: each must carry the set ``capture_duration_s``; steps
that do not are counted as bad.

Each route runs in a child process with its own PyMoDAQ configuration folder (a temporary HOME, removed
afterwards: nothing is written into the user's ~/.pymodaq), where the actuator's polling interval is set to
``POLL_INTERVAL_MS`` (PyMoDAQ's default is 100 ms) and the Mock's time constant to ``MOCK_TAU_MS``: the
actuator's part of a step is then a few ms, the same for every route.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

ROUTES = ("local", "tcp", "remote", "leco")
ROUTE_NAMES = {
    "local": "local plugin (TimeTaggerCountrate on sim)",
    "tcp": "TCP bridge (TCPServer 0D <- client process on sim)",
    "remote": "TCP bridge (TCPServer 0D <- Countrate DAQ_Viewer's remote server on sim)",
    "leco": "LECO (LECODirector 0D <- client --transport leco on sim)",
}
ACTUATOR, DETECTOR = "Stage", "TT"
LECO_ACTOR = "tt_scan"
#: PyMoDAQ's actuator polling interval in the children's configuration (its default: 100 ms)
POLL_INTERVAL_MS = 1
#: the Mock actuator's time constant (its default: 500 ms); it is at target one time constant after a move
MOCK_TAU_MS = 1
#: distance between scan positions, µm: ten times the Mock X axis' epsilon (1 µm), so each move converges
STEP_UM = 10.0


# ------------------------------------------------------------------------------------------------- parent
def measure(routes=ROUTES, steps: int = 100, integration_s: float = 0.01, timeout_s: float = 300) -> dict:
    """{route: result dict, or an error string}; each route in its own child process (see module doc)."""
    out = {}
    for route in routes:
        home = Path(tempfile.mkdtemp(prefix=f"bench_scan_{route}_"))
        try:
            config = home / ".pymodaq" / "config"
            config.mkdir(parents=True)
            (config / "pymodaq.toml").write_text(  # PyMoDAQ's own file in its config folder
                f"[actuator]\npolling_interval_ms = {POLL_INTERVAL_MS}\n", encoding="utf-8")
            env = dict(os.environ, HOME=str(home), USERPROFILE=str(home), QT_QPA_PLATFORM="offscreen",
                       PYTHONUNBUFFERED="1")
            cmd = [sys.executable, str(Path(__file__).resolve()), "--child", route, "--steps", str(steps),
                   "--integration-s", str(integration_s)]
            log = home / "child.log"
            with open(log, "wb") as sink:
                proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=sink,
                                        env=env, cwd=str(home))
                try:
                    stdout, _ = proc.communicate(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    stdout, _ = proc.communicate()
            result = next((json.loads(line[7:]) for line in stdout.decode("utf-8", "replace").splitlines()
                           if line.startswith("RESULT ")), None)
            if result is None:
                tail = "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-8:])
                out[route] = f"no result (exit code {proc.returncode}): {tail}"
            else:
                out[route] = result
        finally:
            shutil.rmtree(home, ignore_errors=True)
    return out


def summary(values_s: list[float], floor_s: float) -> dict:
    """Median, 10th-90th percentile and max of ``values_s`` (ms), and the median overhead over ``floor_s``."""
    ms = sorted(v * 1e3 for v in values_s)
    q = statistics.quantiles(ms, n=10) if len(ms) >= 2 else [ms[0]] * 9
    med = statistics.median(ms)
    return {"median_ms": med, "p10_ms": q[0], "p90_ms": q[-1], "min_ms": ms[0], "max_ms": ms[-1],
            "overhead_ms": med - floor_s * 1e3}


def print_table(results: dict, integration_s: float, steps: int) -> None:
    floor_ms = integration_s * 1e3
    print(f"\n## DAQ_Scan step, {steps} steps of {floor_ms:g} ms integration (count rates, simulator; Mock "
          f"actuator polled every {POLL_INTERVAL_MS} ms; ms)\n")
    print("| route | step median | step p10-p90 (max) | step overhead | detector median | detector p10-p90 "
          "(max) | detector overhead | first step | bad steps |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| integration alone (floor) | {floor_ms:.2f} | | 0 | {floor_ms:.2f} | | 0 | | |")
    for route, r in results.items():
        if isinstance(r, str):
            print(f"| {ROUTE_NAMES[route]} | n/a: {r.splitlines()[0][:100]} | | | | | | | |")
            continue
        s, d = summary(r["step_s"], integration_s), summary(r["detector_s"], integration_s)
        r["step"], r["detector"] = s, d
        print(f"| {ROUTE_NAMES[route]} | {s['median_ms']:.2f} | {s['p10_ms']:.2f}-{s['p90_ms']:.2f} "
              f"({s['max_ms']:.1f}) | {s['overhead_ms']:.2f} | {d['median_ms']:.2f} | {d['p10_ms']:.2f}-"
              f"{d['p90_ms']:.2f} ({d['max_ms']:.1f}) | {d['overhead_ms']:.2f} | {r['first_step_s'] * 1e3:.0f} "
              f"| {r['bad_steps']} |")
    loads = [r["load"] for r in results.values() if isinstance(r, dict) and r.get("load")]
    if loads:
        print(f"\nMachine load (1-min load average, {os.cpu_count()} CPUs) during the routes: "
              + ", ".join(f"{route} {r['load'][0]:.1f}-{r['load'][1]:.1f}" for route, r in results.items()
                          if isinstance(r, dict) and r.get("load")))


# ------------------------------------------------------------------------------------------------- child
def _load() -> float | None:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


class _Route:
    """Set-up of one route in the Dashboard's process: plugin name, settings, what runs beside it."""

    def __init__(self, name: str, integration_s: float, children: list):
        self.name, self.integration_s, self.children = name, integration_s, children
        self.plugin = {"local": "TimeTaggerCountrate", "tcp": "TimeTaggerTCPServer", "remote": "TimeTaggerTCPServer",
                       "leco": "LECODirector"}[name]
        self.deadline = time.monotonic() + 120

    def before_init(self, det) -> None:
        s = det.settings.child("detector_settings")
        if self.name == "local":
            s.child("address").setValue("sim")
            s.child("integration_s").setValue(self.integration_s)
        elif self.name in ("tcp", "remote"):
            s.child("socket_ip").setValue("127.0.0.1")
            s.child("port_id").setValue(0)  # the system chooses; the plugin says which
        else:
            import bridge
            import routes
            kids = routes._Children("bench_scan_leco_")
            self.children.append(kids)
            (port,) = kids.wait_ready(kids.start("leco-coordinator"), self.deadline)
            self._start(bridge.leco_client_cmd(port, LECO_ACTOR, *self._client_args()))
            bridge.wait_leco_signed_in(port, LECO_ACTOR, self.deadline)
            s.child("host").setValue("127.0.0.1")
            s.child("port").setValue(int(port))
            s.child("actor_name").setValue(LECO_ACTOR)

    def after_init(self, det) -> None:
        if self.name not in ("tcp", "remote"):
            return
        import bridge
        from tests.support.processes import pump_until
        state = det.settings["detector_settings", "server_state"]
        port = int(state.rsplit(":", 1)[1])  # "listening on 127.0.0.1:PORT"
        if self.name == "tcp":
            self._start(bridge._client_cmd(port, *self._client_args()))
        else:  # the plugin's default channels are the client's (1,2)
            self._start([sys.executable, str(ROOT / "tests" / "support" / "remote_viewer.py"), "TimeTaggerCountrate", "DAQ0D",
                         str(port), "--set", f"integration_s={self.integration_s}"])
        pump_until(lambda: det.settings["detector_settings", "clients"], 60, "the bridge client to connect")

    def _client_args(self) -> list[str]:
        return ["--measurement", "countrate", "--channels", "1,2", "--integration-s", str(self.integration_s)]

    def _start(self, cmd: list[str]) -> None:
        self.children.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))


def _run_scan(scan, timeout_s: float):
    """Start the scan and wait for its end in a Qt event loop; per step, the times (perf_counter) at which
    the moves were done and the data reached DAQ_Scan, and the data."""
    from qtpy.QtCore import QEventLoop, QTimer
    moves, grabs, data = [], [], []
    scan.modules_manager.move_done_signal.connect(lambda _dte: moves.append(time.perf_counter()))

    def grabbed(dte):
        grabs.append(time.perf_counter())
        data.append(dte)

    scan.modules_manager.det_done_signal.connect(grabbed)
    loop = QEventLoop()
    scan.scan_done_signal.connect(loop.quit)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    t0 = time.perf_counter()
    scan.do_scan()
    loop.exec()
    return t0, moves, grabs, data


def child(route: str, steps: int, integration_s: float) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path[:0] = [str(ROOT / "src"), str(ROOT), str(HERE)]
    from pymodaq_gui.qt_utils import mkQApp
    mkQApp("bench_scan")
    from pymodaq_gui.h5modules.saving import H5SaverBase
    from pymodaq.dashboard import create_load_dashboard
    from tests.support.scankit import close_all, init_detector, load_experiment, open_scan, write_experiment

    home = Path.home()
    next(p for p in H5SaverBase.params if p["name"] == "base_path")["value"] = str(home / "data")
    children: list = []
    r = _Route(route, integration_s, children)
    shared_ui, dashboard = create_load_dashboard(show_dashboard=False)
    win_ext = scan = None
    try:
        experiment = write_experiment(home / "bench_scan.xml", ACTUATOR, DETECTOR, "DAQ0D", r.plugin)
        stage, det = load_experiment(dashboard, experiment, ACTUATOR, DETECTOR)
        stage.settings.child(stage._hw_settings_name, "tau").setValue(MOCK_TAU_MS)
        r.before_init(det)
        init_detector(det, timeout_s=60)
        r.after_init(det)
        win_ext, scan = open_scan(dashboard, ACTUATOR, DETECTOR, 0.0, STEP_UM * (steps - 1), STEP_UM)
        assert scan.scanner.n_steps == steps, scan.scanner.n_steps
        load0 = _load()
        t0, moves, grabs, data = _run_scan(scan, timeout_s=60 + steps * (integration_s + 1.0))
        load1 = _load()
        if len(grabs) != steps:
            raise RuntimeError(f"{len(grabs)} of {steps} steps done")
        # the move that ended last before each step's data: the step's own (the first is the initial move)
        ends = [max(m for m in moves if m <= g) for g in grabs]

        def good(dte) -> bool:
            return any(abs(getattr(d, "capture_duration_s", float("nan")) - integration_s) < 1e-9 for d in dte)

        result = {"route": route, "plugin": r.plugin, "steps": steps, "integration_s": integration_s,
                  "first_step_s": grabs[1] - grabs[0],  # DAQ_Scan creates the file's arrays in it
                  "step_s": [b - a for a, b in zip(grabs[1:-1], grabs[2:])],
                  "detector_s": [g - e for g, e in zip(grabs[1:], ends[1:])],
                  "scan_s": grabs[-1] - t0, "bad_steps": sum(not good(d) for d in data),
                  "load": None if load0 is None else [load0, load1]}
        print("RESULT " + json.dumps(result), flush=True)
        return 0
    finally:
        close_all(shared_ui, dashboard, win_ext, scan)
        for c in reversed(children):
            if isinstance(c, subprocess.Popen):
                c.terminate()
                try:
                    c.wait(10)
                except subprocess.TimeoutExpired:
                    c.kill()
            else:
                c.close()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--integration-s", type=float, default=0.01)
    p.add_argument("--routes", default=",".join(ROUTES), help=f"among {', '.join(ROUTES)}")
    p.add_argument("--child", choices=ROUTES, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.steps < 3:
        p.error("--steps must be at least 3")
    if args.child:
        return child(args.child, args.steps, args.integration_s)
    routes = args.routes.split(",")
    if unknown := set(routes) - set(ROUTES):
        p.error(f"unknown routes: {', '.join(sorted(unknown))}")
    print_table(measure(routes, args.steps, args.integration_s), args.integration_s, args.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
