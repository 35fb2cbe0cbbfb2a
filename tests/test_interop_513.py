"""Interoperability with PyMoDAQ 5.1.13 (the last release with its own TCP server and remote viewer).

PyMoDAQ 5.1.13 runs in its own virtual environment (tests/interop/venv513.py creates it once, from the
package index); its server and its remote DAQ_Viewer run as subprocesses (tests/interop/pmq513_*.py),
with the two workarounds 5.1.13's server needs (see those scripts). Loopback only.
"""
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from pymodaq.utils.plugin_testing import grab_and_wait, make_detector
from qtpy import QtWidgets

from interop.venv513 import interop_python_or_skip
from pymodaq_plugins_timetagger.daq_viewer_plugins.plugins_1D.daq_1Dviewer_TimeTaggerTCPServer import \
    DAQ_1DViewer_TimeTaggerTCPServer

HERE = Path(__file__).parent / "interop"
pytestmark = pytest.mark.timeout(300)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_our_client_feeds_pymodaq_513_tcpserver(tmp_path):
    py = interop_python_or_skip()
    port = free_port()
    srv = subprocess.Popen([str(py), str(HERE / "pmq513_server.py"), "--port", str(port), "--grabs", "3",
                            "--timeout", "90", "--edit", "binwidth_ps=1000"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    client = None
    try:
        first = json.loads(srv.stdout.readline())
        assert first["event"] == "listening", first
        client = subprocess.Popen([sys.executable, "-m", "pymodaq_plugins_timetagger.bridge", "--host", "127.0.0.1",
                                   "--port", str(port), "--address", "sim", "--measurement", "correlation",
                                   "--binwidth-ps", "500", "--n-bins", "201", "--integration-s", "0.2",
                                   "--backoff-max-s", "0.3"],
                                  stdout=open(tmp_path / "client.log", "w"), stderr=subprocess.STDOUT)
        out, _ = srv.communicate(timeout=150)
    finally:
        srv.kill()
        if client is not None:
            client.terminate()
            client.wait(10)
    lines = [first] + json_lines(out)
    assert srv.returncode == 0, (lines[-1], (tmp_path / "client.log").read_text(encoding="utf-8", errors="replace")[-2000:])
    grabs = [line for line in lines if line["event"] == "grab"]
    assert len(grabs) == 3 and not any(g["mock"] for g in grabs)
    for g in grabs:
        names = [d["name"] for d in g["dte"]["data"]]
        assert names == ["Correlation", "g2(0)"]
        corr = g["dte"]["data"][0]
        assert corr["dim"] == "Data1D" and corr["axes"][0]["label"] == "delay"
        assert corr["axes"][0]["units"] == "s"
    # the server-side edit (set_info) was applied by our client: 1 ns bins in the later grabs
    ax = grabs[-1]["dte"]["data"][0]["axes"][0]
    assert ax["size"] == 201 and (ax["last"] - ax["first"]) / 200 == pytest.approx(1000e-12)
    infos = [line for line in lines if line["event"] == "infos"][0]
    assert "SIM-ULTRA-0001" in json.dumps(infos)


def test_pymodaq_513_remote_viewer_is_served_by_our_tcpserver():
    py = interop_python_or_skip()
    det = make_detector(DAQ_1DViewer_TimeTaggerTCPServer, socket_ip="127.0.0.1", port_id=0, grab_timeout_s=10.0)
    client = None
    try:
        assert det.initialized, det.init_info
        client = subprocess.Popen([str(py), str(HERE / "pmq513_client.py"), "--port", str(det.controller.port),
                                   "--detector", "Mock", "--daq-type", "DAQ1D", "--timeout", "60"],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        deadline = time.monotonic() + 60
        while not det.controller.clients() or not det.controller.clients()[0].settings_xml:
            QtWidgets.QApplication.processEvents()
            assert time.monotonic() < deadline, "PyMoDAQ 5.1.13's viewer did not connect"
            time.sleep(0.02)
        for _ in range(20):
            QtWidgets.QApplication.processEvents()
            time.sleep(0.01)
        first = grab_and_wait(det, 1, timeout_ms=15_000, live=False)
        second = grab_and_wait(det, 1, timeout_ms=15_000, live=False)
        for dte in (first, second):
            (dwa,) = dte.data
            assert dwa.name == "Mock1D" and dwa.dim.name == "Data1D" and len(dwa.data) == 2
            axis = dwa.get_axis_from_index(0)[0]
            # 5.1.13 sends its axis only with the first answer: the server keeps it for the next ones
            assert axis.label == "photon wavelength" and axis.units == "nm" and axis.size == dwa.size
            assert np.all(np.isfinite(dwa.data[0]))
        # its settings (Infos, bytes in 5.1.13) are mirrored
        assert "x_axis" in [c.name() for c in det.settings.child("settings_client").children()]
    finally:
        det.close()
        if client is not None:
            out, _ = client.communicate(timeout=60)
            ends = [line for line in json_lines(out) if line.get("event") == "end"]
            assert ends and ends[-1]["answers"] >= 2, out[-2000:]
