"""Every value a peer (or the user) sets goes through the one checker of settings.py.

A hostile or broken peer's value is refused with a SettingsError naming the setting, whatever it is (``inf``,
``1e400``, a group, a bool, a list, text); a refused value changes nothing (not the plugin's tree, not the run,
not the device) and the echo states the value applied; the value already applied restarts nothing; text from a
peer is printed and logged with its control characters escaped, refusals logged at most a rate-limited line.

Routes: the settings checker itself, the headless client's service (and its link against our real server on
127.0.0.1), the LECO actor's set path, and a viewer plugin's remote link (its Responder, in the plugin's thread).
"""
import logging
import threading
import time

import pytest
from pymodaq.utils.plugin_testing import make_detector

from pymodaq_plugins_timetagger import settings as declared
from pymodaq_plugins_timetagger.bridge.service import MeasurementService
from pymodaq_plugins_timetagger.daq_viewer_plugins import remote_server
from pymodaq_plugins_timetagger.daq_viewer_plugins.plugins_1D.daq_1Dviewer_TimeTaggerCorrelation import \
    DAQ_1DViewer_TimeTaggerCorrelation
from pymodaq_plugins_timetagger.daq_viewer_plugins.plugins_1D.daq_1Dviewer_TimeTaggerCounter import \
    DAQ_1DViewer_TimeTaggerCounter
from pymodaq_plugins_timetagger.hardware.errors import SettingsError
from pymodaq_plugins_timetagger.protocol.paramxml import from_xml_string
from pymodaq_plugins_timetagger.runs import make_settings
from tests.support.processes import in_thread, pump, pump_until, wait_for

pytestmark = pytest.mark.timeout(60)

HOSTILE = [
    ("n_bins", float("inf")), ("n_bins", 10 ** 400), ("binwidth_ps", float("nan")),
    ("integration_s", 10 ** 400), ("integration_s", None), ("integration_s", float("inf")),
    ("channels", None), ("channels", True), ("channels", [1, [2]]), ("channels", {"a": 1}),
    ("normalize", [1]), ("normalize", {}), ("normalize", None),
    ("channel_1", None), ("channel_1", [1]), ("zero_window_ps", 1e400),
    ("timeout_margin_s", -100), ("timeout_margin_s", float("nan")), ("mode", "sometimes"), ("mode", None),
]


@pytest.mark.parametrize("name,value", HOSTILE)
def test_the_checker_refuses_anything_with_its_one_error(name, value):
    with pytest.raises(SettingsError, match=name):
        declared.check(name, value)


# ------------------------------------------------------------------------------------------ the headless client
@pytest.fixture
def service():
    s = MeasurementService("sim", ["countrate", "correlation"], sim_options={"sim_clock": "virtual"})
    s.open()
    yield s
    s.close()


@pytest.mark.parametrize("path,xml", [
    (["countrate", "channels"], '<channels type="group"></channels>'),
    (["countrate", "channels"], '<channels type="bool">1</channels>'),
    (["correlation", "normalize"], '<normalize type="list">[1]</normalize>'),
    (["correlation", "n_bins"], '<n_bins type="float">inf</n_bins>'),
    (["correlation", "n_bins"], '<n_bins type="float">1e400</n_bins>'),
    (["correlation", "n_bins"], '<n_bins type="int">5000001</n_bins>'),  # a reply over the frame cap
    (["bogus"], '<n_bins type="int">12</n_bins>'),  # a path that is not where the XML's setting is
    (["correlation", "bogus", "n_bins"], '<n_bins type="int">12</n_bins>'),
])
def test_the_service_refuses_a_hostile_set_info_and_changes_nothing(service, path, xml):
    before = dict(service.settings)
    with pytest.raises(SettingsError):
        service.apply_edit(path, xml)
    assert service.settings == before
    assert {k: r.settings for k, r in service.runs.items()} == before


