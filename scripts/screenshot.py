#!/usr/bin/env python3
"""Render the README's screenshot: a real DAQ_Viewer with the Correlation plugin on the simulator.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot.py [docs/daq_viewer_g2.png]

Opens PyMoDAQ's DAQ_Viewer window (offscreen), selects DAQ_1DViewer_TimeTaggerCorrelation, initializes
it on the simulated Time Tagger (a single emitter on inputs 1-2), grabs in accumulate mode for a few
seconds (the g2(0) trace on the right shows one value per refresh) and saves the window as PNG.
Nothing is drawn by hand: the picture is what a user sees.
"""
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def show_values(window, viewer, settings_px: int = 470) -> None:
    """Widen the settings panel (in the splitter of the dock area that holds it) so that the settings'
    values are readable, as a user would drag it; names and values get half of the tree each."""
    from qtpy import QtCore, QtWidgets
    widget = viewer.settings_tree
    while widget is not None and widget is not window:
        splitter = widget.parentWidget()
        if isinstance(splitter, QtWidgets.QSplitter) and splitter.orientation() == QtCore.Qt.Orientation.Horizontal:
            sizes, i = splitter.sizes(), splitter.indexOf(widget)
            extra = settings_px - sizes[i]
            if extra > 0 and len(sizes) > 1:
                sizes = [size + extra if j == i else size - extra // (len(sizes) - 1)
                         for j, size in enumerate(sizes)]
                splitter.setSizes(sizes)
            break
        widget = splitter
    viewer.tree.setColumnWidth(0, settings_px // 2)


def main(out: str = "docs/daq_viewer_g2.png") -> int:
    from pymodaq_gui.qt_utils import mkQApp
    app = mkQApp("screenshot")
    from qtpy import QtWidgets

    from pymodaq.control_modules.daq_viewer_ui.viewer_selector import SelectedModule
    from pymodaq.control_modules.enums import DAQTypesEnum
    from pymodaq.utils.gui_utils.loader_utils import create_load_daq_viewer
    from pymodaq.utils.plugin_testing import wait_for_signal

    shared_ui, viewer = create_load_daq_viewer(title="g2 (HBT)")
    window = next(w for w in QtWidgets.QApplication.topLevelWidgets()
                  if isinstance(w, QtWidgets.QMainWindow))
    window.resize(1400, 780)
    window.show()
    viewer.detector = SelectedModule(DAQTypesEnum["DAQ1D"], "TimeTaggerCorrelation")
    det = viewer.settings.child("detector_settings")
    det.child("address").setValue("sim")
    det.child("integration_s").setValue(0.5)
    det.child("mode").setValue("accumulate")
    if not wait_for_signal(viewer.init_signal, lambda: viewer.init_hardware(True), 20_000):
        print("initialization failed", file=sys.stderr)
        return 1
    viewer.ui.show_settings(True)
    frames = []
    viewer.grab_done_signal.connect(frames.append)
    viewer.grab_data(True)
    deadline = time.monotonic() + 8.0
    while time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)
    viewer.stop_grab()
    show_values(window, viewer)
    for _ in range(50):  # let the plots draw
        app.processEvents()
        time.sleep(0.02)
    g2_0 = frames[-1].get_data_from_name("g2(0)").data[0][0]
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(path))
    print(f"g2(0) = {g2_0:.3f}; wrote {path}")
    viewer.quit_fun()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
