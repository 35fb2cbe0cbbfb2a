"""Issue 13: a Time Tagger viewer plugin in a DAQ_Viewer on the "remote PC" serves a TCPServer viewer on the main
PC through its "Remote server" group. Two real processes on 127.0.0.1: this one (the main PC's DAQ_Viewer with
the TCPServer plugin, UI offscreen) and tests/support/remote_viewer.py (the remote PC's DAQ_Viewer).
"""
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from pymodaq_gui.qt_utils import mkQApp

from pymodaq.control_modules.daq_viewer_ui.viewer_selector import SelectedModule
from pymodaq.control_modules.enums import DAQTypesEnum
from pymodaq.utils.plugin_testing import wait_for_signal

from tests.support.processes import GROUP, free_port, pump, pump_until, stop_process

pytestmark = pytest.mark.timeout(240)

REMOTE_VIEWER = Path(__file__).parent / "support" / "remote_viewer.py"


class RemoteViewer:
    """tests/support/remote_viewer.py as a child; its JSON lines read from a file."""

    def __init__(self, tmp_path, port, *args, plugin="TimeTaggerCorrelation", daq_type="DAQ1D", name="remote"):
        self.log = tmp_path / f"{name}.jsonl"
        self.cmd = [sys.executable, str(REMOTE_VIEWER), plugin, daq_type, str(port), *args]
        self.start()

    def start(self):
        self._out = open(self.log, "a")
        self.proc = subprocess.Popen(self.cmd, stdout=self._out, stderr=subprocess.STDOUT, **GROUP)

    def lines(self):
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def text(self):
        return self.log.read_text(errors="replace")[-4000:]

    def locals(self):
        return [x for x in self.lines() if "local" in x]

    def statuses(self):
        return [x["status"] for x in self.lines() if "status" in x]

    def stop(self):
        code = stop_process(self.proc, timeout=15)
        self._out.close()
        return code

    def kill(self):
        self.proc.kill()
        self.proc.wait(10)
        self._out.close()


def make_server(port, title="main"):
    mkQApp("tests")
    from pymodaq.utils.gui_utils.loader_utils import create_load_daq_viewer
    shared_ui, viewer = create_load_daq_viewer(title=title)
    shared_ui.show()
    viewer.detector = SelectedModule(DAQTypesEnum["DAQ1D"], "TimeTaggerTCPServer")
    for name, value in (("socket_ip", "127.0.0.1"), ("port_id", port), ("grab_timeout_s", 20.0)):
        viewer.settings.child("detector_settings", name).setValue(value)
    viewer.statuses = []
    viewer.status_sig.connect(viewer.statuses.append)
    assert wait_for_signal(viewer.init_signal, lambda: viewer.init_hardware(True), 20_000), viewer.statuses
    pump(0.3)
    return viewer


def mirrored(viewer):
    """{name: value} of the visible mirrored settings (groups as dicts)."""
    def walk(g):
        return {c.name(): (walk(c) if c.type() == "group" else c.value())
                for c in g.children() if c.opts.get("visible", True)}
    return walk(viewer.settings.child("detector_settings", "settings_client"))


def snap(viewer):
    dte = wait_for_signal(viewer.grab_done_signal, viewer.snap, 30_000)
    assert dte is not None, viewer.statuses[-5:]
    return dte


def check_g2(dte, integration_s):
    names = [d.name for d in dte.data]
    assert names[:2] == ["Correlation", "g2(0)"], names
    g2, g20 = dte.data[0], dte.data[1]
    assert g2.dim.name == "Data1D" and g20.dim.name == "Data0D"
    axis = g2.axes[0]
    assert axis.label == "delay" and axis.units == "s"
    n = g2.data[0].size
    assert axis.get_data().size == n and np.isclose(np.mean(axis.get_data()), 0.0, atol=abs(axis.get_data()[1]
                                                                                           - axis.get_data()[0]))
    assert np.isfinite(g20.data[0][0])
    assert g2.capture_duration_s == pytest.approx(integration_s)


@pytest.fixture
def cleanup():
    things = []
    yield things
    for t in things:
        try:
            if isinstance(t, RemoteViewer):
                if t.proc.poll() is None:
                    t.stop()
            else:
                t.quit_fun()
        except Exception:
            pass
    pump(0.2)


