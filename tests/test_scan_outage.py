"""A short outage of the remote client does not end a DAQ_Scan on the main PC (a scan that survives a blip).

What a user meets: DAQ_Scan over 10 steps with our 0D TCP server plugin as detector and the headless client
serving count rates of the simulator's test signal. After 3 steps the client dies (kill, as a crash or a
pulled cable would end it) and is started again 3 s later, longer than a step takes. The grab of the next step
waits for it (up to *Grab timeout*) instead of failing: the scan ends with 10 steps of real data, none NaN,
each integrated exactly ``integration_s``, the steps after the outage measured by the restarted client.
On the code before the fix the scan stopped after the 3 steps.
"""
import time

import numpy as np
import pytest

pytest.importorskip("PySide6.QtStateMachine",
                    reason="PyMoDAQ's Dashboard and DAQ_Scan need QtStateMachine (PySide6-Addons)")
pytest.importorskip("pymodaq_plugins_mock", reason="the scan moves the Mock actuator of pymodaq_plugins_mock")

from tests.support.processes import Client, free_port, pump_until  # noqa: E402
from tests.support.scankit import close_all, init_detector, load_experiment, open_scan, write_experiment  # noqa: E402

pytestmark = pytest.mark.timeout(240)

EXPERIMENT = "pytest_timetagger_scan_outage"
INTEGRATION_S = 0.05
RATE_HZ = 800_000.0  # the simulator's built-in test signal on the Ultra
N_STEPS = 10
KILL_AFTER = 3
OUTAGE_S = 3.0  # longer than a scan step: the next grab is asked for while no client is there


def test_a_scan_survives_a_client_restart(tmp_path, monkeypatch):
    from pymodaq_gui.qt_utils import mkQApp
    from qtpy import QtCore
    from pymodaq_gui.h5modules.saving import H5SaverBase
    from pymodaq.dashboard import create_load_dashboard
    from pymodaq.utils.managers.experiment.experiment_manager import ExperimentManager

    mkQApp("tests")
    base_path = next(p for p in H5SaverBase.params if p["name"] == "base_path")
    monkeypatch.setitem(base_path, "value", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    port = free_port()
    client_args = ("--measurement", "countrate", "--channels", "1", "--test-signal", "1",
                   "--integration-s", str(INTEGRATION_S))
    shared_ui, dashboard = create_load_dashboard(show_dashboard=False)
    win_ext = scan = client = None
    try:
        experiment = write_experiment(tmp_path / f"{EXPERIMENT}.xml", "Stage", "TT", "DAQ0D",
                                      "TimeTaggerTCPServer")
        stage, det = load_experiment(dashboard, experiment, "Stage", "TT")
        s = det.settings.child("detector_settings")
        s.child("socket_ip").setValue("127.0.0.1")
        s.child("port_id").setValue(port)
        s.child("grab_timeout_s").setValue(30.0)  # the longest outage a step may wait out
        init_detector(det)
        client = Client(port, *client_args, tmp_path=tmp_path)
        pump_until(lambda: s.child("settings_client").children(), 60,
                   "the client connected and mirrored")

        win_ext, scan = open_scan(dashboard, "Stage", "TT", 0.0, N_STEPS - 1.0, 1.0)
        assert scan.scanner.n_steps == N_STEPS
        steps, done, killed, restarted = [], [], [], []

        def restart():
            restarted.append(time.time())
            client.start()

        def on_step(dte):
            steps.append(dte)
            if len(steps) == KILL_AFTER:
                killed.append(time.time())
                client.kill()  # the client dies between two steps (a step takes < 1 s here) ...
                QtCore.QTimer.singleShot(int(OUTAGE_S * 1000), restart)  # ... and is back later

        scan.modules_manager.det_done_signal.connect(on_step)
        scan.scan_done_signal.connect(lambda: done.append(True))
        scan.do_scan()
        try:
            pump_until(lambda: done, 150, f"the end of the scan\n{client.output()[-3000:]}")
        except BaseException:
            scan.stop_scan()
            raise

        assert len(steps) == N_STEPS, [str(x) for x in steps]
        stamps = []
        for i, dte in enumerate(steps):
            dwa = dte.get_data_from_name("Countrate")
            assert dwa is not None, f"step {i}: no count rates in {dte}"
            value = float(dwa[0][0])
            assert np.isfinite(value), f"step {i}: NaN"
            assert value == pytest.approx(RATE_HZ, abs=1 / INTEGRATION_S), f"step {i}"
            assert dwa.capture_duration_s == pytest.approx(INTEGRATION_S, abs=1e-9), f"step {i}"
            stamps.append(dwa.timestamp)
        # the step after the kill waited out the outage (it was asked for while no client was there) and
        # every later step was measured by the restarted client
        assert restarted and all(t > restarted[0] for t in stamps[KILL_AFTER:]), (stamps, restarted)
        assert stamps[KILL_AFTER - 1] < killed[0]
        assert client.output().count("connected to") >= 2, client.output()[-3000:]
        scan.h5_manager.close_file()
    finally:
        close_all(shared_ui, dashboard, win_ext, scan)
        ExperimentManager.remove_experiment_related_files(EXPERIMENT)
        if client is not None and client.proc.poll() is None:
            client.stop()
