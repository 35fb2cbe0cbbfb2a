"""Our plugins in a real, headless DAQ_Viewer of an older PyMoDAQ (5.0.x / 5.1.x), as the dashboard runs them.

Run with a leg's python (``tests/interop/venvs.py``: ``LEG_51``, ``LEG_50``; this package is installed there)::

    .venv-interop/pymodaq-5.1.13/bin/python tests/interop/viewer_check.py [--detector TimeTaggerCountrate]

Checks, printing one JSON line each (``{"event": ...}``), in order:

* ``discovery``: the viewer plugins PyMoDAQ's own ``get_plugins`` lists per type, with the package each comes
  from (a name listed twice is the clash with pymodaq_plugins_mock <= 5.0.12's ``TCPServer``);
* ``init``: the detector initialized on the simulated tagger (``address = sim``);
* ``snap``: one grab's data (names, shape, capture duration);
* ``readback``: a setting changed in the control module reaches the plugin and the value the device applied
  comes back (dead time 777 ps -> 2000 ps, the minimum of a Time Tagger Ultra);
* ``live``: frames of a continuous grab in 0.6 s;
* ``failure``: during a live grab the simulated tagger is unplugged: the plugin reports it and tells the
  viewer to stop (``ThreadStatus.STOP``; PyMoDAQ 5.0/5.1 through the compat module); ``stopped`` says the
  viewer left its live grab and ``frames_after`` how many frames still came;
* ``recovered``: the tagger plugged back, a snap works again;
* ``tcpserver``: a second DAQ_Viewer runs our ``TimeTaggerTCPServer`` 0D plugin (127.0.0.1, a free port), our
  client (``python -m pymodaq_plugins_timetagger.bridge``, simulated tagger, count rates) dials in, and a
  snap returns the client's data: ``names`` of the data, ``client`` the dialect the server saw;
* ``end``, exit 0. An unexpected error: ``{"event": "error"}``, exit 1.
"""
from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from jsonlines import emit, mkQApp, run, spin  # noqa: E402  (the script's folder is on sys.path)

KEEP = []


def stop_own_coordinators() -> None:
    """PyMoDAQ >= 5.2 starts a pyleco Coordinator (a child process it never stops) when its LECO package is
    imported and none answers: end the ones this process started, by pid (Linux /proc; elsewhere nothing)."""
    import signal
    me = os.getpid()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
        except (OSError, ValueError, IndexError):
            continue
        if ppid == me and b"pyleco.coordinators.coordinator" in cmdline:
            os.kill(int(proc.name), signal.SIGTERM)
            emit(event="stopped_coordinator", pid=int(proc.name))


