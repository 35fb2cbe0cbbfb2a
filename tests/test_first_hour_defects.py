"""Small defects a new user met in the first hour, each as the user saw it, checked on the real thing (the
mirrored settings and the client's status line: tests/test_shown_settings.py, tests/test_client_start.py)."""


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
