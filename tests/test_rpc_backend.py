"""The TimeTaggerRPC backend (hardware/rpc.py) against the REAL TimeTaggerRPC server serving the simulator.

The server is ``tests/support/rpc_server.py`` in a subprocess: TimeTaggerRPC's own ``start_server`` with a shim
module named ``TimeTagger`` made of the simulator (see that file for why a shim is needed). Skipped when
the ``timetaggerrpc`` package (and Pyro5) cannot be imported.
"""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from pymodaq_plugins_timetagger.hardware import rpc
from pymodaq_plugins_timetagger.hardware.errors import TaggerError, TaggerOpenError
from tests.support.processes import free_port

SERVER_SCRIPT = Path(__file__).parent / "support" / "rpc_server.py"
REPO = SERVER_SCRIPT.parent.parent
SERVER_START_TIMEOUT_S = 15.0
TEST_SIGNAL_HZ = 800_000.0          # simulated Time Tagger Ultra: 403.2 MHz / 504


def _rpc_available() -> str:
    try:
        import Pyro5  # noqa: F401
        import TimeTaggerRPC  # noqa: F401
        from TimeTaggerRPC import helper  # noqa: F401
    except Exception as e:  # pragma: no cover - depends on the environment
        return f"timetaggerrpc/Pyro5 not importable ({type(e).__name__}: {e}); pip install timetaggerrpc"
    return ""


NEEDS_RPC = pytest.mark.skipif(bool(_rpc_available()), reason=_rpc_available() or "available")


class Server:
    """tests/support/rpc_server.py in a subprocess; ``port`` once it listens."""

    def __init__(self, port: int = 0):
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [sys.executable, str(SERVER_SCRIPT), "--port", str(port), "--host", "127.0.0.1",
             "--exit-on-stdin-eof", "--lifetime-s", "120"],
            cwd=str(REPO), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.event = self._read_event(SERVER_START_TIMEOUT_S)
        if self.event.get("event") != "listening":
            self.stop()
            pytest.fail(f"rpc_server.py did not start: {self.event}; log:\n{self.log_text()}")
        self.port = int(self.event["port"])

    def _read_event(self, timeout_s: float) -> dict:
        box: list = []
        t = threading.Thread(target=lambda: box.append(self.proc.stdout.readline()), daemon=True)
        t.start()
        t.join(timeout_s)
        if not box or not box[0]:
            return {"event": "none", "returncode": self.proc.poll()}
        return json.loads(box[0])

    def log_text(self) -> str:
        self.log.seek(0)
        return self.log.read()[-3000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except Exception:
                pass
        self.log.close()


@pytest.fixture(scope="module")
def server():
    srv = Server()
    yield srv
    srv.stop()


@pytest.fixture
def remote(server):
    """(tagger, api) opened over TimeTaggerRPC; the tagger is freed after the test."""
    tagger, api = rpc.open_rpc("127.0.0.1", server.port, timeout_s=5.0)
    yield tagger, api
    api.freeTimeTagger(tagger)


def _raw_proxy(uri):
    import Pyro5.api
    p = Pyro5.api.Proxy(uri)
    p._pyroTimeout = 2.0
    return p


def _assert_dropped_by_server(uri, within_s=3.0):
    """The server unregisters an object when the connection it was created over closes (async, ms)."""
    import Pyro5.errors
    deadline = time.monotonic() + within_s
    while True:
        try:
            _raw_proxy(uri).isRunning()
        except (Pyro5.errors.DaemonError, Pyro5.errors.CommunicationError) as e:
            assert "unknown object" in str(e)   # refused at the connection handshake
            return
        assert time.monotonic() < deadline, f"{uri} is still registered on the server"
        time.sleep(0.02)


# ------------------------------------------------------------------------------------------ no server
def test_missing_package_says_pip_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "TimeTaggerRPC", None)   # makes the import fail
    with pytest.raises(rpc.RpcLibraryMissing, match="pip install timetaggerrpc"):
        rpc.open_rpc("127.0.0.1", 1)


def test_rpc_module_is_qt_free_and_lazy():
    code = ("import sys, pymodaq_plugins_timetagger.hardware.rpc; "
            "bad = [m for m in sys.modules if m.split('.')[0] in "
            "('Pyro5', 'TimeTaggerRPC', 'pymodaq', 'PySide6', 'PyQt5', 'PyQt6', 'qtpy')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("host, port, timeout_s", [("", 23000, 5), ("h", 0, 5), ("h", 70000, 5),
                                                   ("h", 23000, 0), ("h", 23000, float("nan"))])
def test_bad_arguments(host, port, timeout_s):
    with pytest.raises(ValueError):
        rpc.open_rpc(host, port, timeout_s)


