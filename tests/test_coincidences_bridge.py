"""Coincidences served by the standalone client (a real subprocess) to the TimeTaggerTCPServer plugin on loopback."""
import pytest

from tests.support.viewers import grab
from tests.test_bridge_e2e import clients, server, wait_clients  # noqa: F401 (fixtures)

from pymodaq_plugins_timetagger.daq_viewer_plugins.plugins_0D.daq_0Dviewer_TimeTaggerTCPServer import \
    DAQ_0DViewer_TimeTaggerTCPServer


def test_coincidences_over_the_bridge(server, clients):  # noqa: F811
    det = server(DAQ_0DViewer_TimeTaggerTCPServer)
    clients(det.controller.port, "--address", "sim:pairs", "--measurement", "coincidences", "--groups", "1,2;1,2,3",
            "--window-ps", "1000", "--integration-s", "0.2")
    wait_clients(det, 1)
    dte = grab(det)
    coinc = dte.get_data_from_name("Coincidences")
    assert coinc.units == "Hz" and coinc.labels[:2] == ["1+2 rate", "1+2 rate sigma"]
    assert coinc.data[0][0] == pytest.approx(50e3, rel=0.1)           # 1 M pairs/s x 0.2 x 0.25
    assert dte.get_data_from_name("CAR") is not None and dte.get_data_from_name("Singles") is not None
    assert coinc.capture_duration_s == pytest.approx(0.2)
    assert det.settings["settings_client", "measurement"] == "coincidences"
