"""The plugin side of issue 13 in one process: the Responder the TCP link calls from its own thread, and the Qt
hop into the plugin's thread (here the test's main thread, whose Qt events are pumped).

Serialisation with local grabs, cancellation, refusals of set_info, bounded waits.
"""
import threading
import time

import pytest
from pymodaq.utils.plugin_testing import make_detector

from tests.support.processes import in_thread, pump, pump_until
from tests.support.viewers import link_to_server
from pymodaq_plugins_timetagger.protocol.paramxml import from_xml_string
from pymodaq_plugins_timetagger.daq_viewer_plugins import remote_server
from pymodaq_plugins_timetagger.daq_viewer_plugins.plugins_1D.daq_1Dviewer_TimeTaggerCorrelation import \
    DAQ_1DViewer_TimeTaggerCorrelation
from pymodaq_plugins_timetagger.hardware.errors import AcquisitionAborted, SettingsError

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def plugin():
    det = make_detector(DAQ_1DViewer_TimeTaggerCorrelation, address="sim", integration_s=0.3)
    yield det
    det.close()


def test_a_request_waits_for_the_local_grab_in_flight_which_keeps_its_data(plugin):
    local, temp = [], []
    plugin.dte_signal.connect(local.append)
    plugin.dte_signal_temp.connect(temp.append)
    responder = remote_server.PluginResponder(plugin, threading.Event())
    # live grabbing: the next local grab is asked for as soon as the data of the last one are in (here at once,
    # while the plugin still handles that grab's end; in a DAQ_Viewer, a moment later)
    plugin.dte_signal.connect(lambda dte: plugin.grab_data() if len(local) == 1 else None)
    plugin.grab_data()  # a local grab in flight
    box = in_thread(lambda: responder.answer("1D", threading.Event()))
    pump_until(lambda: "value" in box or "error" in box, 15, "the server's answer")
    assert "error" not in box, box
    pump_until(lambda: len(local) == 2, 15, "the second local grab")
    assert [d.name for d in box["value"].data] == ["Correlation", "g2(0)", "g2(0) interval"]
    assert box["value"].data[0].extra["capture_duration_s"] == pytest.approx(0.3)
    assert len(temp) == 1 and temp[0].data[0].capture_duration_s == pytest.approx(0.3)
    assert all(d.data[0].capture_duration_s == pytest.approx(0.3) for d in local)
    # the order: local, the server's, local (each window of its own)
    assert local[0].data[0].timestamp < temp[0].data[0].timestamp < local[1].data[0].timestamp


def test_a_stopped_link_cancels_the_request_and_sends_nothing(plugin):
    responder = remote_server.PluginResponder(plugin, threading.Event())
    stop = threading.Event()
    temp = []
    plugin.dte_signal_temp.connect(temp.append)
    box = in_thread(lambda: responder.answer("1D", stop))
    pump(0.1)
    stop.set()
    pump_until(lambda: "error" in box, 5, "the cancelled answer")
    assert isinstance(box["error"], AcquisitionAborted)
    pump(0.5)
    assert not temp and not plugin.job_running()


def test_set_info_is_applied_in_the_plugins_thread_and_refusals_name_the_setting(plugin):
    responder = remote_server.PluginResponder(plugin, threading.Event())
    xml = '<binwidth_ps type="int" title="Bin width (ps):">1000</binwidth_ps>'
    box = in_thread(lambda: responder.apply_edit(["settings_client", "measurement", "binwidth_ps"], xml))
    pump_until(lambda: "value" in box or "error" in box, 5, "the applied edit")
    path, applied = box["value"]
    assert path == ["settings", "measurement", "binwidth_ps"] and from_xml_string(applied).value == 1000
    assert plugin.settings["measurement", "binwidth_ps"] == 1000 and plugin._run.settings.binwidth_ps == 1000
    for path, xml, words in [
        (["address"], '<address type="str">net:evil</address>', "fixed on the remote PC"),
        (["remote", "host"], '<host type="str">x</host>', "not a setting"),
        (["measurement", "n_bins"], '<n_bins type="int">0</n_bins>', "n_bins"),
        (["measurement", "n_bins"], '<n_bins type="str">lots</n_bins>', "must be an integer"),
        (["integration_s"], '<integration_s type="float">-1</integration_s>', "integration"),
    ]:
        box = in_thread(lambda: responder.apply_edit(path, xml))
        pump_until(lambda: "value" in box or "error" in box, 5, f"the refusal of {path}")
        assert isinstance(box.get("error"), SettingsError) and words in str(box["error"]), (path, box)
    # the values applied are still shown (and what the link sends back after a refusal)
    assert plugin.settings["measurement", "n_bins"] == plugin._run.settings.n_bins
    assert plugin.settings["integration_s"] == pytest.approx(0.3)
    box = in_thread(lambda: responder.applied_xml(["measurement", "n_bins"]))
    pump_until(lambda: "value" in box, 5, "the applied value")
    assert from_xml_string(box["value"][1]).value == plugin._run.settings.n_bins