@NEEDS_RPC
def test_nobody_listening_is_a_quick_runtime_error():
    port = free_port()
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match=f"127.0.0.1:{port}") as ei:
        rpc.open_rpc("127.0.0.1", port, timeout_s=2.0)
    assert time.monotonic() - t0 < 10
    assert isinstance(ei.value, TaggerOpenError)
    assert "CommunicationError" in str(ei.value)


@NEEDS_RPC
def test_silent_server_times_out():
    """A port that accepts connections but never answers: the Pyro handshake times out (COMMTIMEOUT)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(4)
        port = s.getsockname()[1]
        t0 = time.monotonic()
        with pytest.raises(RuntimeError, match=f"127.0.0.1:{port}") as ei:
            rpc.open_rpc("127.0.0.1", port, timeout_s=0.5)
        elapsed = time.monotonic() - t0
    assert 0.4 < elapsed < 5, elapsed
    assert "TimeoutError" in str(ei.value) or "timeout" in str(ei.value).lower()


# ------------------------------------------------------------------------------------------ real server
@NEEDS_RPC
def test_identity_and_enums(remote):
    tagger, api = remote
    assert tagger.getSerial() == "SIM-ULTRA-0001"
    assert tagger.getModel() == "Time Tagger Ultra"
    assert api.SIMULATED is True and api.server_library_version.startswith("simulator")
    assert api.CHANNEL_UNUSED == -134217728
    assert tagger.getChannelList(api.ChannelEdge.Rising) == list(range(1, 9))
    assert "SIM-ULTRA-0001" not in api.scanTimeTagger()          # it is open
    assert set(tagger.getChannelList()) == set(range(1, 9)) | set(range(-8, 0))


@NEEDS_RPC
def test_inputs_round_trip(remote):
    tagger, api = remote
    tagger.setTestSignal([1, 2], True)
    assert tagger.getTestSignal(1) is True and tagger.getTestSignal(2) is True
    tagger.setTriggerLevel(3, np.float64(0.25))             # numpy scalars are sent as Python numbers
    assert abs(tagger.getTriggerLevel(3) - 0.25) < 0.01
    tagger.setInputDelay(3, np.int64(1500))
    assert tagger.getInputDelay(3) == 1500
    assert isinstance(tagger.getDeadtime(3), int)
    assert isinstance(tagger.getOverflows(), int)
    with pytest.raises(ValueError):                          # the device's refusal keeps its type
        api.Countrate(None, [1])


@NEEDS_RPC
def test_countrate_start_for_and_wait(remote):
    tagger, api = remote
    tagger.setTestSignal([1, 2], True)
    cr = api.Countrate(tagger, [1, 2])
    t0 = time.monotonic()
    cr.startFor(int(0.2e12), clear=True)
    assert cr.waitUntilFinished(5000) is True
    elapsed = time.monotonic() - t0
    assert 0.15 < elapsed < 2.0, elapsed
    assert not cr.isRunning()
    assert cr.getCaptureDuration() == int(0.2e12)
    rate = cr.getData()
    assert isinstance(rate, np.ndarray) and rate.dtype == np.float64 and rate.shape == (2,)
    assert np.allclose(rate, TEST_SIGNAL_HZ, rtol=0.01), rate
    assert np.allclose(cr.getCountsTotal(), 0.2 * TEST_SIGNAL_HZ, rtol=0.01)
    cr.__exit__(None, None, None)


@NEEDS_RPC
def test_correlation_of_the_test_signal(remote):
    tagger, api = remote
    tagger.setTestSignal([1, 2], True)
    corr = api.Correlation(tagger, 1, 2, binwidth=10, n_bins=400)
    corr.startFor(int(0.2e12))
    assert corr.waitUntilFinished(5000)
    data, index = corr.getData(), corr.getIndex()
    assert data.shape == (400,) and data.dtype == np.int32 and index.dtype == np.int64
    assert abs(int(data.sum()) - 0.2 * TEST_SIGNAL_HZ) < 0.02 * 0.2 * TEST_SIGNAL_HZ
    assert abs(int(index[int(np.argmax(data))])) <= 100        # the peak sits at zero delay
    assert corr.getDataNormalized().max() > 100
    corr.__exit__(None, None, None)


@NEEDS_RPC
def test_wait_on_a_measurement_that_never_ends_returns_at_once(remote):
    """As the vendor's (issue 10, item 4): logged "Skipping" and True, without waiting."""
    tagger, api = remote
    m = api.Counter(tagger, [1], binwidth=int(1e9), n_values=10)   # constructed = running, no end
    t0 = time.monotonic()
    assert m.waitUntilFinished(100) is True
    assert m.waitUntilFinished(-1) is True
    assert time.monotonic() - t0 < 0.5 and m.isRunning()
    m.startFor(int(1e13))                                            # 10 s: a wait can time out
    t0 = time.monotonic()
    assert m.waitUntilFinished(100) is False
    assert 0.095 <= time.monotonic() - t0 < 0.5
    m.stop()
    assert m.waitUntilFinished(100) is True
    m.__exit__(None, None, None)


