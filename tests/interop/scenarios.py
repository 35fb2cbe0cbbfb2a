"""The two interop scenarios, shared by the legs of older PyMoDAQ releases (5.1.13, 4.4.11).

* :func:`our_client_feeds_pymodaq_tcpserver`: that release's own TCPServer plugin in a headless DAQ_Viewer
  (``pmq513_server.py`` in the leg's venv) asks our client (``python -m pymodaq_plugins_timetagger.bridge``,
  simulated tagger, correlation) for three grabs and edits one of its settings (``set_info``);
* :func:`pymodaq_remote_viewer_is_served`: that release's own remote DAQ_Viewer (Mock 1D, "connect to TCP
  server", ``pmq513_client.py``) is served by our TimeTaggerTCPServer 1D plugin for two grabs.

Both assert what must hold in every release and return what the caller may check further. Loopback only.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.support.processes import free_port

from .venvs import leg_env

HERE = Path(__file__).parent


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def our_client_feeds_pymodaq_tcpserver(py: Path, protocol: str, tmp_path: Path) -> list:
    """Run the scenario; return the server script's JSON lines."""
    port = free_port()
    srv = subprocess.Popen([str(py), str(HERE / "pmq513_server.py"), "--port", str(port), "--grabs", "3",
                            "--timeout", "90", "--edit", "binwidth_ps=1000"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=leg_env())
    client = None
    log = tmp_path / "client.log"
    try:
        first = json.loads(srv.stdout.readline())
        assert first["event"] == "listening", first
        client = subprocess.Popen([sys.executable, "-m", "pymodaq_plugins_timetagger.bridge", "--host", "127.0.0.1",
                                   "--port", str(port), "--protocol", protocol, "--address", "sim",
                                   "--measurement", "correlation", "--binwidth-ps", "500", "--n-bins", "201",
                                   "--integration-s", "0.2", "--backoff-max-s", "0.3"],
                                  stdout=open(log, "w"), stderr=subprocess.STDOUT)
        out, _ = srv.communicate(timeout=150)
    finally:
        srv.kill()
        if client is not None:
            client.terminate()
            client.wait(10)
    lines = [first] + json_lines(out)
    assert srv.returncode == 0, (lines[-1], log.read_text(encoding="utf-8", errors="replace")[-2000:])
    grabs = [line for line in lines if line["event"] == "grab"]
    assert len(grabs) == 3 and not any(g["mock"] for g in grabs)
    for g in grabs:
        names = [d["name"] for d in g["dte"]["data"]]
        assert names == ["Correlation", "g2(0)", "g2(0) interval"]
        corr = g["dte"]["data"][0]
        assert corr["dim"] == "Data1D" and corr["axes"][0]["label"] == "delay"
        assert corr["axes"][0]["units"] == "s"
    # the server-side edit (set_info) was applied by our client: 1 ns bins in the later grabs
    ax = grabs[-1]["dte"]["data"][0]["axes"][0]
    assert ax["size"] == 201 and (ax["last"] - ax["first"]) / 200 == pytest.approx(1000e-12)
    infos = [line for line in lines if line["event"] == "infos"][0]
    assert "SIM-ULTRA-0001" in json.dumps(infos)
    return lines


def pymodaq_remote_viewer_is_served(py: Path) -> list:
    """Run the scenario; return what our plugin's bridge server knew of its clients after the grabs."""
    from pymodaq.utils.plugin_testing import grab_and_wait, make_detector
    from qtpy import QtWidgets

    from pymodaq_plugins_timetagger.daq_viewer_plugins.plugins_1D.daq_1Dviewer_TimeTaggerTCPServer import \
        DAQ_1DViewer_TimeTaggerTCPServer

    det = make_detector(DAQ_1DViewer_TimeTaggerTCPServer, socket_ip="127.0.0.1", port_id=0, grab_timeout_s=10.0)
    client = None
    try:
        assert det.initialized, det.init_info
        client = subprocess.Popen([str(py), str(HERE / "pmq513_client.py"), "--port", str(det.controller.port),
                                   "--detector", "Mock", "--daq-type", "DAQ1D", "--timeout", "60"],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=leg_env())
        deadline = time.monotonic() + 60
        while not det.controller.clients() or not det.controller.clients()[0].settings_xml:
            QtWidgets.QApplication.processEvents()
            assert time.monotonic() < deadline, "PyMoDAQ's remote viewer did not connect"
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
            # the remote viewer sends its axis only with the first answer: the server keeps it for the next ones
            assert axis.label == "photon wavelength" and axis.units == "nm" and axis.size == dwa.size
            assert np.all(np.isfinite(dwa.data[0]))
        # its settings (Infos) are mirrored
        assert "x_axis" in [c.name() for c in det.settings.child("settings_client").children()]
        return det.controller.clients()
    finally:
        det.close()
        if client is not None:
            out, _ = client.communicate(timeout=60)
            ends = [line for line in json_lines(out) if line.get("event") == "end"]
            assert ends and ends[-1]["answers"] >= 2, out[-2000:]