def test_the_value_already_applied_restarts_nothing(service, monkeypatch):
    updates = []
    run = service.runs["correlation"]
    monkeypatch.setattr(run, "update", lambda s: updates.append(s))
    n = service.settings["correlation"].n_bins
    path, xml = service.apply_edit(["correlation", "n_bins"], f'<n_bins type="int">{n}</n_bins>')
    assert updates == [] and from_xml_string(xml).value == n


@pytest.fixture
def bridge_server():
    from pymodaq_plugins_timetagger.protocol.server import BridgeServer
    server = BridgeServer("127.0.0.1", 0).start()
    yield server
    server.stop()


@pytest.fixture
def bridge_logs():
    records = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append
    log = logging.getLogger("pymodaq_plugins_timetagger.bridge")
    log.addHandler(handler)
    old = log.level
    log.setLevel(logging.INFO)
    yield records
    log.removeHandler(handler)
    log.setLevel(old)


def test_the_client_survives_hostile_set_infos_and_escapes_and_throttles_what_it_shows(bridge_server, bridge_logs):
    from tests.support.bridge import start_client, stop_client
    shown = []
    client, t = start_client(bridge_server.port, kind="correlation",
                             settings=make_settings("correlation", integration_s=0.001),
                             on_status=lambda st: shown.append(st.line()))
    try:
        wait_for(lambda: bridge_server.clients(), 20, "the client")
        cid = bridge_server.clients()[0].id
        before = client.service.settings["correlation"]
        evil = "\x1b]0;pwned\x07\x1b[2J"
        for path, xml in [(["channel_1"], '<channel_1 type="group"></channel_1>'),
                          (["normalize"], '<normalize type="bool">1</normalize>'),
                          (["n_bins"], '<n_bins type="float">inf</n_bins>'),
                          ([evil, "n_bins"], '<n_bins type="int">12</n_bins>')] + \
                [(["n_bins"], '<n_bins type="int">0</n_bins>')] * 100:
            bridge_server.send_set_info(cid, path, xml)
        wait_for(lambda: shown and "n_bins must be between" in shown[-1], 20, "the last refusal shown")
        dte = bridge_server.request("1D", timeout=20)  # the client still serves
        assert dte.data and t.is_alive()
        assert client.service.settings["correlation"] == before
        assert not any("\x1b" in line or "\x07" in line for line in shown), shown
        assert any("\\x1b" in line for line in shown)
        lines = [r.getMessage() for r in bridge_logs if r.levelno >= logging.WARNING]
        assert not any("\x1b" in line for line in lines)
        assert len(lines) <= 5, lines  # 104 refusals, a rate-limited line
    finally:
        stop_client(client, t)


def test_the_leco_actor_refuses_a_hostile_set_info_and_goes_on(service):
    pytest.importorskip("pyleco")
    from pymodaq_plugins_timetagger.bridge.leco_actor import LecoTaggerActor
    actor = LecoTaggerActor(service, "127.0.0.1", 1, "timetagger_test")
    sent = []
    actor._send = lambda *args, **kw: sent.append(args) or True
    actor._send_param = lambda *args, **kw: sent.append(args)
    before = dict(service.settings)
    for path, xml in [(["countrate", "channels"], '<channels type="group"></channels>'),
                      (["countrate", "channels"], '<channels type="bool">1</channels>'),
                      (["correlation", "normalize"], '<normalize type="list">[1]</normalize>')]:
        actor._set_info(None, path, xml)
    assert service.settings == before and "set_info" in service.status.last_error


# ------------------------------------------------------------------------------------------ a plugin's remote link
@pytest.fixture
def correlation():
    det = make_detector(DAQ_1DViewer_TimeTaggerCorrelation, address="sim", integration_s=0.3)
    yield det
    det.close()


@pytest.fixture
def counter():
    det = make_detector(DAQ_1DViewer_TimeTaggerCounter, address="sim", integration_s=0.3)
    yield det
    det.close()


def edit(plugin, path, xml):
    """The server's set_info through the plugin's Responder (the link's thread), the plugin's thread pumped."""
    responder = remote_server.PluginResponder(plugin, threading.Event())
    box = in_thread(lambda: responder.apply_edit(path, xml))
    pump_until(lambda: "value" in box or "error" in box, 10, f"the answer to {path}")
    return box


