"""The remote PC of issue 13 as a child process: a real DAQ_Viewer (UI offscreen) with a Time Tagger viewer plugin
whose "Remote server" group connects to a TCPServer on 127.0.0.1.

    python remote_viewer.py PLUGIN DAQ_TYPE PORT [--local-grabs] [--dialect classic] [--secret-file F]
                            [--set name=value ...]

Prints one JSON object per line (flushed): {"status": text} for the viewer's status bar, {"local": capture_s,
"integration_s": v, "mode": ...} for each local grab's data, {"ready": true} once initialized. With
--local-grabs it snaps again as soon as each local grab's data are in (the user grabbing meanwhile).
Ctrl-C (SIGINT) quits the viewer (which closes the link) and exits 0.
"""
import argparse
import json
import os
import signal
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def say(**obj):
    print(json.dumps(obj), flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("plugin")
    ap.add_argument("daq_type")
    ap.add_argument("port", type=int)
    ap.add_argument("--local-grabs", action="store_true")
    ap.add_argument("--dialect", default="pymodaq5")
    ap.add_argument("--secret-file", default="")
    ap.add_argument("--set", action="append", default=[], help="detector setting name=value (float)")
    args = ap.parse_args(argv)

    from qtpy import QtCore
    from pymodaq_gui.qt_utils import mkQApp
    from pymodaq.control_modules.daq_viewer_ui.viewer_selector import SelectedModule
    from pymodaq.control_modules.enums import DAQTypesEnum
    from pymodaq.utils.gui_utils.loader_utils import create_load_daq_viewer

    app = mkQApp("remote")
    shared_ui, viewer = create_load_daq_viewer(title="remote")
    shared_ui.show()
    viewer.detector = SelectedModule(DAQTypesEnum[args.daq_type], args.plugin)
    ds = viewer.settings.child("detector_settings")
    ds.child("address").setValue("sim")
    for item in args.set:
        name, value = item.split("=")
        ds.child(*name.split("/")).setValue(float(value))
    remote = ds.child("remote")
    remote.child("host").setValue("127.0.0.1")
    remote.child("port").setValue(args.port)
    remote.child("dialect").setValue(args.dialect)
    remote.child("secret_file").setValue(args.secret_file)
    remote.child("connect").setValue(True)
    viewer.status_sig.connect(lambda s: say(status=str(s)))

    def on_local(dte):
        say(local=float(dte.data[0].capture_duration_s if hasattr(dte.data[0], "capture_duration_s") else -1),
            integration_s=float(ds["integration_s"]), name=dte.data[0].name)
        if args.local_grabs:
            QtCore.QTimer.singleShot(0, viewer.snap)

    viewer.grab_done_signal.connect(on_local)

    def on_init(ok):
        say(ready=bool(ok))
        if ok and args.local_grabs:
            viewer.snap()
    viewer.init_signal.connect(on_init)
    viewer.init_hardware(True)

    quitting = []

    def on_signal(signum, frame):
        if not quitting:  # as a user: stop grabbing, then quit (which closes the plugin and its link)
            quitting.append(1)
            args.local_grabs = False
            viewer.stop_grab()
            QtCore.QTimer.singleShot(300, viewer.quit_fun)
            QtCore.QTimer.singleShot(1500, app.quit)
    signal.signal(signal.SIGINT, on_signal)
    tick = QtCore.QTimer()
    tick.timeout.connect(lambda: None)  # lets Python run its signal handlers
    tick.start(100)
    app.exec()
    say(exited=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
