"""The TimeTaggerTCPServer plugin in PyMoDAQ's real DAQ_Viewer frees its port whatever the initializations do: after
an init that failed (the port held by another program), the next inits of the viewer leave no port held behind."""
import socket
import time

import pytest
from pymodaq_gui.qt_utils import mkQApp
from qtpy import QtWidgets

from pymodaq.control_modules.daq_viewer_ui.viewer_selector import SelectedModule
from pymodaq.control_modules.enums import DAQTypesEnum

pytestmark = pytest.mark.timeout(120)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _pump_until(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        QtWidgets.QApplication.processEvents()
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def test_a_failed_init_leaves_no_port_held_by_the_viewer():
    mkQApp("tests")
    from pymodaq.control_modules.daq_viewer import DAQ_Viewer
    viewer = DAQ_Viewer(None, title="tcp_port_leak", daq_type="DAQ1D")
    viewer.detector = SelectedModule(DAQTypesEnum["DAQ1D"], "TimeTaggerTCPServer")
    first, held, third = _free_port(), _free_port(), _free_port()
    other_program = socket.create_server(("127.0.0.1", held))
    port = viewer.settings.child("detector_settings", "port_id")
    try:
        port.setValue(first)
        viewer.init_hardware(True)
        assert _pump_until(lambda: not _bindable(first), 15), "the first init did not listen"
        viewer.init_hardware(False)
        assert _pump_until(lambda: _bindable(first), 15), "untick did not free the port"
        port.setValue(held)  # taken by another program: this init fails
        viewer.init_hardware(True)
        _pump_until(lambda: False, 1.0)
        port.setValue(first)
        viewer.init_hardware(True)
        assert _pump_until(lambda: not _bindable(first), 15), "the init after the failure did not listen"
        port.setValue(third)
        viewer.init_hardware(True)
        assert _pump_until(lambda: not _bindable(third), 15), "the next init did not listen"
        assert _pump_until(lambda: _bindable(first), 5), "the viewer still holds the port of its init before"
    finally:
        viewer.quit_fun()
        other_program.close()
    assert _pump_until(lambda: _bindable(first) and _bindable(third), 10), "the viewer still holds a port"
