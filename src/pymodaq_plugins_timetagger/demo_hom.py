"""A Hong-Ou-Mandel dip rehearsed in PyMoDAQ's real DAQ_Scan on the simulator, and its fit.

    python3 tasks.py demo hom [--out out] [--step-s 0.1] [--span-ps 6] [--points 25]

What a user does, headless: the Dashboard loads an experiment with a ``TimeTaggerCoincidences`` detector (Master,
opening ``sim:hom``: pairs on a 50:50 beam splitter, V = 0.92, τ_c = 1.5 ps) and a ``TimeTaggerDelayStage``
actuator sharing its tagger (Slave, same controller ID); DAQ_Scan scans the delay linearly and saves its h5 file in
``out/``; each step's coincidences of inputs 1 and 2 (1 ns window) and its accidentals come from the data DAQ_Scan
received. The dip is fitted (Gaussian with offset, Poisson likelihood: hom_fit.py) and ``out/hom_dip.png`` shows the
counts with their Poisson errors and the fit; ``out/hom_dip.csv`` holds the points.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

EXPERIMENT = "timetagger_hom_demo"
DETECTOR, ACTUATOR = "Coincidences", "Delay"
CONTROLLER_ID = 4242


def _pump_until(condition, timeout_s: float, what: str) -> None:
    from qtpy import QtWidgets
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout_s:g} s waiting for {what}")
        QtWidgets.QApplication.processEvents()
        time.sleep(0.005)


def _write_experiment(path: Path) -> Path:
    """The experiment file the Dashboard's experiment manager writes: the detector Master, the stage its Slave.

    Written by PyMoDAQ's own ParameterManager (this package itself never touches PyMoDAQ's XML reader/writer)."""
    from pymodaq_gui.managers.parameter_manager import ParameterManager
    from pymodaq.utils.managers.experiment.experiment_manager import ExperimentManager

    class Experiment(ParameterManager):
        settings_name = "Preset"
        params = ExperimentManager.params

    manager = Experiment()
    exp = manager.settings
    exp.child("actuator").addNew(("TimeTaggerDelayStage",))
    exp.child("detector").addNew(("DAQ0D", "TimeTaggerCoincidences"))
    act, det = exp.child("actuator").children()[0], exp.child("detector").children()[0]
    for module, name, status in ((act, ACTUATOR, "Slave"), (det, DETECTOR, "Master")):
        module.child("name").setValue(name)
        module.child("controller", "controller_ID").setValue(CONTROLLER_ID)
        module.child("controller", "controller_status").setValue(status)
        module.child("info", "init").setValue(False)   # initialized below, the detector first (it opens the tagger)
    manager.save_settings_slot(path)
    return path


def _init(module, what: str) -> None:
    inits = []
    module.init_signal.connect(inits.append)
    module.init_hardware_ui(True)
    _pump_until(lambda: inits, 30, f"the {what} to be initialized")
    if inits != [True]:
        raise RuntimeError(f"the {what} could not be initialized")


def run_scan(out: Path, step_s: float, span_ps: float, points: int):
    """Run the scan; returns (delays_ps, counts, accidentals_hz, truth source, h5 path)."""
    from pymodaq_gui.h5modules.saving import H5SaverBase
    from pymodaq_gui.qt_utils import mkQApp
    from pymodaq.dashboard import create_load_dashboard
    from pymodaq.extensions.scan.daq_scan import DAQScan
    from pymodaq.utils.gui_utils.loader_utils import create_extension
    from pymodaq.utils.managers.experiment.experiment_manager import ExperimentManager
    from qtpy import QtCore, QtWidgets

    from .hardware.simulator.photon_pairs import hom_source

    mkQApp("timetagger-hom-demo")
    out.mkdir(parents=True, exist_ok=True)
    base_path = next(p for p in H5SaverBase.params if p["name"] == "base_path")
    base_path["value"] = str(out.resolve())     # DAQ_Scan's h5 file goes to out/, not the configured default
    shared_ui, dashboard = create_load_dashboard(show_dashboard=False)
    win_ext = scan = None
    try:
        applied = []
        dashboard.experiment_manager.applied_entry.connect(applied.append)
        dashboard.experiment_manager.execute_entry(_write_experiment(out / f"{EXPERIMENT}.xml"))
        _pump_until(lambda: applied, 30, "the experiment to be loaded")
        stage, det = dashboard.actuators_modules[0], dashboard.detector_modules[0]
        s = det.settings.child("detector_settings")
        s.child("address").setValue("sim:hom")
        s.child("integration_s").setValue(step_s)
        _init(det, "Coincidences detector")
        # the Slave gets the Master's open tagger, as the Dashboard's loader passes it
        stage.controller_and_thread.controller = det.controller_and_thread.controller
        stage.controller_and_thread.thread = det.controller_and_thread.thread
        _init(stage, "delay stage")
        src = hom_source(det.controller_and_thread.controller.tagger)

        win_ext, scan = create_extension(dashboard, DAQScan, show_extension=False)
        scan.override_popups(False)
        scan.modules_manager.selected_actuators_name = [ACTUATOR]
        scan.modules_manager.selected_detectors_name = [DETECTOR]
        scan.settings.child("scan_options", "scan_average").setValue(1)
        scan.scanner.set_scan_type_and_subtypes("Scan1D", "Linear")
        sc = scan.scanner.scanner.settings
        sc.child("start").setValue(-span_ps)
        sc.child("stop").setValue(span_ps)
        sc.child("step").setValue(2 * span_ps / (points - 1))

        steps, done = [], []

        def on_step(dte):
            # the stage's position during this step's capture (the truth), and what DAQ_Scan received
            steps.append((src.delay_ps, dte))
        scan.modules_manager.det_done_signal.connect(on_step)
        scan.scan_done_signal.connect(lambda: done.append(True))
        scan.do_scan()
        try:
            _pump_until(lambda: done, 60 + points * (step_s + 1), "the end of the scan")
        except BaseException:
            scan.stop_scan()
            raise
        delays, counts, acc = [], [], []
        for delay, dte in steps:
            d = dte.get_data_from_name("Coincidences")
            i_rate, i_acc = d.labels.index("1+2 rate"), d.labels.index("1+2 accidentals")
            duration = float(d.capture_duration_s)
            delays.append(delay)
            counts.append(int(round(d.data[i_rate][0] * duration)))   # rate = counts / exact capture window
            acc.append(d.data[i_acc][0])
        h5 = Path(scan.h5saver.settings["current_h5_file"])
        scan.h5_manager.close_file()
        return np.array(delays), np.array(counts), float(np.mean(acc)), src, h5
    finally:
        try:
            if scan is not None:
                scan.quit_fun()
                QtWidgets.QApplication.processEvents()
        finally:
            dashboard.quit_fun()
            for w in [shared_ui.parent, dashboard.tree] + ([win_ext.mainwindow] if win_ext is not None else []):
                w.close()
                w.deleteLater()
            QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)
            QtWidgets.QApplication.processEvents()
            ExperimentManager.remove_experiment_related_files(EXPERIMENT)


def plot(delays, counts, step_s, fit, truth, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    ax.errorbar(delays, counts / step_s, yerr=np.sqrt(np.maximum(counts, 1)) / step_s, fmt="o", ms=3,
                color="tab:blue", label="coincidences 1+2 (DAQ_Scan), ±√N")
    fine = np.linspace(delays.min(), delays.max(), 400)
    ax.plot(fine, fit.model(fine, 1.0), color="tab:red",
            label=f"fit: V = {fit.visibility:.3f} ± {fit.visibility_sigma:.3f}, "
                  f"w = {fit.width_ps:.2f} ± {fit.width_sigma_ps:.2f} ps")
    ax.set_xlabel("delay stage (ps)")
    ax.set_ylabel("coincidence rate (Hz)")
    ax.set_title(f"Hong-Ou-Mandel dip, simulated set-up V = {truth.indistinguishability}, "
                 f"τ_c = {truth.coherence_time_ps} ps", fontsize=9)
    ax.set_ylim(bottom=0)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="demo hom", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="out", help="folder for the PNG, CSV and the scan's h5 file (default: out)")
    p.add_argument("--step-s", type=float, default=0.1, help="integration per scan step, s (default 0.1)")
    p.add_argument("--span-ps", type=float, default=6.0, help="scan from -span to +span ps (default 6)")
    p.add_argument("--points", type=int, default=25, help="scan steps (default 25)")
    args = p.parse_args(argv)
    if args.points < 5 or args.step_s <= 0 or args.span_ps <= 0:
        p.error("--points must be >= 5, --step-s and --span-ps > 0")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from .hom_fit import fit_hom_dip

    out = Path(args.out)
    delays, counts, acc_hz, truth, h5 = run_scan(out, args.step_s, args.span_ps, args.points)
    fit = fit_hom_dip(delays, counts, args.step_s, offset_hz=acc_hz)
    png, csv = out / "hom_dip.png", out / "hom_dip.csv"
    plot(delays, counts, args.step_s, fit, truth, png)
    np.savetxt(csv, np.column_stack([delays, counts, np.full(delays.size, args.step_s)]), delimiter=",",
               header="delay_ps,coincidences,exposure_s", comments="")
    print(f"DAQ_Scan: {len(delays)} steps of {args.step_s:g} s, h5 file {h5}")
    print(f"visibility V = {fit.visibility:.4f} ± {fit.visibility_sigma:.4f} (set-up: {truth.indistinguishability})")
    print(f"dip width w = {fit.width_ps:.3f} ± {fit.width_sigma_ps:.3f} ps (set-up: {truth.coherence_time_ps} ps)")
    print(f"centre = {fit.centre_ps:.3f} ± {fit.centre_sigma_ps:.3f} ps; accidentals {acc_hz:.1f} Hz (fixed offset); "
          f"fit valid: {fit.valid}")
    print(f"wrote {png.resolve()} and {csv.resolve()}")
    return 0 if fit.valid else 1


if __name__ == "__main__":
    sys.exit(main())
