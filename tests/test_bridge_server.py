"""The Qt-free server core with hand-made clients on loopback (both dialects, 2D, faults)."""
import socket
import threading
import time

import numpy as np
import pytest

from pymodaq_plugins_timetagger import data_model
from pymodaq_plugins_timetagger.protocol import pymodaq5
from pymodaq_plugins_timetagger.protocol.server import (BridgeServer, ClientReportedError, NoClient,
                                                      RequestTimeout, parse_allowed)
from pymodaq_plugins_timetagger.protocol import connection as C
from tests.support.peer import Peer
from tests.support.processes import wait_for


class RawClient:
    """A minimal client speaking one dialect by hand, answering from a callback in a thread."""

    def __init__(self, port, dialect="pymodaq5", answer=None, hello=()):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.wire = Peer(self.sock, C.CLIENT, dialect)
        self.sock.sendall(self.wire.message("GRABBER") + b"".join(self.wire.message(*m) for m in hello))
        self.answer = answer
        self.commands = []
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        try:
            while True:
                cmd, args = self.wire.read(None)
                self.commands.append(cmd)
                if cmd == "set_info":
                    self.commands.append(args)
                elif cmd.startswith("Send Data") and self.answer is not None:
                    reply = self.answer(self.wire, cmd)
                    if reply:
                        self.sock.sendall(reply)
        except (EOFError, OSError):
            pass

    def close(self):
        self.sock.close()


BRIDGE_MESSAGE_TIMEOUT_S = 2.0  # the conftest's ``server``


def test_classic_2d_with_both_axes(server):
    img = np.arange(12.0).reshape(3, 4)

    def answer(w, cmd):
        assert cmd == "Send Data 2D"
        return (w.message("x_axis", np.linspace(0, 3, 4), "x", "mm") +
                w.message("y_axis", np.linspace(0, 2, 3), "y", "mm") + w.message("Done", [img, img * 2]))

    c = RawClient(server.port, "classic", answer)
    wait_for(lambda: server.clients())
    dte = server.request("2D", timeout=5)
    (dwa,) = dte.data
    assert dwa.dim == "Data2D" and len(dwa.data) == 2 and dwa.data[1][2, 3] == 22.0
    assert [(a.label, a.units, a.index, a.data.size) for a in dwa.axes] == [("y", "mm", 0, 3), ("x", "mm", 1, 4)]
    c.close()


def test_a_client_built_on_pymodaqs_own_serializer(server):
    """Frames made by pymodaq_utils (as PyMoDAQ 5.x clients make them) are read back intact."""
    from pymodaq.utils.data import Axis, DataFromPlugins, DataToExport
    from pymodaq_utils.serialize.factory import SerializableFactory
    ser = SerializableFactory()

    def frame(obj):
        b = ser.get_apply_serializer(obj)
        return len(b).to_bytes(4, "big") + b

    dte = DataToExport("remote", data=[DataFromPlugins(
        "spectrum", data=[np.linspace(0, 1, 50)], labels=["counts"], units="Hz",
        axes=[Axis("wavelength", units="nm", data=np.linspace(500, 600, 50), index=0)])])

    def answer(w, cmd):
        return frame("Done") + frame(dte)

    c = RawClient(server.port, "pymodaq5", answer)
    wait_for(lambda: server.clients())
    got = server.request("1D", timeout=5)
    d = got.data[0]
    assert d.type_name == "DataFromPlugins" and d.units == "Hz" and d.labels == ["counts"]
    assert d.axes[0].label == "wavelength" and d.axes[0].units == "nm"
    np.testing.assert_allclose(d.axes[0].data, np.linspace(500, 600, 50))
    c.close()


def test_a_late_reply_is_never_taken_for_the_next_one(server):
    """A request that times out drops the link (replies carry no id): the late reply goes nowhere, the
    client reconnects and its next answer is the answer to the next request."""
    n = [0]

    def slow_then_fast(w, cmd):
        n[0] += 1
        if n[0] == 1:
            time.sleep(0.5)  # answers after the server gave up
        dwa = data_model.DataWithAxes(name="x", data=[np.array([float(n[0])])], dim="Data0D")
        return w.message("Done", data_model.DataToExport(name="x", data=[dwa]))

    c = RawClient(server.port, "pymodaq5", slow_then_fast)
    wait_for(lambda: server.clients())
    with pytest.raises(RequestTimeout, match="did not answer 'Send Data 0D' within 0.2 s"):
        server.request("0D", timeout=0.2)
    wait_for(lambda: not server.clients())
    time.sleep(0.6)  # the late answer to request 1 goes out now, on the dropped link
    c2 = RawClient(server.port, "pymodaq5", slow_then_fast)  # the reconnection
    wait_for(lambda: server.clients())
    got = server.request("0D", timeout=5)
    assert got.data[0].data[0][0] == 2.0  # the answer to request 2, not the stale one
    c.close()
    c2.close()


def test_messages_that_come_with_a_reply_are_handled_at_once(server):
    """A request reads its own reply; an Info sent right behind it in the same segment is taken from the socket
    with it and must still be handled then (the connection's thread, waiting on the socket, does not see bytes
    already read from it: the Info used to wait for the client's next message)."""
    events = []
    server.add_listener(lambda kind, client, data: events.append((kind, data)))

    def reply_and_info(w, cmd):
        dwa = data_model.DataWithAxes(name="x", data=[np.array([1.0])], dim="Data0D")
        return (w.message("Done", data_model.DataToExport(name="x", data=[dwa]))
                + w.message("Info", "after", "the reply"))

    c = RawClient(server.port, "pymodaq5", reply_and_info)
    wait_for(lambda: server.clients())
    for i in range(20):
        assert server.request("0D", timeout=5).data[0].data[0][0] == 1.0
        wait_for(lambda: sum(k == "info" for k, _ in events) == i + 1, timeout=2, what=f"the Info after reply {i}")
    c.close()


