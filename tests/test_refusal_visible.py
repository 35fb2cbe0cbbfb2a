"""A refused value says why where the user looks, in PyMoDAQ's real DAQ_Viewer (UI offscreen).

Channel 1 = 9 on a (simulated) Ultra with 8 inputs: the plugin's status goes to the viewer's status bar as PyMoDAQ
shows a plugin's status (UPDATE_STATUS, kept for its ``message_status_persistence``; PyMoDAQ 5.3's DAQ_Viewer in a
dock area does not place that bar in any window, so there it is not seen), the read-only *Last error* line of the
plugin's settings, which the standalone viewer and the dashboard both show, keeps the reason until the next
success, and the setting shows the value applied again.
"""
import pytest
from pymodaq_gui.qt_utils import mkQApp  # applies PyMoDAQ's theme, which the UI needs

from pymodaq.control_modules.daq_viewer_ui.viewer_selector import SelectedModule
from pymodaq.control_modules.enums import DAQTypesEnum
from pymodaq.utils.plugin_testing import wait_for_signal

from tests.support.processes import pump, pump_until

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def viewer():
    mkQApp("tests")
    from pymodaq.utils.gui_utils.loader_utils import create_load_daq_viewer
    shared_ui, v = create_load_daq_viewer(title="refusals")
    shared_ui.show()
    v.detector = SelectedModule(DAQTypesEnum["DAQ1D"], "TimeTaggerCorrelation")
    v.settings.child("detector_settings", "address").setValue("sim")
    v.messages = []
    v.ui.statusbar.messageChanged.connect(v.messages.append)
    assert wait_for_signal(v.init_signal, lambda: v.init_hardware(True), 20_000)
    pump(0.3)
    yield v
    v.quit_fun()
    pump(0.3)


def test_a_refused_value_says_why_on_screen_until_the_next_success(viewer):
    det = viewer.settings.child("detector_settings")
    det.child("measurement", "channel_1").setValue(9)
    reason = "channel_1 9 does not exist on this Time Tagger Ultra"
    pump_until(lambda: reason in det["last_error"], 10, "the reason in the Last error line")
    pump_until(lambda: any(reason in m for m in viewer.messages), 10, "the reason in the status bar")
    pump_until(lambda: det["measurement", "channel_1"] == 1, 10, "the value applied shown again")
    assert det.child("last_error").opts.get("readonly") and reason in det.child("last_error").opts["tip"]
    pump(1.5)  # the status bar's message is gone after PyMoDAQ's persistence; the line stays
    assert reason in det["last_error"]
    det.child("measurement", "channel_1").setValue(3)  # accepted: the line is cleared
    pump_until(lambda: det["last_error"] == "", 10, "the Last error line cleared by a success")


def test_in_the_dashboard_too(tmp_path, monkeypatch):
    pytest.importorskip("PySide6.QtStateMachine", reason="PyMoDAQ's Dashboard needs QtStateMachine")
    pytest.importorskip("pymodaq_plugins_mock", reason="the experiment holds the Mock actuator")
    from pymodaq.dashboard import create_load_dashboard
    from pymodaq.utils.managers.experiment.experiment_manager import ExperimentManager
    from tests.support.scankit import close_all, init_detector, load_experiment, write_experiment

    mkQApp("tests")
    monkeypatch.chdir(tmp_path)
    name = "pytest_timetagger_refusal"
    shared_ui, dashboard = create_load_dashboard(show_dashboard=False)
    try:
        experiment = write_experiment(tmp_path / f"{name}.xml", "Stage", "g2", "DAQ1D", "TimeTaggerCorrelation")
        _, det = load_experiment(dashboard, experiment, "Stage", "g2")
        s = det.settings.child("detector_settings")
        s.child("address").setValue("sim")
        init_detector(det)
        s.child("measurement", "n_bins").setValue(5_000_001)  # a reply over the bridge's 64 MiB frame
        pump_until(lambda: "n_bins 5000001" in s["last_error"] and "frame limit" in s["last_error"], 10,
                   "the reason in the dashboard's copy of the settings")
        pump_until(lambda: s["measurement", "n_bins"] == 201, 10, "the value applied shown again")
    finally:
        close_all(shared_ui, dashboard, None, None)
        ExperimentManager.remove_experiment_related_files(name)
