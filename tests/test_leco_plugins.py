"""Our Time Tagger plugins as LECO actors: the route for two PCs that both run the PyMoDAQ GUI.

PC "remote": a DAQ_Viewer running DAQ_1DViewer_TimeTaggerCorrelation (or the 0D count rates) on the
(simulated) Time Tagger, connected to a pyleco Coordinator as an actor (PyMoDAQ's own LECO settings of the
viewer). PC "main": PyMoDAQ's LECODirector plugin, here in the test process, drives it. Both "PCs" are
processes on 127.0.0.1.
"""
import time
from functools import partial

import numpy as np
import pytest

pytest.importorskip("pyleco", reason="LECO needs pyleco")
from pymodaq.utils.plugin_testing import grab_and_wait, make_detector  # noqa: E402

from tests.support.lecokit import directors  # noqa: E402

director_1d, director_0d = directors()

from tests.support.lecokit import HOST, WATCH_PARENT, Child, components, start_coordinator  # noqa: E402
from tests.support.processes import free_port, pump  # noqa: E402

pytestmark = pytest.mark.timeout(180)

VIEWER_ACTOR = WATCH_PARENT + """
import os, sys, time
os.environ.setdefault('QT_QPA_PLATFORM', 'offscreen')
from pymodaq_gui.qt_utils import mkQApp
app = mkQApp('leco_actor_viewer')
from pymodaq.control_modules.daq_viewer import DAQ_Viewer
from pymodaq.control_modules.daq_viewer_ui.viewer_selector import SelectedModule
from pymodaq.control_modules.enums import DAQTypesEnum

port, name, daq_type, detector = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
viewer = DAQ_Viewer(None, title=name, daq_type=daq_type)
viewer.detector = SelectedModule(DAQTypesEnum[daq_type], detector)
det = viewer.settings.child('detector_settings')
det.child('address').setValue('sim')
det.child('integration_s').setValue(0.2)
inited = []
viewer.init_signal.connect(inited.append)
viewer.init_hardware(True)
deadline = time.monotonic() + 60
while not inited:
    app.processEvents(); time.sleep(0.01)
    assert time.monotonic() < deadline, 'init timed out'
assert inited[0], 'init failed'
if detector == 'TimeTaggerCountrate':
    det.child('inputs', 'ch6', 'test_signal').setValue(True)
    det.child('measurement', 'channels', 'ch6').setValue(True)
    for c in ('ch1', 'ch2'):
        det.child('measurement', 'channels', c).setValue(False)
leco = viewer.settings.child('main_settings', 'leco')
leco.child('host').setValue('127.0.0.1')
leco.child('port').setValue(port)
leco.child('leco_name').setValue(name)
leco.child('connect_leco_server').setValue(True)
print('READY', flush=True)
app.exec()
"""


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("leco_plugins")
    port = free_port()
    coordinator = start_coordinator(tmp, port)
    actors = {name: Child(tmp, name, VIEWER_ACTOR, port, name, daq, detector)
              for name, daq, detector in (("tt_g2_viewer", "DAQ1D", "TimeTaggerCorrelation"),
                                          ("tt_rate_viewer", "DAQ0D", "TimeTaggerCountrate"))}
    try:
        for name, actor in actors.items():
            actor.wait_line("READY", timeout=90)
            deadline = time.monotonic() + 30
            while name not in components(port):
                assert actor.proc.poll() is None, actor.output()[-3000:]
                assert time.monotonic() < deadline, f"{name} not signed in:\n{actor.output()[-3000:]}"
                time.sleep(0.1)
        yield {"port": port, "actors": actors}
    finally:
        for actor in actors.values():
            actor.stop()
        coordinator.stop()


def director(cls, port, actor_name):
    det = make_detector(partial(cls, host=HOST, port=port), actor_name=actor_name)
    assert det.initialized, det.init_info
    return det


def test_a_director_grabs_g2_from_our_plugin_in_another_process(network):
    det = director(director_1d.DAQ_1DViewer_LECODirector, network["port"], "tt_g2_viewer")
    try:
        dte = grab_and_wait(det, timeout_ms=20_000)
        g2 = dte.get_data_from_name("Correlation")
        assert g2 is not None and g2.shape == (201,)
        axis = g2.get_axis_from_index(0)[0]
        assert axis.label == "delay" and axis.units == "s"
        assert dte.get_data_from_name("g2(0)").data[0][0] < 0.5  # the simulated single emitter
        # the actor's settings are mirrored on the director (our plugin's tree)
        deadline = time.monotonic() + 10
        names = []
        while "address" not in names and time.monotonic() < deadline:
            pump(0.05)
            names = [c.name() for c in det.settings.child("settings_client").children()]
        assert "address" in names and "measurement" in names
    finally:
        det.close()


def test_a_director_grabs_count_rates_from_our_plugin(network):
    det = director(director_0d.DAQ_0DViewer_LECODirector, network["port"], "tt_rate_viewer")
    try:
        dte = grab_and_wait(det, timeout_ms=20_000)
        rate = dte.get_data_from_name("Countrate")
        assert rate.units == "Hz" and rate.labels == ["ch6"]
        np.testing.assert_allclose(rate.data[0][0], 800e3, atol=1 / 0.2)
    finally:
        det.close()
