"""The main job, headless, on any machine: the Time Tagger on a "remote PC", PyMoDAQ on the "main PC".

    python -m pymodaq_plugins_timetagger.demo [--address sim] [--out out] [--grabs 3] [--integration 1]
    python -m pymodaq_plugins_timetagger.demo hom [--out out]     (a HOM dip in DAQ_Scan: demo_hom.py)
    python -m pymodaq_plugins_timetagger.demo image [--out out] ...   # a confocal image and a Rabi curve

Both PCs are this machine here, joined over loopback exactly as two PCs are over the LAN:

* "main PC": two PyMoDAQ DAQ_Viewer control modules (no window) with this package's TimeTaggerTCPServer plugins,
  a 0D one for count rates (Master, listening on 127.0.0.1) and a 1D one for g2 (Slave: same server);
* "remote PC": one ``pymodaq-timetagger-client`` process on the (simulated) Time Tagger serving two
  measurements: count rates for 'Send Data 0D' and the correlation of inputs 1 and 2 (a single emitter on
  an HBT set-up) for 'Send Data 1D'.

It grabs a few times, prints the count rates and g2(0) received over the bridge as a table, with the
round-trip time of each grab, and writes ``out/g2_bridge.png``: the g2(τ) that crossed the bridge.
"""
from __future__ import annotations

import argparse
import collections
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_client(port: int, address: str, *args: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "pymodaq_plugins_timetagger.bridge", "--host", "127.0.0.1",
           "--port", str(port), "--address", address, "--backoff-max-s", "0.5", "--log-level", "WARNING",
           *args]
    # its own process group on Windows, so that Ctrl-Break (its Ctrl-C) can be sent to it alone
    group = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP} if os.name == "nt" else {}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            encoding="utf-8", errors="replace", **group)
    # read its stderr all along (a full pipe would block the client), keep the end to show on failure
    proc.stderr_tail = collections.deque(maxlen=40)
    proc.drain = threading.Thread(target=lambda: proc.stderr_tail.extend(proc.stderr), daemon=True)
    proc.drain.start()
    return proc


def _stderr_of(proc: subprocess.Popen) -> str:
    proc.drain.join(2)
    return "".join(proc.stderr_tail)


def _stop_client(proc: subprocess.Popen) -> None:
    """Stop it as Ctrl-C does (it frees the tagger): SIGTERM on POSIX, Ctrl-Break on Windows (where
    terminate() would kill it outright)."""
    if proc.poll() is None:
        proc.send_signal(signal.CTRL_BREAK_EVENT if os.name == "nt" else signal.SIGTERM)


def _viewer(daq_type: str, port: int, title: str, master=None):
    from pymodaq.control_modules.daq_viewer import DAQ_Viewer
    from pymodaq.control_modules.daq_viewer_ui.viewer_selector import SelectedModule
    from pymodaq.control_modules.enums import DAQTypesEnum
    from pymodaq.utils.plugin_testing import wait_for_signal

    viewer = DAQ_Viewer(None, title=title, daq_type=daq_type)
    viewer.detector = SelectedModule(DAQTypesEnum[daq_type], "TimeTaggerTCPServer")
    viewer.settings.child("detector_settings", "socket_ip").setValue("127.0.0.1")
    viewer.settings.child("detector_settings", "port_id").setValue(port)
    viewer.settings.child("detector_settings", "grab_timeout_s").setValue(20.0)
    if master is not None:  # share the Master's server, the PyMoDAQ way (same controller ID)
        ctrl = viewer.settings.child("detector_settings", "controller")
        ctrl.child("controller_status").setValue("Slave")
        ctrl.child("controller_ID").setValue(master.settings["detector_settings", "controller", "controller_ID"])
        viewer.controller_and_thread.controller = master.controller_and_thread.controller
        viewer.controller_and_thread.thread = master.controller_and_thread.thread
    if not wait_for_signal(viewer.init_signal, lambda: viewer.init_hardware(True), 20_000):
        raise RuntimeError(f"the {title} TimeTaggerTCPServer could not listen on 127.0.0.1:{port}")
    return viewer


def _wait_for_client(viewer, proc, timeout=30.0) -> str:
    """Wait until the client is connected and its identity has reached the viewer; return its device."""
    from qtpy import QtWidgets
    deadline = time.monotonic() + timeout
    infos = viewer.settings.child("detector_settings", "infos")
    while time.monotonic() < deadline:
        QtWidgets.QApplication.processEvents()
        if "device" in [c.name() for c in infos.children()]:
            return infos["device"]
        if proc.poll() is not None:
            raise RuntimeError(f"the Time Tagger client exited: {_stderr_of(proc)}")
        time.sleep(0.02)
    raise RuntimeError("the Time Tagger client did not connect")


#: characters per title line of the g2 figure (7 in wide, 9 pt): longer lines are wrapped, never cut
TITLE_LINE_CHARS = 80