def private_leco_coordinator():
    """A PyMoDAQ user folder of this process's own (``HOME``) whose LECO port is a free one, with a Coordinator
    of ours on 127.0.0.1 there. A DAQ_Viewer of PyMoDAQ >= 5.2 signs in to the configured Coordinator when it is
    initialized (12300 by default): whatever else holds that port (a Coordinator left by another process, another
    test's) then makes the sign-in time out and the init fail. Returns the Coordinator's process (None without
    pyleco) and the folder, both for the caller to remove."""
    import socket
    import subprocess
    import sys
    import tempfile
    home = Path(tempfile.mkdtemp(prefix="viewer-check-home-"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (home / ".pymodaq" / "config").mkdir(parents=True)
    (home / ".pymodaq" / "config" / "utils.toml").write_text(
        f'[network.leco-server]\nhost = "127.0.0.1"\nport = {port}\n', encoding="utf-8")
    os.environ["HOME"] = str(home)
    try:
        import pyleco  # noqa: F401  (PyMoDAQ < 5.2 has no LECO sign-in at init)
    except ImportError:
        return None, home
    code = ("import sys\n"
            "from pyleco.coordinators.coordinator import Coordinator\n"
            "from pyleco.utils.coordinator_utils import ZmqMultiSocket\n"
            "class Loopback(ZmqMultiSocket):\n"
            "    def bind(self, host='127.0.0.1', port=0):\n"
            "        self._sock.bind(f'tcp://127.0.0.1:{port}')\n"
            "with Coordinator(namespace='viewer_check', host='127.0.0.1', port=int(sys.argv[1]),\n"
            "                 multi_socket=Loopback()) as c:\n"
            "    c.routing()\n")
    return subprocess.Popen([sys.executable, "-c", code, str(port)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), home


def discovery() -> dict:
    from pymodaq.utils.daq_utils import get_plugins
    out = {}
    for kind in ("daq_0Dviewer", "daq_1Dviewer", "daq_2Dviewer"):
        out[kind] = sorted([p["name"], p["parent_module"].__name__] for p in get_plugins(kind))
    return out


def open_viewer(title: str, daq_type: str, detector: str, **settings):
    """A DAQ_Viewer of this release with ``detector``, its detector settings set, initialized as *Ini. Det*
    does; returns (viewer, its detector settings, what init_signal gave within 30 s: [True] when it worked)."""
    from pymodaq.control_modules.daq_viewer import DAQ_Viewer
    viewer = DAQ_Viewer(None, title=title, daq_type=daq_type)
    KEEP.append(viewer)
    viewer.detector = detector
    det = viewer.settings.child("detector_settings")
    for name, value in settings.items():
        det.child(name).setValue(value)
    inited = []
    viewer.init_signal.connect(inited.append)
    viewer.init_hardware(True)
    spin(lambda: inited, time.monotonic() + 30)
    return viewer, det, inited


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--detector", default="TimeTaggerCountrate")
    ap.add_argument("--daq-type", default="DAQ0D", choices=["DAQ0D", "DAQ1D"])
    ap.add_argument("--data", default="Countrate", help="name of the first DataWithAxes")
    args = ap.parse_args(argv)
    coordinator, home = private_leco_coordinator()
    try:
        return checks(args)
    finally:
        stop_own_coordinators()
        if coordinator is not None:
            coordinator.terminate()
            coordinator.wait(10)
        shutil.rmtree(home, ignore_errors=True)


def checks(args) -> int:
    from qtpy import QtWidgets
    app = mkQApp("viewer_check")  # noqa: F841
    import importlib.metadata as m
    emit(event="versions", pymodaq=m.version("pymodaq"), qt=__import__("qtpy").API_NAME)
    emit(event="discovery", plugins=discovery())

    viewer, det, inited = open_viewer("viewer_check", args.daq_type, args.detector,
                                      address="sim", integration_s=0.05)
    if not inited or not inited[0]:
        emit(event="error", msg=f"{args.detector} did not initialize: {inited}")
        return 1
    emit(event="init", device=det["device"])

    got = []
    viewer.grab_done_signal.connect(got.append)

    def snap():
        n = len(got)
        viewer.snap()
        if not spin(lambda: len(got) > n, time.monotonic() + 10):
            raise RuntimeError("a snap gave no data within 10 s")
        return got[-1]

    dte = snap()
    dwa = dte.get_data_from_name(args.data)
    emit(event="snap", names=[d.name for d in dte], shape=list(dwa.data[0].shape),
         capture_duration_s=getattr(dwa, "capture_duration_s", None))

    det.child("inputs", "ch6", "deadtime_ps").setValue(777)  # the applied value comes back asynchronously
    spin(lambda: det["inputs", "ch6", "deadtime_ps"] != 777, time.monotonic() + 5)
    snap()
    emit(event="readback", deadtime_ps=det["inputs", "ch6", "deadtime_ps"])

    viewer.grab_data(True)
    n0 = len(got)
    spin(lambda: False, time.monotonic() + 0.6)
    emit(event="live", frames=len(got) - n0)

    plugin = viewer._hardware_thread.hardware.detector
    plugin.controller.tagger.sim_unplug()
    spin(lambda: not viewer._grabing, time.monotonic() + 5)
    spin(lambda: False, time.monotonic() + 0.3)
    n1 = len(got)
    spin(lambda: False, time.monotonic() + 0.5)
    emit(event="failure", stopped=not viewer._grabing, frames_after=len(got) - n1)
    viewer.stop_grab()

    plugin.controller.tagger.sim_replug()
    dte = snap()
    emit(event="recovered", names=[d.name for d in dte])
    viewer.quit_fun()
    tcpserver_check()
    emit(event="end")
    spin(lambda: False, time.monotonic() + 0.3)
    return 0


def tcpserver_check() -> None:
    import subprocess
    import sys
    viewer, det, inited = open_viewer("tcpserver_check", "DAQ0D", "TimeTaggerTCPServer",
                                      socket_ip="127.0.0.1", port_id=0)
    if not inited or not inited[0]:
        raise RuntimeError(f"TimeTaggerTCPServer did not initialize: {inited}")
    server = viewer._hardware_thread.hardware.detector.controller
    client = subprocess.Popen([sys.executable, "-m", "pymodaq_plugins_timetagger.bridge", "--host", "127.0.0.1",
                               "--port", str(server.port), "--address", "sim", "--measurement", "countrate",
                               "--integration-s", "0.05", "--backoff-max-s", "0.3"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not spin(lambda: server.clients() and server.clients()[0].settings_xml, time.monotonic() + 30):
            raise RuntimeError("our client did not connect to the TimeTaggerTCPServer")
        got = []
        viewer.grab_done_signal.connect(got.append)
        viewer.snap()
        if not spin(lambda: got, time.monotonic() + 10):
            raise RuntimeError("the TimeTaggerTCPServer gave no data within 10 s")
        emit(event="tcpserver", names=[d.name for d in got[-1]], client=server.clients()[0].dialect)
    finally:
        client.terminate()
        client.wait(10)
        viewer.quit_fun()


if __name__ == "__main__":
    run(main)