@NEEDS_RPC
def test_exit_destroys_the_remote_measurement(remote):
    tagger, api = remote
    m = api.Countrate(tagger, [1])
    uri = m._proxy._pyroUri
    assert _raw_proxy(uri).isRunning() is True
    m.__exit__(None, None, None)
    with pytest.raises(rpc.RpcError, match="released"):
        m.getData()
    _assert_dropped_by_server(uri)
    m.__exit__(None, None, None)   # twice is harmless


@NEEDS_RPC
def test_usable_from_another_thread(remote):
    tagger, api = remote
    cr = api.Countrate(tagger, [1])
    out = {}

    def work():
        try:
            out["serial"] = tagger.getSerial()
            cr.startFor(int(0.05e12))
            out["done"] = cr.waitUntilFinished(5000)
        except Exception as e:  # pragma: no cover - reported below
            out["error"] = e

    th = threading.Thread(target=work)
    th.start()
    th.join(10)
    assert out == {"serial": "SIM-ULTRA-0001", "done": True}
    assert cr.getCaptureDuration() == int(0.05e12)    # and back in this thread
    cr.__exit__(None, None, None)


@NEEDS_RPC
def test_measurement_runs_work_over_rpc(remote):
    """runs.py (what the plugins and the bridge use) on a TaggerHandle over TimeTaggerRPC."""
    from pymodaq_plugins_timetagger.hardware.access import TaggerHandle
    from pymodaq_plugins_timetagger.hardware.address import Address
    from pymodaq_plugins_timetagger.runs import make_run

    tagger, api = remote
    tagger.setTestSignal([1, 2], True)
    addr = Address("rpc", f"rpc:127.0.0.1:{api.port}", host="127.0.0.1", port=api.port)
    handle = TaggerHandle(tagger, api, addr, f"{tagger.getModel()} serial {tagger.getSerial()} "
                                             f"(TimeTaggerRPC at {api.address})", simulated=api.SIMULATED)
    run = make_run(handle, "countrate", channels=(1, 2), integration_s=0.1)
    res = run.acquire()
    assert res.metadata["capture_duration_s"] == pytest.approx(0.1)
    assert res.metadata["simulated"] is True
    assert np.allclose([d[0] for d in res.data], TEST_SIGNAL_HZ, rtol=0.02), res.data
    uri = run._meas[0]._proxy._pyroUri
    run.close()
    _assert_dropped_by_server(uri)

    g2 = make_run(handle, "correlation", channel_1=1, channel_2=2, binwidth_ps=10, n_bins=200,
                  integration_s=0.1)
    res = g2.acquire()
    assert res.metadata["total_coincidences"] == pytest.approx(0.1 * TEST_SIGNAL_HZ, rel=0.03)
    g2.close()


@NEEDS_RPC
def test_free_releases_the_tagger_on_the_server(server):
    tagger, api = rpc.open_rpc("127.0.0.1", server.port)
    m = api.Countrate(tagger, [1])
    with pytest.raises(TaggerOpenError, match="already in use"):   # one client holds it
        rpc.open_rpc("127.0.0.1", server.port, serial="SIM-ULTRA-0001")
    api.freeTimeTagger(tagger)
    assert api.closed
    with pytest.raises(rpc.RpcError):
        m.getData()
    with pytest.raises(rpc.RpcError):
        tagger.getSerial()
    tagger2, api2 = rpc.open_rpc("127.0.0.1", server.port, serial="SIM-ULTRA-0001")   # free again
    with tagger2:
        assert tagger2.getSerial() == "SIM-ULTRA-0001"
    assert api2.closed


@NEEDS_RPC
def test_client_vanishing_frees_the_tagger(server):
    """A client that goes away without freeing: the server frees its tagger when the connection closes."""
    tagger, api = rpc.open_rpc("127.0.0.1", server.port)
    m = api.Countrate(tagger, [1])
    api._release(api._owner)          # what a crashed client's closed socket does
    deadline = time.monotonic() + 3
    while "SIM-ULTRA-0001" not in api.scanTimeTagger():
        assert time.monotonic() < deadline, "the server did not free the tagger"
        time.sleep(0.02)
    api._owner = None
    api.close()
    _assert_dropped_by_server(m._proxy._pyroUri)