def test_an_error_info_fails_the_request_at_once(server):
    def refuse(w, cmd):
        return w.message("Info", "error", "Time Tagger: disconnected")

    c = RawClient(server.port, "pymodaq5", refuse)
    wait_for(lambda: server.clients())
    t0 = time.monotonic()
    with pytest.raises(ClientReportedError, match="disconnected"):
        server.request("1D", timeout=10)
    assert time.monotonic() - t0 < 2
    c.close()


def test_no_client_and_client_left(server):
    with pytest.raises(NoClient, match="no client connected"):
        server.request("0D", timeout=1)
    c = RawClient(server.port, "pymodaq5", answer=None)
    wait_for(lambda: server.clients())
    threading.Timer(0.2, c.close).start()
    with pytest.raises(Exception, match="left before answering|did not answer"):
        server.request("0D", timeout=5)


def test_set_info_reaches_the_client_in_its_dialect(server):
    for dialect in ("pymodaq5", "classic"):
        c = RawClient(server.port, dialect)
        wait_for(lambda: any(x.dialect == dialect for x in server.clients()))
        cid = [x for x in server.clients() if x.dialect == dialect][0].id
        server.send_set_info(cid, ["binwidth_ps"], "<binwidth_ps type='int'>7</binwidth_ps>")
        wait_for(lambda: len(c.commands) >= 2)
        assert c.commands[:2] == ["set_info", (["binwidth_ps"], "<binwidth_ps type='int'>7</binwidth_ps>")]
        c.close()


def test_infos_and_info_are_kept(server):
    xml = "<settings type='group'><a type='int' title='A'>3</a></settings>"
    c = RawClient(server.port, "pymodaq5", hello=[("Infos", xml), ("Info", "serial", "123")])
    wait_for(lambda: server.clients() and server.clients()[0].infos)
    info = server.clients()[0]
    assert info.infos == {"serial": "123"} and info.settings.child("a").value == 3
    c.close()


def test_garbage_and_silence_are_dropped_and_others_go_on(server):
    events = []
    server.add_listener(lambda kind, client, data: events.append((kind, data)))

    def ok(w, cmd):
        dwa = data_model.DataWithAxes(name="x", data=[np.array([1.0])], dim="Data0D")
        return w.message("Done", data_model.DataToExport(name="x", data=[dwa]))

    good = RawClient(server.port, "pymodaq5", ok)
    bad = socket.create_connection(("127.0.0.1", server.port))
    bad.sendall(b"\xff" * 64)
    silent = socket.create_connection(("127.0.0.1", server.port))  # says nothing
    wait_for(lambda: sum(k == "dropped" for k, _ in events) >= 2, timeout=5)
    reasons = " | ".join(str(d) for k, d in events if k == "dropped")
    assert "protocol error" in reasons and "did not identify itself within 1" in reasons
    assert server.request("0D", timeout=5).data[0].data[0][0] == 1.0
    for s in (bad, silent):
        s.close()
    good.close()


def test_allowed_clients(server):
    server.allowed = parse_allowed("10.0.0.0/8")
    events = []
    server.add_listener(lambda kind, client, data: events.append((kind, data)))
    s = socket.create_connection(("127.0.0.1", server.port))
    wait_for(lambda: events)
    assert events[0] == ("dropped", "127.0.0.1 is not an allowed client")
    s.close()
    with pytest.raises(ValueError, match="'nonsense' is not an IP address"):
        parse_allowed("127.0.0.1, nonsense")


def test_port_in_use_names_the_address(server):
    with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{server.port}"):
        BridgeServer("127.0.0.1", server.port).start()


def test_ipv6_loopback():
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        s = BridgeServer("::1", 0).start()
    except OSError as e:
        pytest.skip(f"IPv6 loopback not available: {e}")
    try:
        sock = socket.create_connection(("::1", s.port), timeout=5)
        sock.sendall(pymodaq5.encode_frames("GRABBER"))
        wait_for(lambda: s.clients())
        assert s.clients()[0].address == "::1"
        sock.close()
    finally:
        s.stop()


def test_our_client_reports_a_tagger_failure_and_recovers(server):
    """A tagger that fails mid-integration: the error reaches the server as an Info (and the log) at
    once, no data; when the tagger is back the client serves again."""
    from pymodaq_plugins_timetagger.bridge.link import Link
    from pymodaq_plugins_timetagger.runs import make_settings
    client = Link("127.0.0.1", server.port, address="sim", kind="countrate",
                          settings=make_settings("countrate", channels=(5,), integration_s=0.3))
    t = threading.Thread(target=client.serve_forever, daemon=True)
    t.start()
    try:
        wait_for(lambda: server.clients() and server.clients()[0].infos)
        assert server.request("0D", timeout=5).data[0].data[0][0] > 0
        tagger = client.handle.tagger
        threading.Timer(0.1, tagger.sim_unplug).start()  # the link dies during the integration
        with pytest.raises(ClientReportedError, match="Time Tagger: .*disconnected"):
            server.request("0D", timeout=5)
        assert "disconnected" in server.clients()[0].infos["error"]
        assert "disconnected" in client.status.last_error
        tagger.sim_replug()
        got = server.request("0D", timeout=5)
        assert got.data[0].data[0][0] > 0 and client.status.last_error == ""
    finally:
        client.shutdown()
        t.join(10)
    assert client.handle is None  # the tagger was freed
