#!/usr/bin/env python3
"""Render the README's screenshots: a real DAQ_Viewer with the Correlation plugin on the simulator; the two
viewers of the "remote PC with a GUI" route.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot.py [docs/daq_viewer_g2.png]
    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot.py --remote [docs/remote_viewers.png]
    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot.py --fit-g2 [docs/fit_g2.png]
    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot.py --fit-lifetime [docs/fit_lifetime.png]

``--fit-g2`` / ``--fit-lifetime``: the Correlation (antibunching fit) or the Histogram (lifetime fit, Gaussian IRF)
plugin on the simulator's default bench, live, the fitted curve over the data and the fit's parameters read-only
in the settings.
    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot.py --image [docs/daq_viewer_image.png]

``--remote``: on the left the remote PC's DAQ_Viewer (Correlation on the simulator, its *Remote server* group
connected), on the right the main PC's DAQ_Viewer with this package's 1D TCP server plugin, which has just
grabbed the remote viewer's g2 and mirrors its settings; both real, in one process over 127.0.0.1.

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


def remote(out: str = "docs/remote_viewers.png") -> int:
    from pymodaq_gui.qt_utils import mkQApp
    app = mkQApp("screenshot")
    from qtpy import QtGui, QtWidgets

    from pymodaq.control_modules.daq_viewer_ui.viewer_selector import SelectedModule
    from pymodaq.control_modules.enums import DAQTypesEnum
    from pymodaq.utils.gui_utils.loader_utils import create_load_daq_viewer
    from pymodaq.utils.plugin_testing import wait_for_signal

    import pymodaq_plugins_timetagger.daq_viewer_plugins.plugins_1D as plugins
    (module,) = [p.stem for p in Path(plugins.__file__).parent.glob("daq_1Dviewer_*TCPServer.py")]
    server_plugin = module[len("daq_1Dviewer_"):]

    def viewer_window(title):
        before = set(QtWidgets.QApplication.topLevelWidgets())
        shared_ui, viewer = create_load_daq_viewer(title=title)
        window = next(w for w in QtWidgets.QApplication.topLevelWidgets()
                      if isinstance(w, QtWidgets.QMainWindow) and w not in before)
        window.resize(1100, 780)
        window.show()
        return viewer, window

    main_viewer, main_window = viewer_window("main PC: TCP server")
    main_viewer.detector = SelectedModule(DAQTypesEnum["DAQ1D"], server_plugin)
    det = main_viewer.settings.child("detector_settings")
    det.child("socket_ip").setValue("127.0.0.1")
    det.child("port_id").setValue(0)  # the system chooses
    if not wait_for_signal(main_viewer.init_signal, lambda: main_viewer.init_hardware(True), 20_000):
        print("the TCP server's initialization failed", file=sys.stderr)
        return 1
    port = int(det["server_state"].rsplit(":", 1)[1])
    remote_viewer, remote_window = viewer_window("remote PC: g2")
    remote_viewer.detector = SelectedModule(DAQTypesEnum["DAQ1D"], "TimeTaggerCorrelation")
    rdet = remote_viewer.settings.child("detector_settings")
    rdet.child("address").setValue("sim")
    rdet.child("integration_s").setValue(1.0)
    for name, value in (("host", "127.0.0.1"), ("port", port), ("connect", True)):
        rdet.child("remote", name).setValue(value)
    if not wait_for_signal(remote_viewer.init_signal, lambda: remote_viewer.init_hardware(True), 20_000):
        print("the Correlation viewer's initialization failed", file=sys.stderr)
        return 1
    deadline = time.monotonic() + 20
    while not det.child("settings_client").children() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)
    dte = wait_for_signal(main_viewer.grab_done_signal, main_viewer.snap, 30_000)
    if dte is None:
        print("the main PC's grab failed", file=sys.stderr)
        return 1
    for v, w in ((remote_viewer, remote_window), (main_viewer, main_window)):
        v.ui.show_settings(True)
        show_values(w, v)
    rdet.child("remote").setOpts(expanded=True)
    rdet.child("last").setOpts(expanded=False)
    det.child("settings_client").setOpts(expanded=True)
    for _ in range(10):
        app.processEvents()
    remote_viewer.tree.scrollToBottom()  # the Remote server group and its status
    for _ in range(50):
        app.processEvents()
        time.sleep(0.02)
    left, right = remote_window.grab(), main_window.grab()
    canvas = QtGui.QPixmap(left.width() + right.width() + 8, max(left.height(), right.height()))
    canvas.fill(QtGui.QColor("white"))
    painter = QtGui.QPainter(canvas)
    painter.drawPixmap(0, 0, left)
    painter.drawPixmap(left.width() + 8, 0, right)
    painter.end()
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(str(path))
    g2_0 = dte.get_data_from_name("g2(0)").data[0][0]
    print(f"g2(0) on the main PC = {g2_0:.3f}; wrote {path}")
    remote_viewer.quit_fun()
    main_viewer.quit_fun()
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)
    return 0


#: per fit screenshot: plugin, measurement settings before initializing, input settings after, default file
FITS = {
    "--fit-g2": ("TimeTaggerCorrelation", {"g2_fit": True, "jitter_fwhm_ps": 136.0}, {}, "docs/fit_g2.png"),
    "--fit-lifetime": ("TimeTaggerHistogram", {"lifetime_fit": 1, "binwidth_ps": 20},
                       {("ch4", "input_delay_ps"): 2000}, "docs/fit_lifetime.png"),
}


def fit(which: str, out: str = "") -> int:
    from pymodaq_gui.qt_utils import mkQApp
    app = mkQApp("screenshot")
    from qtpy import QtWidgets

    from pymodaq.control_modules.daq_viewer_ui.viewer_selector import SelectedModule
    from pymodaq.control_modules.enums import DAQTypesEnum
    from pymodaq.utils.gui_utils.loader_utils import create_load_daq_viewer
    from pymodaq.utils.plugin_testing import wait_for_signal

    plugin, measurement, inputs, default_out = FITS[which]
    shared_ui, viewer = create_load_daq_viewer(title=f"{plugin[len('TimeTagger'):]} fit")
    window = next(w for w in QtWidgets.QApplication.topLevelWidgets() if isinstance(w, QtWidgets.QMainWindow))
    window.resize(1500, 860)
    window.show()
    viewer.detector = SelectedModule(DAQTypesEnum["DAQ1D"], plugin)
    det = viewer.settings.child("detector_settings")
    det.child("address").setValue("sim")
    det.child("integration_s").setValue(1.0)
    det.child("mode").setValue("accumulate")
    for name, value in measurement.items():
        det.child("measurement", name).setValue(value)
    if not wait_for_signal(viewer.init_signal, lambda: viewer.init_hardware(True), 20_000):
        print("initialization failed", file=sys.stderr)
        return 1
    for path, value in inputs.items():
        det.child("inputs", *path).setValue(value)
    viewer.ui.show_settings(True)
    frames = []
    viewer.grab_done_signal.connect(frames.append)
    viewer.grab_data(True)
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)
    viewer.stop_grab()
    for group in ("last", "measurement"):
        det.child(group).setOpts(expanded=False)
    show_values(window, viewer, settings_px=560)
    for _ in range(10):
        app.processEvents()
    viewer.tree.scrollToBottom()  # the fit results at the end of the tree
    for _ in range(50):
        app.processEvents()
        time.sleep(0.02)
    path = Path(out or default_out)
    path.parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(path))
    name = "g2 fit" if which == "--fit-g2" else "lifetime fit"
    figures = frames[-1].get_data_from_name(name)
    print(", ".join(f"{label} = {d[0]:.4g}" for label, d in zip(figures.labels, figures.data)), f"; wrote {path}")
    viewer.quit_fun()
    return 0


def image(out: str = "docs/daq_viewer_image.png") -> int:
    """DAQ_2DViewer_TimeTaggerImage on ``sim:confocal`` (its scanner made 50 × 50 pixels of 1 ms): one frame."""
    from pymodaq_gui.qt_utils import mkQApp
    app = mkQApp("screenshot")
    from qtpy import QtWidgets

    from pymodaq.control_modules.daq_viewer_ui.viewer_selector import SelectedModule
    from pymodaq.control_modules.enums import DAQTypesEnum
    from pymodaq.utils.gui_utils.loader_utils import create_load_daq_viewer
    from pymodaq.utils.plugin_testing import wait_for_signal
    from pymodaq_plugins_timetagger.hardware.simulator.setups import confocal_scene

    shared_ui, viewer = create_load_daq_viewer(title="confocal")
    window = next(w for w in QtWidgets.QApplication.topLevelWidgets() if isinstance(w, QtWidgets.QMainWindow))
    window.resize(1400, 780)
    window.show()
    viewer.detector = SelectedModule(DAQTypesEnum["DAQ2D"], "TimeTaggerImage")
    det = viewer.settings.child("detector_settings")
    det.child("address").setValue("sim:confocal")
    if not wait_for_signal(viewer.init_signal, lambda: viewer.init_hardware(True), 20_000):
        print("initialization failed", file=sys.stderr)
        return 1
    viewer.controller_and_thread.controller.tagger.sim_set_source(
        confocal_scene(n_x=50, n_y=50, pixel_um=0.2, dwell_ps=10 ** 9)[0])
    det.child("measurement", "pixels_per_line").setValue(50)
    det.child("measurement", "lines_per_frame").setValue(50)
    viewer.ui.show_settings(True)
    if wait_for_signal(viewer.grab_done_signal, viewer.snap, 30_000) is None:
        print("no frame", file=sys.stderr)
        return 1
    show_values(window, viewer)
    for _ in range(50):  # let the plots draw
        app.processEvents()
        time.sleep(0.02)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(path))
    print(f"wrote {path}")
    viewer.quit_fun()
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--remote"]:
        sys.exit(remote(*args[1:]))
    if args[:1] and args[0] in FITS:
        sys.exit(fit(*args))
    if args[:1] == ["--image"]:
        sys.exit(image(*args[1:]))
    sys.exit(main(*args))
