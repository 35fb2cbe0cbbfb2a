"""A closed plugin is freed by reference counting, in the thread that drops it: never left to Python's cycle collector.

The collector runs in whichever thread happens to allocate when it triggers, often a non-Qt one (a grab job, the
remote-server link, a bridge connection). A plugin is a QObject: deleted there, outside its own thread, it leaves
its Qt timers registered with a dispatcher that later fires them on freed memory. That was a segfault seen in
test_remote_server after test_remote_responder (1 run in 2 or 3): five Correlation plugins of the earlier tests,
kept alive by the cycles plugin -> RemoteLink -> plugin and plugin -> finished job -> its closure -> plugin, were
collected in the link's thread. These tests keep the collector off and check that nothing of ours holds a closed
plugin: each cycle removed, the plugin is gone as soon as the test drops it.
"""
import gc
import weakref

import pytest
from pymodaq.utils.plugin_testing import grab_and_wait, make_detector

from tests.support.bridge import start_client, stop_client
from tests.support.processes import in_thread, pump, pump_until
from tests.support.viewers import link_to_server
from pymodaq_plugins_timetagger.daq_viewer_plugins.plugins_0D.daq_0Dviewer_TimeTaggerCountrate import \
    DAQ_0DViewer_TimeTaggerCountrate
from pymodaq_plugins_timetagger.daq_viewer_plugins.plugins_1D.daq_1Dviewer_TimeTaggerCorrelation import \
    DAQ_1DViewer_TimeTaggerCorrelation
from pymodaq_plugins_timetagger.daq_viewer_plugins.plugins_0D.daq_0Dviewer_TimeTaggerTCPServer import \
    DAQ_0DViewer_TimeTaggerTCPServer
from pymodaq_plugins_timetagger.protocol.server import BridgeServer

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def no_collector():
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    yield
    if was:
        gc.enable()


def assert_freed(ref, settle_s: float = 0.1) -> None:
    """The object of ``ref`` (a closed plugin the test no longer refers to) is gone once Qt's events are handled;
    else the failure names the types of what still refers to it."""
    pump(settle_s)
    obj = ref()
    if obj is not None:
        held_by = ", ".join(sorted({type(r).__name__ for r in gc.get_referrers(obj)}))
        del obj
        raise AssertionError(f"a closed plugin is still held by: {held_by}")


def test_a_plugin_that_grabbed_is_freed_when_dropped(no_collector):
    det = make_detector(DAQ_1DViewer_TimeTaggerCorrelation, address="sim", integration_s=0.05)
    assert grab_and_wait(det, timeout_ms=10_000) is not None
    det.close()
    ref = weakref.ref(det)
    del det
    assert_freed(ref)


def test_a_plugin_stopped_in_a_grab_is_freed_when_dropped(no_collector):
    det = make_detector(DAQ_0DViewer_TimeTaggerCountrate, address="sim", integration_s=0.5)
    det.grab_data()
    pump(0.05)
    det.stop()
    det.close()
    ref = weakref.ref(det)
    del det
    assert_freed(ref)


def test_a_plugin_that_served_a_remote_server_is_freed_when_dropped(no_collector):
    server = BridgeServer("127.0.0.1", 0).start()
    try:
        det = make_detector(DAQ_1DViewer_TimeTaggerCorrelation, address="sim", integration_s=0.05)
        link_to_server(det, server.port)
        pump_until(lambda: server.clients() and server.clients()[0].settings is not None, 10, "the link")
        box = in_thread(lambda: server.request("1D", timeout=10))
        pump_until(lambda: "value" in box or "error" in box, 10, "the server's request")
        assert "value" in box, box
        det.close()
        ref = weakref.ref(det)
        del det
        assert_freed(ref, 0.2)
    finally:
        server.stop()


def test_a_tcpserver_plugin_that_grabbed_is_freed_when_dropped(no_collector):
    det = make_detector(DAQ_0DViewer_TimeTaggerTCPServer, socket_ip="127.0.0.1", port_id=0, grab_timeout_s=10.0)
    client, t = start_client(det.controller.port)
    try:
        assert grab_and_wait(det, timeout_ms=10_000) is not None
        det.close()
    finally:
        stop_client(client, t)
    ref = weakref.ref(det)
    del det
    assert_freed(ref)


@pytest.mark.parametrize("cls, kw", [
    (DAQ_0DViewer_TimeTaggerCountrate, dict(address="sim", integration_s=0.05)),
    (DAQ_0DViewer_TimeTaggerTCPServer, dict(socket_ip="127.0.0.1", port_id=0, grab_timeout_s=10.0))])
def test_a_grab_that_ends_after_close_emits_nothing(no_collector, cls, kw):
    """A grab's outcome that comes after close (a job told to stop ends later; a TCPServer grab's job is not waited
    for at all) must not be emitted: the dashboard may have freed the plugin by then, and a signal emitted by a
    deleted QObject crashed a later event loop (test_a_plugin_stopped_in_a_grab_is_freed_when_dropped, 1 run in 6:
    close waited for the job's 'done', which came just before its emission)."""
    det = make_detector(cls, **kw)
    seen = []
    det._job_done.connect(seen.append)  # a plain function: it keeps nothing of the plugin
    finish = det.start_reported()       # a grab begun, its outcome to come from another thread
    det.close()
    box = in_thread(lambda: finish(RuntimeError("too late")))
    pump_until(lambda: "value" in box or "error" in box, 10, "the late outcome")
    pump(0.1)
    assert seen == []
    ref = weakref.ref(det)
    del det
    assert_freed(ref)
