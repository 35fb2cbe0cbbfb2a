"""Small defects a new user met in the first hour: each as the user saw it (a legend, the mirrored settings on the
main PC, the client's status line), checked on the real thing."""
import threading

import pytest

from pymodaq_plugins_timetagger import settings as declared
from pymodaq_plugins_timetagger.bridge.service import MeasurementService
from pymodaq_plugins_timetagger.protocol.paramxml import from_xml_string


def test_the_capture_duration_legend_names_its_unit_once():
    """PyMoDAQ's 0D viewer writes 'label (units)': the duration dataset read 'duration (s) (s)'."""
    from pymodaq_gui.plotting.data_viewers.viewer0D import Viewer0D
    from pymodaq_gui.qt_utils import mkQApp
    from qtpy import QtWidgets

    from pymodaq_plugins_timetagger.daq_viewer_plugins.common import duration_data
    mkQApp("tests")
    widget = QtWidgets.QWidget()
    viewer = Viewer0D(widget)
    data = duration_data(0.25)
    viewer.show_data(data)
    QtWidgets.QApplication.processEvents()
    names = viewer.view.data_displayer.legend_names
    assert names == ["duration_s (s)"], names
    assert data.units == "s"  # the unit stays with the data
    widget.deleteLater()


def test_the_mirrored_output_is_the_plugins_list_of_two_labels():
    """The Correlation plugin shows *Output* as a list of two labels; the client's mirrored tree sent a bare
    checkbox titled 'Output'. An edit of that list on the main PC reaches the client as its label."""
    service = MeasurementService("sim", "correlation")
    tree = from_xml_string(service.settings_xml())
    output = tree.child("normalize")
    assert output.type == "list" and output.value == "g2 (normalized)"
    assert list(output.limits) == ["g2 (normalized)", "coincidences (counts)"]
    path, applied = service.apply_edit(["normalize"], "<normalize type='list'>str('coincidences (counts)')</normalize>")
    assert service.settings["correlation"].normalize is False
    assert from_xml_string(applied).value == "coincidences (counts)"


def test_the_mirrored_counter_bin_width_is_in_ms_as_in_the_plugin():
    """The Counter plugin shows *Bin width (ms)*; the client's mirror showed the same setting in ps."""
    service = MeasurementService("sim", "counter")
    tree = from_xml_string(service.settings_xml())
    names = [p.name for p in tree.children]
    assert "binwidth_ps" not in names
    width = tree.child("binwidth_ms")
    assert width.title == "Bin width (ms)" and width.type == "float" and width.value == pytest.approx(10.0)
    plugin = {d["name"]: d for d in declared.plugin_params("counter")}
    assert plugin["binwidth_ms"]["title"].rstrip(":") == width.title
    path, applied = service.apply_edit(["binwidth_ms"], "<binwidth_ms type='float'>2.5</binwidth_ms>")
    assert service.settings["counter"].binwidth_ps == 2_500_000_000
    assert path[-1] == "binwidth_ms" and from_xml_string(applied).value == pytest.approx(2.5)
    with pytest.raises(ValueError, match="binwidth_ps"):  # refused by the one checker, naming the setting
        service.apply_edit(["binwidth_ms"], "<binwidth_ms type='float'>-1.0</binwidth_ms>")
    assert service.settings["counter"].binwidth_ps == 2_500_000_000


def test_after_ctrl_c_the_status_says_stopping_not_waiting(server):
    """The client's status line briefly said 'waiting for <server>' after Ctrl-C, as if it would reconnect."""
    from pymodaq_plugins_timetagger.bridge.client import TaggerClient
    from pymodaq_plugins_timetagger.runs import make_settings
    from tests.support.processes import wait_for

    lines, lock = [], threading.Lock()

    def on_status(status):
        with lock:
            lines.append(status.state())
    client = TaggerClient("127.0.0.1", server.port, address="sim", kind="countrate",
                          settings=make_settings("countrate", channels=(5,), integration_s=0.001),
                          sim_options={"sim_clock": "virtual", "sim_seed": 1}, backoff_max_s=0.2,
                          on_status=on_status)
    thread = threading.Thread(target=client.serve_forever, daemon=True)
    thread.start()
    try:
        wait_for(lambda: any("connected to" in line for line in lines), 20, "the client to connect")
    finally:
        with lock:
            before = len(lines)
        client.shutdown()  # what Ctrl-C does (run_until_interrupted)
        thread.join(10)
    assert not thread.is_alive()
    after = lines[before:]
    assert after and all("waiting for" not in line for line in after), after
    assert "stopping" in after[-1]