@NEEDS_RPC
def test_dead_server_gives_a_clear_error_quickly():
    port = free_port()
    srv = Server(port)                      # an explicit --port, as in the docs
    try:
        assert srv.port == port
        tagger, api = rpc.open_rpc("127.0.0.1", port, timeout_s=2.0)
        cr = api.Countrate(tagger, [1])
        assert tagger.getSerial() == "SIM-ULTRA-0001"
    finally:
        srv.stop()
    for call in (tagger.getSerial, lambda: cr.waitUntilFinished(-1)):
        t0 = time.monotonic()
        with pytest.raises(RuntimeError, match=f"127.0.0.1:{port}") as ei:
            call()
        assert time.monotonic() - t0 < 10
        assert isinstance(ei.value, TaggerError) and "Pyro5.errors" in str(ei.value)
    t0 = time.monotonic()
    with pytest.raises(TaggerOpenError, match=f"127.0.0.1:{port}"):
        rpc.open_rpc("127.0.0.1", port, timeout_s=2.0)
    assert time.monotonic() - t0 < 10
    with pytest.raises(rpc.RpcError, match=f"127.0.0.1:{port}"):
        api.freeTimeTagger(tagger)   # reports the failure (TaggerHandle.close logs it) ...
    assert api.closed                # ... and releases everything on this side anyway


# ----------------------------------------------------------------------------------- through the product
def test_open_tagger_with_an_rpc_address(server):
    from pymodaq_plugins_timetagger.hardware.access import open_tagger
    from pymodaq_plugins_timetagger.runs import make_run
    with open_tagger(f"rpc:127.0.0.1:{server.port}") as h:
        assert h.simulated and "SIMULATED" in h.description and "TimeTaggerRPC server" in h.description
        h.tagger.setTestSignal([6], True)
        res = make_run(h, "countrate", channels=(6,), integration_s=0.1).acquire()
        assert abs(res.data[0][0] - 800e3) <= 1 / 0.1


def test_a_viewer_plugin_over_rpc(server):
    from pymodaq.utils.plugin_testing import grab_and_wait, make_detector
    from pymodaq_plugins_timetagger.daq_viewer_plugins.plugins_1D.daq_1Dviewer_TimeTaggerCorrelation import \
        DAQ_1DViewer_TimeTaggerCorrelation
    det = make_detector(DAQ_1DViewer_TimeTaggerCorrelation, address=f"rpc:127.0.0.1:{server.port}",
                        integration_s=0.5)
    try:
        assert det.initialized, det.init_info
        dte = grab_and_wait(det, 1, timeout_ms=15_000, live=False)
        g2 = dte.get_data_from_name("Correlation")
        assert g2.shape == (201,) and g2.capture_duration_s == 0.5
        assert dte.get_data_from_name("g2(0)").data[0][0] < 0.5  # the simulated emitter, over RPC
    finally:
        det.close()


def test_the_bridge_client_over_rpc(server):
    import threading
    import time
    from pymodaq_plugins_timetagger.bridge.link import Link
    from pymodaq_plugins_timetagger.protocol.server import BridgeServer
    from pymodaq_plugins_timetagger.runs import make_settings
    with BridgeServer("127.0.0.1", 0).start() as bridge:
        client = Link("127.0.0.1", bridge.port, address=f"rpc:127.0.0.1:{server.port}",
                              kind="countrate", settings=make_settings("countrate", channels=(5,),
                                                                       integration_s=0.1))
        t = threading.Thread(target=client.serve_forever, daemon=True)
        t.start()
        try:
            deadline = time.monotonic() + 20
            while not (bridge.clients() and bridge.clients()[0].infos):
                assert time.monotonic() < deadline
                time.sleep(0.01)
            dte = bridge.request("0D", timeout=10)
            assert dte.data[0].extra["capture_duration_s"] == 0.1 and dte.data[0].data[0][0] > 0
        finally:
            client.shutdown()
            t.join(10)


@NEEDS_RPC
def test_the_rpc_backend_satisfies_the_vendor_boundary(remote):
    """The RPC api, its tagger and its measurements offer every call of hardware/vendor.py's Protocols."""
    from pymodaq_plugins_timetagger.hardware import vendor as boundary
    tagger, api = remote
    assert boundary.missing(api, boundary.Library) == []
    assert isinstance(tagger, boundary.Tagger)
    for cls, proto in boundary.MEASUREMENTS.items():
        args = ([1],) if cls in ("Countrate", "Counter") else (1, 2)
        m = getattr(api, cls)(tagger, *args)
        try:
            assert isinstance(m, proto), cls
        finally:
            m.__exit__(None, None, None)
