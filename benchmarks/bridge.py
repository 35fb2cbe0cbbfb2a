"""Bridge measurements for benchmarks/run.py: grab round trips, the raw-socket floor, client memory.

Every function starts what it measures (processes, sockets, the real PyMoDAQ plugin under PyMoDAQ's own
test harness), measures, and stops it again. Loopback only.
"""
from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _peer(mode: str, port: int, n: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(HERE / "bench_client.py"), mode, str(port), str(n)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _timed(call, repeat: int, warmup: int, check) -> list[float]:
    """Seconds per ``call()`` over ``repeat`` calls after ``warmup`` ones; ``check`` validates each result."""
    out = []
    for i in range(warmup + repeat):
        t0 = time.perf_counter()
        result = call()
        dt = time.perf_counter() - t0
        check(result)
        if i >= warmup:
            out.append(dt)
    return out


def raw_times(n: int, repeat: int, warmup: int = 5) -> list[float]:
    """The floor: the same request/reply pattern and payload (n float64 data + n float64 axis), raw."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    proc = _peer("raw", listener.getsockname()[1], n)
    try:
        listener.settimeout(30)
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = bytearray(2 * n * 8 + 4)
        view = memoryview(buf)
        out = []
        for i in range(warmup + repeat):
            t0 = time.perf_counter()
            conn.sendall(b"\x00\x00\x00\x01")
            got = 0
            while got < len(buf):
                k = conn.recv_into(view[got:])
                if not k:
                    raise ConnectionError("the raw peer left")
                got += k
            assert struct.unpack(">I", buf[:4])[0] == 2 * n * 8
            if i >= warmup:
                out.append(time.perf_counter() - t0)
        conn.close()
        return out
    finally:
        listener.close()
        _stop(proc)


def _plugin(daq: str = "1D"):
    from pymodaq_gui.qt_utils import mkQApp
    mkQApp("bench")
    from pymodaq.utils.plugin_testing import make_detector
    if daq == "0D":
        from pymodaq_plugins_timetagger.daq_viewer_plugins.plugins_0D.daq_0Dviewer_TimeTaggerTCPServer import \
            DAQ_0DViewer_TimeTaggerTCPServer as cls
    else:
        from pymodaq_plugins_timetagger.daq_viewer_plugins.plugins_1D.daq_1Dviewer_TimeTaggerTCPServer import \
            DAQ_1DViewer_TimeTaggerTCPServer as cls
    det = make_detector(cls, socket_ip="127.0.0.1", port_id=0, grab_timeout_s=30.0, max_frame_mib=256)
    assert det.initialized, det.init_info
    return det


def _wait_client(det, timeout=30.0) -> None:
    from qtpy import QtWidgets
    deadline = time.monotonic() + timeout
    while not det.controller.clients():
        QtWidgets.QApplication.processEvents()
        if time.monotonic() > deadline:
            raise RuntimeError("the benchmark client did not connect")
        time.sleep(0.005)


class Grabber:
    """Grabs of one plugin, each waited for in a Qt event loop as DAQ_Viewer's thread does (PyMoDAQ's test
    harness polls every 5 ms instead, which would be measured too). The data signal is connected once, as
    DAQ_Viewer connects it once; the loop and its timeout timer are made only when ``grab_data`` did not
    deliver the data itself."""

    def __init__(self, det):
        self.det = det
        self.got: list = []
        self.loop = None
        det.dte_signal.connect(self._done)

    def _done(self, dte):
        self.got.append(dte)
        if self.loop is not None:
            self.loop.quit()

    def __call__(self, timeout_s: float = 60.0):
        from qtpy.QtCore import QEventLoop, QTimer
        self.got.clear()
        self.det.grab_data(1, live=False)
        if not self.got:
            self.loop = QEventLoop()
            QTimer.singleShot(int(timeout_s * 1000), self.loop.quit)
            try:
                self.loop.exec()
            finally:
                self.loop = None
        if not self.got:
            raise TimeoutError(f"no data within {timeout_s} s")
        return self.got[0]


def bridge_grab_times(n: int, repeat: int, warmup: int = 5) -> list[float]:
    """A grab of the 1D TimeTaggerTCPServer plugin (grab_data -> dte_signal, in a Qt event loop) from a client
    process answering n float64 (and an n-point axis) through our protocol."""
    det = _plugin("1D")
    proc = _peer("bridge", det.controller.port, n)
    try:
        _wait_client(det)

        def check(dte):
            assert dte.data[0].size == n

        return _timed(Grabber(det), repeat, warmup, check)
    finally:
        det.close()
        _stop(proc)


def pymodaq_object_times(n: int, repeat: int, warmup: int = 20) -> list[float]:
    """PyMoDAQ's own cost of one grab's data, the floor of any plugin grab (issue 15's reference):
    a DataToExport holding one DataFromPlugins of n float64 with an n-point data axis (given as data,
    PyMoDAQ tests it for linearity as it would for a plugin's axis)."""
    import numpy as np
    from pymodaq.utils.data import Axis, DataFromPlugins, DataToExport
    data = np.linspace(0.0, 1.0, n)
    axis = np.arange(n, dtype=float) * 1e-12

    def build():
        ax = Axis("delay", units="s", data=axis, index=0)
        dwa = DataFromPlugins("bench", data=[data], dim="Data1D", units="counts", labels=["ch"], axes=[ax])
        return DataToExport("bench", data=[dwa])

    def check(dte):
        assert dte.data[0].size == n

    return _timed(build, repeat, warmup, check)


def core_request_times(n: int, repeat: int, warmup: int = 5) -> list[float]:
    """The same exchange through the Qt-free server core alone (``BridgeServer.request``): the protocol
    transport without PyMoDAQ's data objects."""
    from pymodaq_plugins_timetagger.protocol.server import BridgeServer
    server = BridgeServer("127.0.0.1", 0, max_frame=256 * 1024 * 1024).start()
    proc = _peer("bridge", server.port, n)
    try:
        deadline = time.monotonic() + 30
        while not server.clients():
            if time.monotonic() > deadline:
                raise RuntimeError("the benchmark client did not connect")
            time.sleep(0.005)

        def check(dte):
            assert dte.data[0].data[0].size == n

        return _timed(lambda: server.request("1D", timeout=60), repeat, warmup, check)
    finally:
        server.stop()
        _stop(proc)


def _client_cmd(port: int, *args: str) -> list[str]:
    return [sys.executable, "-m", "pymodaq_plugins_timetagger.bridge", "--host", "127.0.0.1", "--port",
            str(port), "--address", "sim", "--log-level", "WARNING", *args]


def end_to_end_times(repeat: int, integration_s: float = 0.001, warmup: int = 5) -> list[float]:
    """A grab of the 0D TimeTaggerTCPServer plugin served by the real Time Tagger client on the simulator
    (count rates integrated for ``integration_s`` per request, wall clock)."""
    det = _plugin("0D")
    proc = subprocess.Popen(_client_cmd(det.controller.port, "--measurement", "countrate", "--channels", "1,2",
                                        "--integration-s", str(integration_s)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_client(det)

        def check(dte):
            assert abs(dte.data[0].capture_duration_s - integration_s) < 1e-12

        return _timed(Grabber(det), repeat, warmup, check)
    finally:
        det.close()
        _stop(proc)


def _rss_kb(pid: int) -> int | None:
    """Resident memory of another process, kB: psutil if installed (any OS), else /proc (Linux), else None."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        return psutil.Process(pid).memory_info().rss // 1024
    status = Path(f"/proc/{pid}/status")
    if status.is_file():
        for line in status.read_text(encoding="ascii", errors="replace").splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def client_rss(checkpoints=(100, 10_000), integration_s: float = 0.0002) -> dict[int, int | None]:
    """RSS (kB) of the real client process after the given numbers of answered requests (None: no way to
    read another process's memory here, see :func:`_rss_kb`)."""
    from pymodaq_plugins_timetagger.protocol.server import BridgeServer
    server = BridgeServer("127.0.0.1", 0).start()
    proc = subprocess.Popen(_client_cmd(server.port, "--measurement", "correlation", "--n-bins", "4096",
                                        "--binwidth-ps", "100", "--integration-s", str(integration_s)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not server.clients():
            if time.monotonic() > deadline:
                raise RuntimeError("the client did not connect")
            time.sleep(0.01)
        rss = {}
        done = 0
        for mark in sorted(checkpoints):
            while done < mark:
                server.request("1D", timeout=30)
                done += 1
            rss[mark] = _rss_kb(proc.pid)
        return rss
    finally:
        server.stop()
        _stop(proc)


# ----------------------------------------------------------------------------------- other routes, end to end
def leco_client_cmd(port, name: str, *args: str) -> list[str]:
    """Our client as a LECO actor ``name`` on the simulator, signing in to the Coordinator at 127.0.0.1:port."""
    return [sys.executable, "-m", "pymodaq_plugins_timetagger.bridge", "--transport", "leco", "--leco-host",
            "127.0.0.1", "--leco-port", str(port), "--name", name, "--address", "sim", "--log-level", "WARNING",
            *args]


def wait_leco_signed_in(port, name: str, deadline: float) -> None:
    """Wait (until the monotonic ``deadline``) for ``name`` to be signed in at the Coordinator."""
    from pyleco.utils.communicator import Communicator
    with Communicator(name=f"bench_probe_{os.getpid()}", host="127.0.0.1", port=int(port), timeout=1) as comm:
        while name not in comm.ask_rpc("COORDINATOR", "send_local_components", timeout=1):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the LECO actor {name} did not sign in")
            time.sleep(0.1)


def leco_actor_times(repeat: int, integration_s: float = 0.001, warmup: int = 5) -> list[float]:
    """A grab of PyMoDAQ's 0D LECODirector from our client in LECO actor mode (count rates integrated
    ``integration_s`` per request on the simulator), through a pyleco Coordinator on 127.0.0.1."""
    import functools

    import routes
    from pymodaq.utils.plugin_testing import make_detector
    from pymodaq_plugins_mock.daq_viewer_plugins.plugins_0D.daq_0Dviewer_LECODirector import \
        DAQ_0DViewer_LECODirector
    kids = routes._Children("bench_leco_actor_")
    det = None
    try:
        deadline = time.monotonic() + 60
        (port,) = kids.wait_ready(kids.start("leco-coordinator"), deadline)
        proc = subprocess.Popen(leco_client_cmd(port, "tt_bench", "--measurement", "countrate", "--channels", "1,2",
                                                "--integration-s", str(integration_s)),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_leco_signed_in(port, "tt_bench", deadline)
            _plugin("0D").close()  # a QApplication and PyMoDAQ's set-up, as for the other rows
            det = make_detector(functools.partial(DAQ_0DViewer_LECODirector, host="127.0.0.1", port=int(port)),
                                actor_name="tt_bench")

            def check(dte):
                assert abs(dte.get_data_from_name("Countrate").capture_duration_s - integration_s) < 1e-12

            return _timed(Grabber(det), repeat, warmup, check)
        finally:
            if det is not None:
                det.close()
            _stop(proc)
    finally:
        kids.close()


def rpc_times(repeat: int, integration_s: float = 0.001, warmup: int = 5) -> list[float]:
    """One count-rate acquisition over TimeTaggerRPC (``rpc:`` address): its real server, unmodified,
    serving the simulator in another process; integration ``integration_s`` per acquisition."""
    import json

    from pymodaq_plugins_timetagger.hardware.access import open_tagger
    from pymodaq_plugins_timetagger.runs import make_run
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "support" / "rpc_server.py"), "--port", "0",
                             "--exit-on-stdin-eof"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        event = json.loads(proc.stdout.readline())
        if event.get("event") != "listening":
            raise RuntimeError(f"the TimeTaggerRPC server did not start: {event}")
        with open_tagger(f"rpc:127.0.0.1:{event['port']}") as handle:
            run = make_run(handle, "countrate", channels=(1, 2), integration_s=integration_s)

            def check(res):
                assert abs(res.metadata["capture_duration_s"] - integration_s) < 1e-12

            times = _timed(run.acquire, repeat, warmup, check)
            run.close()
            return times
    finally:
        proc.stdin.close()
        _stop(proc)