def test_the_hop_is_bounded_when_the_plugins_thread_does_not_answer(plugin):
    closing = threading.Event()
    responder = remote_server.PluginResponder(plugin, closing)
    t0 = time.monotonic()
    box = in_thread(responder.settings_xml)
    box["thread"].join(remote_server.HOP_TIMEOUT_S + 2)  # no Qt events processed meanwhile
    assert isinstance(box.get("error"), TimeoutError) and time.monotonic() - t0 < remote_server.HOP_TIMEOUT_S + 2
    box = in_thread(responder.infos)
    closing.set()  # closing: the link's calls end at once
    box["thread"].join(1.0)
    assert isinstance(box.get("error"), TimeoutError)
    pump(0.1)  # the dropped calls do not run late
    box = in_thread(responder.infos)
    pump_until(lambda: "value" in box, 5, "infos")
    assert box["value"]["measurement"] == "correlation" and "SIMULATED" in box["value"]["device"]


def test_the_remote_server_group_links_to_a_bridge_server(plugin):
    """Connect, status, a grab for the server, a local edit pushed to its mirror, Quit from the server."""
    from pymodaq_plugins_timetagger.protocol.server import BridgeServer
    server = BridgeServer("127.0.0.1", 0).start()
    events = []
    server.add_listener(lambda kind, client, data: events.append((kind, data)))
    try:
        group = link_to_server(plugin, server.port)
        pump_until(lambda: server.clients() and server.clients()[0].settings is not None, 10, "the link")
        pump_until(lambda: group["status"] == f"connected to 127.0.0.1:{server.port}", 5, "the status")
        info = server.clients()[0]
        assert info.settings.child("integration_s").value == pytest.approx(0.3)
        assert info.settings.child("address").readonly and info.infos["measurement"] == "correlation"
        box = in_thread(lambda: server.request("1D", timeout=10))
        pump_until(lambda: "value" in box or "error" in box, 10, "the server's request")
        assert box["value"].data[0].extra["capture_duration_s"] == pytest.approx(0.3), box
        # a local edit: the server's mirror follows (Info_xml)
        p = plugin.settings.child("measurement", "binwidth_ps")
        p.setValue(2000)
        plugin.commit_settings(p)
        pump_until(lambda: any(k == "info_xml" for k, _ in events), 5, "the pushed edit")
        (path, xml), = [d for k, d in events if k == "info_xml"]
        assert path == ["settings", "measurement", "binwidth_ps"] and from_xml_string(xml).value == 2000
        # Quit from the server ends the link and unticks Connect
        server.send_quit()
        pump_until(lambda: not group["connect"], 10, "Connect unticked after Quit")
        assert "quit" in group["status"]
    finally:
        server.stop()


def test_a_server_with_a_shared_secret(plugin, tmp_path):
    """Nobody there: waiting (and why); without the secret: refused (and why); with the server's secret file it
    connects; an unreadable secret file is said at once."""
    from pymodaq_plugins_timetagger.protocol.server import BridgeServer
    secret = tmp_path / "bridge.secret"
    secret.write_bytes(b"correct horse battery staple\n")
    from tests.support.processes import free_port
    group = link_to_server(plugin, free_port())  # nobody listens there yet
    pump_until(lambda: group["status"].startswith("waiting for") and "refused" in group["status"], 10,
               "waiting, and why")
    server = BridgeServer("127.0.0.1", 0, secret=b"correct horse battery staple").start()
    try:
        group.child("port").setValue(server.port)
        plugin.commit_settings(group.child("port"))  # connects again there
        pump_until(lambda: group["status"].startswith("refused by"), 10, "the refusal")
        assert "shared secret" in group["status"], group["status"]
        assert not server.clients()
        group.child("secret_file").setValue(str(secret))
        plugin.commit_settings(group.child("secret_file"))  # connects again with it
        pump_until(lambda: group["status"].startswith("connected to"), 10, "connected with the secret")
        pump_until(lambda: server.clients(), 5, "the authenticated link")
        group.child("secret_file").setValue(str(tmp_path / "missing"))
        plugin.commit_settings(group.child("secret_file"))
        assert "cannot read the secret file" in group["status"] and not group["connect"]
    finally:
        server.stop()


def test_the_classic_dialect(plugin):
    """Dialect 'classic' (PyMoDAQ ≤ 4): the server reads the link as such and gets the g2 with its axis."""
    from pymodaq_plugins_timetagger.protocol.server import BridgeServer
    server = BridgeServer("127.0.0.1", 0).start()
    try:
        link_to_server(plugin, server.port, dialect="classic")
        pump_until(lambda: server.clients() and server.clients()[0].settings is not None, 10, "the classic link")
        assert server.clients()[0].dialect == "classic"
        box = in_thread(lambda: server.request("1D", timeout=10))
        pump_until(lambda: "value" in box or "error" in box, 10, "the server's request")
        g2 = box["value"].data[0]
        assert g2.data[0].size == plugin.settings["measurement", "n_bins"]
        assert g2.axes and g2.axes[0].label == "delay" and g2.axes[0].units == "s"
    finally:
        server.stop()