def test_correlation_viewer_serves_a_tcpserver_viewer(tmp_path, cleanup):
    port = free_port()
    server = make_server(port)
    cleanup.append(server)
    remote = RemoteViewer(tmp_path, port, "--local-grabs", "--set", "integration_s=0.2")
    cleanup.append(remote)
    pump_until(lambda: mirrored(server).get("integration_s") == 0.2
               and "binwidth_ps" in mirrored(server).get("measurement", {}), 60,
               f"the remote viewer's settings mirrored\n{remote.text()}")
    settings = mirrored(server)
    assert settings["address"] == "sim" and "Time Tagger" in settings["device"]
    assert settings["measurement"]["binwidth_ps"] > 0
    # the main PC's grab: g2 with its axis and g2(0), exactly integration_s; the remote user grabs meanwhile
    pump_until(lambda: len(remote.locals()) >= 2, 30, f"local grabs on the remote PC\n{remote.text()}")
    for _ in range(3):
        check_g2(snap(server), 0.2)
    n_local = len(remote.locals())
    assert all(x["local"] == pytest.approx(0.2) for x in remote.locals())
    # set_info from the main PC: applied on the remote PC, echoed (the mirror shows the applied value)
    server.settings.child("detector_settings", "settings_client", "integration_s").setValue(0.3)
    pump_until(lambda: remote.locals() and remote.locals()[-1]["integration_s"] == 0.3, 30,
               f"integration_s applied on the remote PC\n{remote.text()}")
    check_g2(snap(server), 0.3)
    assert mirrored(server)["integration_s"] == 0.3
    # a refused value: the mirror shows the value still applied
    server.settings.child("detector_settings", "settings_client", "measurement", "n_bins").setValue(0)
    pump_until(lambda: mirrored(server)["measurement"]["n_bins"] != 0, 30, "the refused n_bins put back")
    check_g2(snap(server), 0.3)
    assert len(remote.locals()) > n_local  # local grabs went on, none lost
    assert any("connected to 127.0.0.1" in s for s in remote.statuses())

    # a restart of the remote side: the main PC's next grab gets the restarted viewer's data
    remote.kill()
    remote.start()
    pump_until(lambda: any(x.get("ready") for x in remote.lines()[-50:]) and len(remote.locals()) > n_local + 5,
               60, f"the restarted remote viewer\n{remote.text()}")
    check_g2(snap(server), 0.2)

    # a restart of the main side: the remote viewer reconnects by itself (backoff) and serves the new server
    server.quit_fun()
    cleanup.remove(server)
    pump(1.0)
    server = make_server(port, title="main2")
    cleanup.append(server)
    pump_until(lambda: mirrored(server).get("integration_s") == 0.2, 30,
               f"the remote viewer reconnected\n{remote.text()}")
    check_g2(snap(server), 0.2)
    # Quit on the remote PC closes the link: the server sees its client leave
    from tests.support.viewers import server_of
    assert server_of(server).clients()
    remote.stop()
    pump_until(lambda: not server_of(server).clients(), 15, "the link closed by the remote viewer's Quit")
    assert "exited" in remote.text()


