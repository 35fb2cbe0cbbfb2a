"""End to end on loopback: the TimeTaggerTCPServer plugins <-> the standalone client in a real subprocess."""
import subprocess
import time

import numpy as np
import pytest

from pymodaq.utils.plugin_testing import make_detector, wait_for_signal
from qtpy import QtWidgets

from tests.support.processes import CLIENT, Client, pump
from tests.support.viewers import grab

from pymodaq_plugins_timetagger.settings import default
from pymodaq_plugins_timetagger.daq_viewer_plugins.plugins_0D.daq_0Dviewer_TimeTaggerTCPServer import \
    DAQ_0DViewer_TimeTaggerTCPServer
from pymodaq_plugins_timetagger.daq_viewer_plugins.plugins_1D.daq_1Dviewer_TimeTaggerTCPServer import \
    DAQ_1DViewer_TimeTaggerTCPServer


def wait_clients(det, n, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        QtWidgets.QApplication.processEvents()
        if len(det.controller.clients()) >= n and all(c.infos for c in det.controller.clients()):
            pump(0.1)
            return det.controller.clients()
        time.sleep(0.01)
    raise AssertionError(f"{n} client(s) did not connect within {timeout} s")


def wait_no_client(det, timeout=10.0):
    deadline = time.monotonic() + timeout
    while det.controller.clients() and time.monotonic() < deadline:
        QtWidgets.QApplication.processEvents()
        time.sleep(0.01)
    assert not det.controller.clients()


@pytest.fixture
def server():
    made = []

    def _make(cls, **settings):
        settings.setdefault("socket_ip", "127.0.0.1")
        settings.setdefault("port_id", 0)  # any free port: tests never collide
        settings.setdefault("grab_timeout_s", 10.0)
        det = make_detector(cls, **settings)
        assert det.initialized, det.init_info
        made.append(det)
        return det

    yield _make
    for det in made:
        det.close()


@pytest.fixture
def clients(tmp_path):
    running = []

    def _start(port, *args, name="client"):
        c = Client(port, *args, tmp_path=tmp_path, name=name)
        running.append(c)
        return c

    yield _start
    for c in running:
        if c.proc.poll() is None:
            c.stop()


def test_countrate_0d_over_the_bridge(server, clients):
    det = server(DAQ_0DViewer_TimeTaggerTCPServer)
    port = det.controller.port
    assert det.init_info == f"listening on 127.0.0.1:{port}"
    clients(port, "--measurement", "countrate", "--channels", "6,7", "--test-signal", "6,7",
            "--integration-s", "0.2")
    (c,) = wait_clients(det, 1)
    assert c.dialect == "pymodaq5" and c.client_type == "GRABBER"
    assert c.infos["simulated"] == "True" and c.infos["serial"] == "SIM-ULTRA-0001"
    dte = grab(det)
    dwa = dte.get_data_from_name("Countrate")
    assert dwa.dim.name == "Data0D" and dwa.units == "Hz" and dwa.labels == ["ch6", "ch7"]
    np.testing.assert_allclose([d[0] for d in dwa.data], 800e3, atol=1 / 0.2)
    assert dwa.capture_duration_s == pytest.approx(0.2) and "SIMULATED" in dwa.device
    # the client's settings and infos are mirrored
    assert det.settings["settings_client", "measurement"] == "countrate"
    assert det.settings["infos", "serial"] == "SIM-ULTRA-0001"
    assert "#1" in det.settings["clients"]
    # the optional capture-duration dataset, from the duration the client reports
    det.settings.child("duration_channel").setValue(True)
    duration = grab(det).get_data_from_name("capture duration")
    assert duration.units == "s" and duration.data[0][0] == pytest.approx(0.2)
    # the Connected clients line counts the grabs served
    deadline = time.monotonic() + 10
    while "served 2" not in det.settings["clients"] and time.monotonic() < deadline:
        pump(0.05)
    assert "served 2" in det.settings["clients"], det.settings["clients"]


def test_correlation_1d_axis_units_and_set_info_round_trip(server, clients):
    det = server(DAQ_1DViewer_TimeTaggerTCPServer)
    clients(det.controller.port, "--measurement", "correlation", "--binwidth-ps", "500", "--n-bins", "201",
            "--integration-s", "1.0")
    wait_clients(det, 1)
    dte = grab(det)
    g2 = dte.get_data_from_name("Correlation")
    axis = g2.get_axis_from_index(0)[0]
    assert axis.label == "delay" and axis.units == "s" and g2.shape == (201,)
    assert axis.get_data()[101] - axis.get_data()[100] == pytest.approx(500e-12)
    g2_0 = dte.get_data_from_name("g2(0)").data[0][0]
    assert 0 <= g2_0 < 0.5  # the simulated single emitter, seen through the bridge (its zero bin may be empty)
    # edit the mirrored binwidth on the server side -> set_info -> the client applies and answers
    p = det.settings.child("settings_client", "binwidth_ps")
    p.setValue(1000)
    det.commit_settings(p)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        pump(0.05)
        if det.controller.clients()[0].infos.get("error"):
            break
        g = grab(det)
        ax = g.get_data_from_name("Correlation").get_axis_from_index(0)[0].get_data()
        if ax[1] - ax[0] == pytest.approx(1000e-12):
            break
    assert ax[1] - ax[0] == pytest.approx(1000e-12)
    assert det.settings["settings_client", "binwidth_ps"] == 1000


def test_set_info_with_a_bad_value_is_refused_by_the_client(server, clients):
    det = server(DAQ_1DViewer_TimeTaggerTCPServer)
    clients(det.controller.port, "--measurement", "correlation", "--integration-s", "0.1")
    wait_clients(det, 1)
    p = det.settings.child("settings_client", "n_bins")
    p.setValue(0)
    det.commit_settings(p)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "set_info_error" not in det.controller.clients()[0].infos:
        pump(0.05)
    infos = det.controller.clients()[0].infos
    # a refused set_info is 'set_info_error', never 'error' (which answers a grab)
    assert "n_bins must be between 1" in infos["set_info_error"] and "error" not in infos
    pump(0.2)
    assert det.settings["settings_client", "n_bins"] == default("correlation", "n_bins")  # the client's value, shown back
    assert grab(det).get_data_from_name("Correlation").shape == (default("correlation", "n_bins"),)


def test_classic_dialect_with_x_axis(server, clients):
    det = server(DAQ_1DViewer_TimeTaggerTCPServer)
    clients(det.controller.port, "--protocol", "classic", "--measurement", "histogram",
            "--binwidth-ps", "100", "--n-bins", "300", "--integration-s", "0.2")
    (c,) = wait_clients(det, 1)
    assert c.dialect == "classic"
    dte = grab(det)
    (dwa,) = dte.data
    axis = dwa.get_axis_from_index(0)[0]
    assert dwa.shape == (300,) and axis.label == "time" and axis.units == "s"
    assert axis.get_data()[1] == pytest.approx(100e-12)
    assert dwa.data[0].sum() > 100  # photons after the sync


def test_two_clients_and_choosing_one(server, clients):
    det = server(DAQ_0DViewer_TimeTaggerTCPServer)
    port = det.controller.port
    clients(port, "--measurement", "countrate", "--channels", "6", "--test-signal", "6",
            "--integration-s", "0.1", "--address", "sim", name="a")
    wait_clients(det, 1)
    clients(port, "--measurement", "countrate", "--channels", "5", "--integration-s", "0.1",
            "--address", "sim:tt20", name="b")
    first, second = wait_clients(det, 2)
    assert grab(det).data[0].labels == ["ch6"]  # 'first connected'
    det.settings.child("client").setValue(second.label)
    det.commit_settings(det.settings.child("client"))
    d = grab(det).data[0]
    assert d.labels == ["ch5"] and "Time Tagger 20" in d.device
    assert det.settings["infos", "model"] == "Time Tagger 20"


def test_no_client_is_an_error_not_mock_data(server):
    det = server(DAQ_0DViewer_TimeTaggerTCPServer, grab_timeout_s=0.5)  # a grab waits that long for a client
    statuses = []
    det.emit_status = statuses.append
    det.grab_data(1)
    with pytest.raises(Exception):
        wait_for_signal(det.dte_signal, lambda: None, timeout_ms=1500)
    texts = [str(s.attribute) for s in statuses if s.command == "update_status"]
    assert any("no client connected" in t for t in texts), texts


def test_client_killed_and_restarted(server, clients):
    det = server(DAQ_0DViewer_TimeTaggerTCPServer, grab_timeout_s=3.0)
    c = clients(det.controller.port, "--measurement", "countrate", "--channels", "5",
                "--integration-s", "0.1")
    wait_clients(det, 1)
    assert grab(det).data[0].capture_duration_s == pytest.approx(0.1)
    c.kill()
    wait_no_client(det)
    statuses = []
    det.emit_status = statuses.append
    det.grab_data(1)
    pump(3.5)  # a grab waits up to the grab timeout for a client to come back
    assert any("no client connected" in str(s.attribute) and "waited 3 s" in str(s.attribute) for s in statuses)
    c.start()
    wait_clients(det, 1)
    assert grab(det).data[0].capture_duration_s == pytest.approx(0.1)


def test_server_restarted(server, clients):
    det = server(DAQ_0DViewer_TimeTaggerTCPServer)
    port = det.controller.port
    c = clients(port, "--measurement", "countrate", "--channels", "5", "--integration-s", "0.1")
    wait_clients(det, 1)
    det.close()
    det2 = server(DAQ_0DViewer_TimeTaggerTCPServer, port_id=port)
    wait_clients(det2, 1)  # the client reconnected by itself
    assert grab(det2).data[0].capture_duration_s == pytest.approx(0.1)
    assert c.proc.poll() is None


def test_ctrl_c_frees_the_tagger_and_exits_cleanly(server, clients):
    det = server(DAQ_0DViewer_TimeTaggerTCPServer)
    c = clients(det.controller.port, "--measurement", "countrate", "--integration-s", "0.1")
    wait_clients(det, 1)
    assert c.stop() == 0
    out = c.output()
    assert "the Time Tagger is freed" in out and "Traceback" not in out
    assert "[timetagger-client] connected to 127.0.0.1" in out


def test_quit_from_the_server_ends_the_client(server, clients):
    det = server(DAQ_0DViewer_TimeTaggerTCPServer)
    c = clients(det.controller.port, "--measurement", "countrate", "--integration-s", "0.1")
    wait_clients(det, 1)
    det.controller.send_quit()
    assert c.proc.wait(10) == 0
    assert "asked the client to quit" in c.output()


def test_client_command_line_errors_name_the_option(tmp_path):
    out = subprocess.run([*CLIENT, "--measurement", "countrate", "--n-bins", "5"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2 and "--n-bins does not apply to the countrate measurement" in out.stderr
    out = subprocess.run([*CLIENT, "--channels", "1,x"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "--channels" in out.stderr


def test_the_client_never_imports_qt():
    from tests.support.isolation import QT, loaded
    client = ["pymodaq_plugins_timetagger.bridge.__main__", "pymodaq_plugins_timetagger.bridge.link",
              "pymodaq_plugins_timetagger.protocol.server"]
    assert loaded(client, QT + ("pymodaq", "pymodaq_gui")) == []