def g2_figure(tau_s: np.ndarray, g2: np.ndarray, title: str):
    """The g2 figure (matplotlib, Agg); the title's lines wrapped to fit the figure's width."""
    import textwrap

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    ax.plot(tau_s * 1e9, g2, drawstyle="steps-mid", lw=1.0, color="tab:blue")
    ax.axhline(1.0, color="0.6", lw=0.8, ls="--")
    ax.axhline(0.5, color="tab:red", lw=0.8, ls=":", label="single-emitter limit g2(0) = 0.5")
    ax.set_xlabel("delay τ = t(ch1) − t(ch2) (ns)")
    ax.set_ylabel("g2(τ)")
    ax.set_title("\n".join(textwrap.fill(line, TITLE_LINE_CHARS) for line in title.splitlines()), fontsize=9)
    ax.set_ylim(bottom=0)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def plot_g2(tau_s: np.ndarray, g2: np.ndarray, title: str, path: Path) -> None:
    import matplotlib.pyplot as plt
    fig = g2_figure(tau_s, g2, title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["hom"]:   # python3 tasks.py demo hom: the HOM scan in DAQ_Scan (demo_hom.py)
        from .demo_hom import main as hom_main
        return hom_main(argv[1:])
    if argv[:1] == ["image"]:  # the hardware-timed image and the Rabi curve (imaging_demo.py)
        from .imaging_demo import main as image_demo
        return image_demo(argv[1:])
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--address", default="sim", help="tagger address on the 'remote PC' (default: sim)")
    p.add_argument("--out", default="out", help="folder for the PNG (default: out)")
    p.add_argument("--grabs", type=int, default=3, help="grabs of each measurement (default 3)")
    p.add_argument("--integration", type=float, default=1.0, help="g2 integration per grab, s (default 1)")
    args = p.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from pymodaq_gui.qt_utils import mkQApp
    mkQApp("timetagger-demo")
    from pymodaq.utils.plugin_testing import wait_for_signal

    port = _free_port()
    print(f"main PC  : PyMoDAQ DAQ_Viewers 'rates' (TimeTaggerTCPServer 0D, Master) and 'g2' (TimeTaggerTCPServer 1D, Slave) "
          f"on 127.0.0.1:{port}")
    rates_viewer = _viewer("DAQ0D", port, "rates")
    g2_viewer = _viewer("DAQ1D", port, "g2", master=rates_viewer)
    procs = [_start_client(port, args.address, "--measurement", "countrate,correlation",
                           "--channels", "1,2,3,4,5", "--channel-1", "1", "--channel-2", "2",
                           "--binwidth-ps", "500", "--n-bins", "201", "--zero-window-ps", "500",
                           "--integration-s", str(args.integration))]
    try:
        device = _wait_for_client(rates_viewer, procs[0])
        print(f"remote PC: pymodaq-timetagger-client --measurement countrate,correlation on {device}\n")
        header = ("grab", "capture s", "ch1 kHz", "ch2 kHz", "ch3 kHz", "ch4 kHz", "ch5 kHz", "rates ms",
                  "g2 capture s", "g2(0)", "coincidences", "g2 ms")
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---:" for _ in header) + "|")
        last = None
        for i in range(1, args.grabs + 1):
            t0 = time.perf_counter()
            rates = wait_for_signal(rates_viewer.grab_done_signal, rates_viewer.snap, 30_000)
            t_rates = (time.perf_counter() - t0) * 1e3
            t0 = time.perf_counter()
            g2 = wait_for_signal(g2_viewer.grab_done_signal, g2_viewer.snap, 60_000)
            t_g2 = (time.perf_counter() - t0) * 1e3
            r = rates.get_data_from_name("Countrate")
            c = g2.get_data_from_name("Correlation")
            g0 = g2.get_data_from_name("g2(0)").data[0][0]
            khz = [f"{d[0] / 1e3:.1f}" for d in r.data]
            print(f"| {i} | {r.capture_duration_s:.3f} | " + " | ".join(khz) +
                  f" | {t_rates:.0f} | {c.capture_duration_s:.3f} | {g0:.3f} | {c.total_coincidences} "
                  f"| {t_g2:.0f} |")
            last = g2
        c = last.get_data_from_name("Correlation")
        tau = c.get_axis_from_index(0)[0].get_data()
        png = Path(args.out) / "g2_bridge.png"
        g0 = last.get_data_from_name("g2(0)").data[0][0]
        plot_g2(tau, c.data[0], f"received over the TCP bridge from\n{c.device}\n"
                f"g2(0) = {g0:.3f} ({c.capture_duration_s:.1f} s)", png)
        verdict = "single emitter" if g0 < 0.5 else "not a single emitter"
        print(f"\ng2(0) = {g0:.3f}: {verdict} (criterion g2(0) < 0.5)")
        print(f"wrote {png.resolve()}")
        return 0
    finally:
        for proc in procs:
            _stop_client(proc)
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        g2_viewer.quit_fun()
        rates_viewer.quit_fun()


if __name__ == "__main__":
    sys.exit(main())
