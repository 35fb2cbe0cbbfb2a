"""A TimeTaggerTCPServer 1D viewer in a process of its own (tests/test_several_servers.py). It prints ``@port N``,
then reads commands from stdin: ``wait`` (a client with its settings connected: prints ``@client N``), ``grab N``
(N grabs; a line ``@got SIZE SUM`` or ``@failed REASON`` each; other lines are the harness's), ``quit``."""
import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pymodaq.utils.plugin_testing import grab_and_wait, make_detector  # noqa: E402
from qtpy import QtWidgets  # noqa: E402

from pymodaq_plugins_timetagger.daq_viewer_plugins.plugins_1D.daq_1Dviewer_TimeTaggerTCPServer import (  # noqa: E402
    DAQ_1DViewer_TimeTaggerTCPServer)


def main() -> int:
    det = make_detector(DAQ_1DViewer_TimeTaggerTCPServer, socket_ip="127.0.0.1", port_id=0, grab_timeout_s=30.0)
    print("@port", det.controller.port, flush=True)
    try:
        for line in sys.stdin:
            cmd = line.split()
            if not cmd or cmd[0] == "quit":
                break
            if cmd[0] == "wait":
                deadline = time.monotonic() + 60
                while not any(c.settings_xml for c in det.controller.clients()) and time.monotonic() < deadline:
                    QtWidgets.QApplication.processEvents()
                    time.sleep(0.01)
                print("@client", len(det.controller.clients()), flush=True)
            elif cmd[0] == "grab":
                for _ in range(int(cmd[1])):
                    try:
                        dte = grab_and_wait(det, 1, timeout_ms=60_000, live=False)
                        data = dte[0].data[0]
                        print("@got", data.size, float(data.sum()), flush=True)
                    except Exception as e:
                        print("@failed", repr(e)[:200], flush=True)
    finally:
        det.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