def test_correlation_viewer_serves_pymodaq_513_tcpserver(tmp_path, cleanup):
    """The same plugin against PyMoDAQ 5.1.13's own TCPServer (its venv; the documented accept workaround)."""
    from tests.interop.venv513 import interop_python_or_skip
    py = interop_python_or_skip()
    port = free_port()
    here = Path(__file__).parent / "interop"
    srv = subprocess.Popen([str(py), str(here / "pmq513_server.py"), "--port", str(port), "--grabs", "3",
                            "--timeout", "120", "--grab-timeout", "20", "--edit", "measurement/binwidth_ps=1000"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        first = json.loads(srv.stdout.readline())
        assert first["event"] == "listening", first
        remote = RemoteViewer(tmp_path, port, "--local-grabs", "--set", "integration_s=0.2",
                              "--set", "measurement/binwidth_ps=500", "--set", "measurement/n_bins=201")
        cleanup.append(remote)
        out, _ = srv.communicate(timeout=180)
    finally:
        srv.kill()
    lines = [first] + [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    assert srv.returncode == 0, (lines[-1], remote.text())
    infos = [x for x in lines if x["event"] == "infos"][0]
    assert infos["settings_client"]["integration_s"] == 0.2
    assert infos["settings_client"]["measurement"]["n_bins"] == 201
    grabs = [x for x in lines if x["event"] == "grab"]
    assert len(grabs) == 3 and not any(g["mock"] for g in grabs)
    for g in grabs:
        corr, g20 = g["dte"]["data"][:2]
        assert [corr["name"], g20["name"]] == ["Correlation", "g2(0)"]
        assert corr["dim"] == "Data1D" and corr["axes"][0]["label"] == "delay" and corr["axes"][0]["units"] == "s"
        assert corr["extra_attributes"]["capture_duration_s"] == pytest.approx(0.2)
    # set_info of 5.1.13 applied in the remote viewer: 1 ns bins in the later grabs, and echoed to its mirror
    ax = grabs[-1]["dte"]["data"][0]["axes"][0]
    assert ax["size"] == 201 and (ax["last"] - ax["first"]) / 200 == pytest.approx(1000e-12)
    final = [x for x in lines if x["event"] == "final"][0]
    assert final["settings_client"]["measurement"]["binwidth_ps"] == 1000
    assert len(remote.locals()) >= 2  # the remote user's grabs went on meanwhile
    remote.stop()
    assert "exited" in remote.text()


def test_daq_scan_on_the_main_pc_over_the_remote_viewer(tmp_path, monkeypatch, cleanup):
    """DAQ_Scan on the main PC (Dashboard, Mock actuator, our 0D TCPServer) grabs the count rates of a
    Countrate DAQ_Viewer on the remote PC: 5 steps, each exactly integration_s."""
    pytest.importorskip("PySide6.QtStateMachine", reason="PyMoDAQ's Dashboard and DAQ_Scan need QtStateMachine")
    pytest.importorskip("pymodaq_plugins_mock", reason="the scan moves the Mock actuator of pymodaq_plugins_mock")
    from pymodaq_gui.h5modules.saving import H5SaverBase
    from pymodaq.dashboard import create_load_dashboard
    from pymodaq.utils.managers.experiment.experiment_manager import ExperimentManager
    from tests.support.scankit import (close_all, init_detector, load_experiment, open_scan, run_scan,
                                       write_experiment)

    mkQApp("tests")
    base_path = next(p for p in H5SaverBase.params if p["name"] == "base_path")
    monkeypatch.setitem(base_path, "value", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    integration_s, positions, experiment_name = 0.05, [0.0, 1.0, 2.0, 3.0, 4.0], "pytest_timetagger_remote_scan"
    port = free_port()
    shared_ui, dashboard = create_load_dashboard(show_dashboard=False)
    win_ext = scan = None
    try:
        experiment = write_experiment(tmp_path / f"{experiment_name}.xml", "Stage", "TT", "DAQ0D",
                                      "TimeTaggerTCPServer")
        stage, det = load_experiment(dashboard, experiment, "Stage", "TT")
        s = det.settings.child("detector_settings")
        s.child("socket_ip").setValue("127.0.0.1")
        s.child("port_id").setValue(port)
        init_detector(det)
        remote = RemoteViewer(tmp_path, port, "--set", f"integration_s={integration_s}",
                              plugin="TimeTaggerCountrate", daq_type="DAQ0D")
        cleanup.append(remote)
        # the mirror adds the remote settings one by one (a queued signal each): look until integration_s is there
        pump_until(lambda: any(c.name() == "integration_s" and c.value() == integration_s
                               for c in s.child("settings_client").children()), 60,
                   f"the remote Countrate viewer mirrored\n{remote.text()}")
        win_ext, scan = open_scan(dashboard, "Stage", "TT", positions[0], positions[-1], 1.0)
        steps = run_scan(scan, 60)
        assert len(steps) == len(positions)
        for i, dte in enumerate(steps):
            dwa = dte.get_data_from_name("Countrate")
            assert dwa is not None, f"step {i}: {dte}"
            assert dwa.capture_duration_s == pytest.approx(integration_s, abs=1e-9), f"step {i}"
            assert dwa.units == "Hz" or "Hz" in str(dwa.units)
        scan.h5_manager.close_file()
    finally:
        close_all(shared_ui, dashboard, win_ext, scan)
        ExperimentManager.remove_experiment_related_files(experiment_name)
