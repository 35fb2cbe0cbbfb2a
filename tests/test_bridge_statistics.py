"""The statistics cross the bridge: a real client process (the headless Time Tagger client, on the simulator)
serves a fitted correlation to the TimeTaggerTCPServer plugin, which gets the error bars, the fitted curve, the
g2(0) interval, the raw counts and the fit's 0D channels (the default, pymodaq5 dialect)."""
import numpy as np

from tests.support.viewers import grab
from tests.test_bridge_e2e import clients, server, wait_clients  # noqa: F401 (fixtures)

from pymodaq_plugins_timetagger.daq_viewer_plugins.plugins_1D.daq_1Dviewer_TimeTaggerTCPServer import \
    DAQ_1DViewer_TimeTaggerTCPServer


def test_errors_fit_and_figures_cross_the_bridge(server, clients):
    det = server(DAQ_1DViewer_TimeTaggerTCPServer)
    clients(det.controller.port, "--measurement", "correlation", "--integration-s", "0.5", "--g2-fit", "yes",
            "--raw-counts", "yes")
    wait_clients(det, 1)
    dte = grab(det)
    corr = dte.get_data_from_name("Correlation")
    assert corr.labels == ["g2 ch1-ch2", "g2 fit"]
    assert corr.errors is not None and np.all(corr.errors[0] > 0) and np.all(corr.errors[1] == 0)
    g2_0 = dte.get_data_from_name("g2(0)")
    assert g2_0.errors is not None and g2_0.errors[0][0] > 0
    assert dte.get_data_from_name("g2(0) interval").labels == ["g2(0) low", "g2(0) high"]
    assert dte.get_data_from_name("g2(0) raw counts").labels[0] == "singles ch1"
    fitted = dte.get_data_from_name("g2 fit")
    values = dict(zip(fitted.labels, (d[0] for d in fitted.data)))
    assert 0 <= values["g2(0)"] < 0.5 and values["τ_a σ (ns)"] > 0, values
