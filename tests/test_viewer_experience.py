"""What the main PC's user sees, through PyMoDAQ's real DAQ_Viewer (UI offscreen) and real client processes.

Failed initializations say why (status bar, log, a field of the settings); the mirror of the client's settings
is the client that will answer the next grab, in the UI's copy that a scan saves too, and says "no client"
when there is none; a grab during a short outage waits for the client to come back.
"""
import logging
import socket

import pytest
from pymodaq_gui.qt_utils import mkQApp  # applies PyMoDAQ's theme, which the UI needs

from pymodaq.control_modules.daq_viewer_ui.viewer_selector import SelectedModule
from pymodaq.control_modules.enums import DAQTypesEnum
from pymodaq.utils.plugin_testing import wait_for_signal

from tests.support.processes import Client, Peer, free_port, pump, pump_until
from tests.support.viewers import server_of

pytestmark = pytest.mark.timeout(180)


class Records(logging.Handler):
    """Every record of the 'pymodaq' loggers (what goes to pymodaq.log)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@pytest.fixture
def log_records():
    handler = Records()
    root = logging.getLogger("pymodaq")
    root.addHandler(handler)
    old = root.level
    root.setLevel(logging.INFO)
    yield handler.lines
    root.removeHandler(handler)
    root.setLevel(old)


@pytest.fixture
def viewers():
    made = []

    def _make(daq_type, plugin, title, **settings):
        mkQApp("tests")
        from pymodaq.utils.gui_utils.loader_utils import create_load_daq_viewer
        shared_ui, viewer = create_load_daq_viewer(title=title)
        shared_ui.show()
        viewer.detector = SelectedModule(DAQTypesEnum[daq_type], plugin)
        for name, value in settings.items():
            viewer.settings.child("detector_settings", name).setValue(value)
        viewer.statuses = []
        viewer.status_sig.connect(viewer.statuses.append)
        made.append(viewer)
        return viewer

    yield _make
    for v in made:
        v.quit_fun()
    pump(0.2)


def init(viewer, expect=True, timeout_ms=20_000):
    ok = wait_for_signal(viewer.init_signal, lambda: viewer.init_hardware(True), timeout_ms)
    assert ok is expect, viewer.statuses
    pump(0.3)  # the plugin's messages that follow PyMoDAQ's own


# ------------------------------------------------------------------------------------------ failed initialization
@pytest.mark.parametrize("address,words", [
    ("12345", "'12345'"),
    ("net:nohost", "'net:nohost'"),
])
def test_a_failed_tagger_initialization_says_why(viewers, log_records, address, words):
    viewer = viewers("DAQ0D", "TimeTaggerCountrate", f"fail_{address}", address=address)
    init(viewer, expect=False)
    last = viewer.statuses[-1]
    assert words in last and "cannot open the Time Tagger" in last, viewer.statuses
    assert "Viewer initialized: False" in viewer.statuses  # PyMoDAQ's own, now followed by the reason
    device = viewer.settings["detector_settings", "device"]
    assert device.startswith("not initialized:") and words in device
    assert any(words in line and "cannot open" in line for line in log_records), log_records


def test_a_tcpserver_on_a_busy_port_says_why(viewers, log_records):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        viewer = viewers("DAQ0D", "TimeTaggerTCPServer", "busy_port", socket_ip="127.0.0.1", port_id=port)
        init(viewer, expect=False)
    reason = f"cannot listen on 127.0.0.1:{port}"
    assert reason in viewer.statuses[-1], viewer.statuses
    assert reason in viewer.settings["detector_settings", "server_state"]
    assert any(reason in line for line in log_records)


# ------------------------------------------------------------------------------------------ the mirror
def visible(group):
    """{name: value or {children}} of the visible children (what the user sees, and the current client's)."""
    return {c.name(): (visible(c) if c.type() == "group" else c.value())
            for c in group.children() if c.opts.get("visible", True)}


def client_values(param):
    return {c.name: (client_values(c) if c.children or c.type == "group" else c.value) for c in param.children}


def test_the_mirror_follows_the_client_that_answers(viewers, tmp_path, log_records):
    port = free_port()
    # DAQ1D: the restarted client serves a correlation, and a reply must match its request's dimension
    viewer = viewers("DAQ1D", "TimeTaggerTCPServer", "mirror", socket_ip="127.0.0.1", port_id=port, grab_timeout_s=20.0)
    init(viewer)
    settings = viewer.settings.child("detector_settings", "settings_client")
    infos = viewer.settings.child("detector_settings", "infos")
    mirrored = lambda: viewer.settings["detector_settings", "mirrored"]  # noqa: E731
    client = Client(port, "--measurement", "countrate", "--channels", "1,2", "--integration-s", "0.2",
                    tmp_path=tmp_path)
    try:
        pump_until(lambda: visible(settings).get("integration_s") == 0.2 and "model" in visible(infos)
                   and mirrored().startswith("#1 "), 30, "the first client mirrored")
        assert visible(infos)["model"] == "Time Tagger Ultra"
        client.kill()
        pump_until(lambda: mirrored() == "no client" and visible(settings) == {} and visible(infos) == {},
                    what="'no client' and nothing shown after the client left")
        # restarted with other settings, another model and another measurement
        client = Client(port, "--address", "sim:tt20", "--measurement", "correlation", "--binwidth-ps", "2000",
                        "--integration-s", "0.5", tmp_path=tmp_path, name="restarted")
        pump_until(lambda: visible(settings).get("integration_s") == 0.5 and "model" in visible(infos)
                   and mirrored().startswith("#2 "), 30, "the restarted client mirrored")
        pump(0.5)
        (info,) = server_of(viewer).clients()
        # what the user sees, and what the viewer saves with a scan, is the current client, and only it
        assert visible(settings) == client_values(info.settings)
        assert visible(settings)["binwidth_ps"] == 2000 and visible(settings)["measurement"] == "correlation"
        assert visible(infos)["model"] == "Time Tagger 20"
        # the settings as PyMoDAQ saves them with a scan: what is visible is the current client; the rest is
        # hidden and marked (PyMoDAQ's copy of a plugin's settings cannot lose a child)
        from pymodaq_gui.parameter import ioxml
        from pymodaq_plugins_timetagger.protocol.paramxml import from_xml_string
        saved = from_xml_string(ioxml.parameter_to_xml_string(viewer.settings.child("detector_settings")))
        for group, expected in ((saved.child("settings_client"), client_values(info.settings)),
                                (saved.child("infos"), info.infos)):
            assert {p.name: p.value for p in group.children if p.visible} == expected  # (a flat tree)
            assert all(p.title.startswith("(not sent by the current client)") for p in group.children
                       if not p.visible)
        dte = wait_for_signal(viewer.grab_done_signal, viewer.snap, 20_000)
        assert dte.data[0].capture_duration_s == pytest.approx(0.5)
        assert not [line for line in log_records if "Already have child" in line]
    finally:
        if client.proc.poll() is None:
            client.stop()


# ------------------------------------------------------------------------------------------ a short outage
def test_a_grab_during_a_short_outage_gets_the_restarted_clients_data(viewers, tmp_path):
    port = free_port()
    viewer = viewers("DAQ0D", "TimeTaggerTCPServer", "outage", socket_ip="127.0.0.1", port_id=port, grab_timeout_s=20.0)
    init(viewer)
    client = Client(port, "--measurement", "countrate", "--channels", "1", "--integration-s", "0.1",
                    tmp_path=tmp_path)
    try:
        pump_until(lambda: server_of(viewer).clients(), 30, "the client connects")
        first = wait_for_signal(viewer.grab_done_signal, viewer.snap, 20_000)
        client.kill()
        pump_until(lambda: not server_of(viewer).clients(), what="the client is gone")
        got = []
        viewer.grab_done_signal.connect(got.append)
        viewer.snap()
        pump(0.5)
        client.start()  # back within the grab timeout
        pump_until(lambda: got, 30, what="the grab's data from the restarted client")
        dwa = got[0].data[0]
        assert dwa.capture_duration_s == pytest.approx(0.1)
        assert dwa.timestamp > first.data[0].timestamp
        assert not [s for s in viewer.statuses if "no client connected" in s]
    finally:
        if client.proc.poll() is None:
            client.stop()


def test_when_no_client_comes_back_the_clearest_message_stays(viewers):
    port = free_port()
    viewer = viewers("DAQ0D", "TimeTaggerTCPServer", "noclient", socket_ip="127.0.0.1", port_id=port, grab_timeout_s=0.5)
    init(viewer)
    viewer.snap()
    pump_until(lambda: any("no client connected" in s for s in viewer.statuses), what="the failure")
    pump(1.0)
    assert "no client connected" in viewer.statuses[-1] and "waited 0.5 s" in viewer.statuses[-1], \
        viewer.statuses[-4:]


# ------------------------------------------------------------------------------------------ small things
def test_a_refused_value_does_not_stay_displayed(viewers):
    viewer = viewers("DAQ1D", "TimeTaggerCorrelation", "refused", address="sim", integration_s=0.05)
    init(viewer)
    channel = viewer.settings.child("detector_settings", "measurement", "channel_1")
    channel.setValue(99)
    pump_until(lambda: channel.value() == 1, what="the applied channel shown again")
    # the value is put back before the refusal is reported: both arrive as queued signals, in that order
    pump_until(lambda: any("99" in s for s in viewer.statuses), what="the refusal in the status")
    refusal = [s for s in viewer.statuses if "99" in s]
    assert refusal and refusal[-1].startswith("Channel 1 (stop): ") and "::" not in refusal[-1], viewer.statuses


def test_a_setting_of_another_type_is_renamed_away_in_the_ui_copy_too(viewers, log_records):
    port = free_port()
    viewer = viewers("DAQ0D", "TimeTaggerTCPServer", "rename", socket_ip="127.0.0.1", port_id=port)
    init(viewer)
    group = viewer.settings.child("detector_settings", "settings_client")
    mirrored = lambda: viewer.settings["detector_settings", "mirrored"]  # noqa: E731
    first = Peer(port)
    first.send("Infos", '<settings type="group" title="settings"><x type="int" title="x">1</x></settings>')
    pump_until(lambda: mirrored().startswith("#1 ") and "x" in [c.name() for c in group.children()])
    first.close()
    second = Peer(port)
    try:
        second.send("Infos", '<settings type="group" title="settings"><x type="str" title="x">a</x></settings>')
        pump_until(lambda: mirrored().startswith("#2 ") and visible(group) == {"x": "a"}, what="the new x shown")
        assert sorted(c.name() for c in group.children()) == ["x", "x__gone"]
        assert group.child("x").type() == "str" and group.child("x__gone").type() == "int"
        assert not [line for line in log_records if "Already have child" in line]
    finally:
        second.close()


def test_the_g2_0_legend_names_its_units(viewers):
    # PyMoDAQ's Viewer0D writes f"{label} ({units})": empty units read "g2(0) ()"
    viewer = viewers("DAQ1D", "TimeTaggerCorrelation", "legend", address="sim", integration_s=0.05)
    init(viewer)
    dte = wait_for_signal(viewer.grab_done_signal, viewer.snap, 20_000)
    assert dte.get_data_from_name("g2(0)").units == "dimensionless"
    pump(0.3)
    assert viewer.viewers[1].view.data_displayer.legend_names == ["g2(0) (dimensionless)"]