def tree(plugin):
    return {p: plugin.settings.child(*p).value() for p in plugin._applied}


@pytest.mark.parametrize("path,xml", [
    (["measurement", "n_bins"], '<n_bins type="float">inf</n_bins>'),
    (["measurement", "n_bins"], '<n_bins type="float">1e400</n_bins>'),
    (["measurement", "n_bins"], '<n_bins type="int">5000001</n_bins>'),  # a reply over the frame cap
    (["measurement", "zero_window_ps"], '<zero_window_ps type="float">nan</zero_window_ps>'),
    (["timeout_margin_s"], '<timeout_margin_s type="float">-100</timeout_margin_s>'),
    (["timeout_margin_s"], '<timeout_margin_s type="float">nan</timeout_margin_s>'),
    (["integration_s"], '<integration_s type="float">inf</integration_s>'),
    (["mode"], '<mode type="list">sometimes</mode>'),
    (["measurement", "output"], '<output type="list">both</output>'),
    (["measurement", "channel_1"], '<channel_1 type="int">9</channel_1>'),  # not an input of the Ultra
    (["measurement", "n_bins"], '<integration_s type="float">2</integration_s>'),  # not the path's setting
])
def test_a_plugin_refuses_a_hostile_set_info_and_changes_nothing(correlation, path, xml):
    before, settings = tree(correlation), correlation._run.settings
    box = edit(correlation, path, xml)
    assert isinstance(box.get("error"), SettingsError), box
    pump(0.1)
    assert tree(correlation) == before and correlation._run.settings == settings
    assert correlation.settings["last_error"]  # and shown where the user looks
    # the link (still there) echoes the value applied
    box = edit(correlation, ["integration_s"], '<integration_s type="float">0.2</integration_s>')
    assert from_xml_string(box["value"][1]).value == pytest.approx(0.2) and not correlation.settings["last_error"]


def test_a_refused_bin_width_leaves_the_tree_as_applied_and_later_edits_work(counter):
    applied = counter.settings["measurement", "binwidth_ms"]
    for text in ("nan", "inf", "-1"):
        box = edit(counter, ["measurement", "binwidth_ms"], f'<binwidth_ms type="float">{text}</binwidth_ms>')
        assert isinstance(box.get("error"), SettingsError), box
        assert counter.settings["measurement", "binwidth_ms"] == applied
    p = counter.settings.child("measurement", "n_values")
    p.setValue(50)
    counter.commit_settings(p)  # the user's own edit: no error out of commit_settings
    assert counter._run.settings.n_values == 50 and counter.settings["measurement", "binwidth_ms"] == applied
    box = edit(counter, ["measurement", "binwidth_ms"], '<binwidth_ms type="float">5</binwidth_ms>')
    assert from_xml_string(box["value"][1]).value == pytest.approx(5.0)
    assert counter._run.settings.binwidth_ps == 5_000_000_000


def test_unticking_the_last_channel_is_refused_and_shown_ticked(counter):
    group = counter.settings.child("measurement", "channels")
    ticked = [c.name() for c in group.children() if c.value()]
    for name in ticked:
        p = group.child(name)
        p.setValue(False)
        counter.commit_settings(p)
    last = group.child(ticked[-1])
    assert last.value() is True  # shown as it is measured
    assert counter._run.settings.channels == (int(ticked[-1][2:]),)
    assert "at least one channel" in counter.settings["last_error"]


def test_the_value_already_applied_does_not_restart_the_grab_in_flight(correlation):
    got = []
    correlation.dte_signal.connect(got.append)
    correlation.grab_data()  # 0.3 s
    xml = '<integration_s type="float">0.3</integration_s>'
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        box = edit(correlation, ["integration_s"], xml)  # the server repeats the value applied
        assert "value" in box, box
        pump(0.1)
    assert got, "the grab never delivered while the server repeated the value applied"
