"""The core of issue 11: one declaration per setting, one measurement service, one data conversion.

Settings: every route (viewer plugin, TCP client, LECO actor) starts from the same declared defaults and gives
the same g2(0) for the same seed; the CLI refuses bad values before connecting (exit 2, the option named).
Conversion: a seeded run through the plugin's conversion and the same run through the bridge (client ->
real socket -> TCPServer plugin) give equal data, axes, units and metadata.
"""
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from tests.support.processes import CLIENT, pump

from pymodaq_plugins_timetagger import settings as declared
from pymodaq_plugins_timetagger import data_model
from pymodaq_plugins_timetagger.bridge.__main__ import build_parser, settings_from_args
from pymodaq_plugins_timetagger.bridge.link import Link
from pymodaq_plugins_timetagger.protocol.paramxml import from_xml_string
from pymodaq_plugins_timetagger.bridge.service import MeasurementService
from pymodaq_plugins_timetagger.hardware.access import open_tagger
from pymodaq_plugins_timetagger.hardware.errors import SettingsError
from pymodaq_plugins_timetagger.runs import make_run, make_settings

SIM = dict(sim_clock="virtual", sim_seed=11)


def plugin_settings(kind: str):
    """The settings a freshly made viewer plugin of ``kind`` measures with (its parameter defaults)."""
    from pymodaq_plugins_timetagger.daq_viewer_plugins.common import kind_params
    tree = kind_params(kind)
    meas = next(p for p in tree if p["name"] == "measurement")["children"]
    values = {p["name"]: p.get("value") for p in meas}
    channels = next((p for p in meas if p["name"] == "channels"), None)
    if channels is not None:
        values["channels"] = tuple(int(c["name"][2:]) for c in channels["children"] if c["value"])
    integration = next(p for p in tree if p["name"] == "integration_s")["value"]
    return make_settings(kind, **declared.from_plugin(kind, values.__getitem__, integration))


def cli_settings(kind: str):
    args = build_parser().parse_args(["--measurement", kind])
    return settings_from_args(args, [kind])[kind]


@pytest.mark.parametrize("kind", declared.KINDS)
def test_every_route_starts_from_the_same_settings(kind):
    """Viewer plugin, TCP client (CLI) and LECO actor (the service without settings) measure with the same
    settings: the declared defaults."""
    assert plugin_settings(kind) == cli_settings(kind) == MeasurementService("sim", kind).settings[kind] \
        == make_settings(kind)


def test_the_defaults_are_the_plugins_physics_ones():
    s = make_settings("correlation")
    assert (s.binwidth_ps, s.n_bins, s.zero_window_ps) == (500, 201, 500)


def test_same_seed_same_g2_0_on_every_route():
    """The plugin's settings, the client's and the actor's, on the same seeded simulator: the same g2(0)."""
    g2_0 = []
    for settings in (plugin_settings("correlation"), cli_settings("correlation")):
        with open_tagger("sim", **SIM) as h:
            run = make_run(h, "correlation", replace_integration(settings))
            g2_0.append(run.acquire().companions[0].data[0][0])
            run.close()
    service = MeasurementService("sim", "correlation", sim_options=SIM)
    service.settings["correlation"] = replace_integration(service.settings["correlation"])
    try:
        dte = service.answer("1D")
    finally:
        service.close()
    g2_0.append(dte.data[1].data[0][0])
    assert np.isfinite(g2_0[0]) and g2_0[0] == g2_0[1] == g2_0[2]


def replace_integration(s):
    from dataclasses import replace
    return replace(s, integration_s=0.2)


def test_the_mirrored_tree_has_titles_and_units():
    tree = from_xml_string(MeasurementService("sim", "correlation").settings_xml())
    titles = {c.name: c.title for c in tree.children}
    assert titles["binwidth_ps"] == "Bin width (ps)" and titles["zero_window_ps"] == "g2(0) window (ps)"
    assert titles["integration_s"] == "Integration (s)"


@pytest.mark.parametrize("args, message", [
    (["--integration-s", "-1"], "--integration-s must be > 0"),
    (["--channels", "99"], "--channels: 99 is not a channel"),
    (["--measurement", "correlation", "--n-bins", "0"], "--n-bins must be between 1 and"),
    (["--measurement", "correlation", "--binwidth-ps", "1.5"], "--binwidth-ps must be an integer"),
    (["--measurement", "countrate", "--n-bins", "5"], "--n-bins does not apply to the countrate"),
    (["--address", "no such thing"], "--address"),
    (["--port", "70000"], "--port must be between 1 and 65535"),
    (["--measurement", "correlation,histogram", "--protocol", "classic"], "the classic protocol carries one"),
])
def test_the_cli_refuses_bad_values_before_connecting(args, message):
    """Exit 2 at once (no connection attempt: the port is closed and the timeout short), the option named."""
    t0 = time.monotonic()
    p = subprocess.run(CLIENT + ["--host", "127.0.0.1", "--port", "9", *args] if "--port" not in args
                       else CLIENT + ["--host", "127.0.0.1", *args],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert message in p.stderr and "waiting" not in p.stdout
    assert time.monotonic() - t0 < 20


def test_version_and_every_address_form_in_help():
    from pymodaq_plugins_timetagger import __version__
    p = subprocess.run(CLIENT + ["--version"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and __version__ in p.stdout
    text = " ".join(build_parser().format_help().split())
    for form in ("auto", "sim", "sim:ultra", "sim:tt20", "sim:x", "serial", "net:host[:port]", "rpc:host[:port]"):
        assert form in text, form


def test_a_refused_edit_names_the_setting_and_keeps_the_value():
    service = MeasurementService("sim", "correlation", sim_options=SIM)
    try:
        service.open()
        xml = from_xml_string(service.settings_xml()).child("n_bins")
        xml.value = 0
        from pymodaq_plugins_timetagger.protocol.paramxml import to_xml_string
        with pytest.raises(SettingsError, match="n_bins must be between 1"):
            service.apply_edit(["settings_client", "n_bins"], to_xml_string(xml))
        path, applied = service.applied_xml(["n_bins"])
        assert path == ["settings", "n_bins"] and from_xml_string(applied).value == 201
        xml.value = 101
        path, applied = service.apply_edit(["n_bins"], to_xml_string(xml))
        assert from_xml_string(applied).value == 101 and service.runs["correlation"].settings.n_bins == 101
    finally:
        service.close()


# ------------------------------------------------------------------------------- over the bridge
def _served(det, kind, sim, **kw):
    """A Link thread serving ``kind`` on a seeded simulator to ``det`` (a TCPServer plugin)."""
    client = Link("127.0.0.1", det.controller.port, address="sim", kind=kind, sim_options=sim,
                          backoff_max_s=0.2, **kw)
    client.start()
    deadline = time.monotonic() + 15
    while not (det.controller.clients() and det.controller.clients()[0].infos) and time.monotonic() < deadline:
        pump(0.05)
    assert det.controller.clients(), "the client did not connect"
    return client


def _server(cls):
    from pymodaq.utils.plugin_testing import make_detector
    det = make_detector(cls, socket_ip="127.0.0.1", port_id=0, grab_timeout_s=15.0)
    assert det.initialized, det.init_info
    return det


def test_local_and_bridged_datasets_are_equal():
    """The same seeded correlation through the plugin's conversion and through client -> socket -> TCPServer
    plugin: equal data, axes, units, labels and metadata (the channels too, lost over the bridge before)."""
    from pymodaq.utils.plugin_testing import grab_and_wait
    from pymodaq_plugins_timetagger.daq_viewer_plugins.common import result_to_dte
    from pymodaq_plugins_timetagger.daq_viewer_plugins.plugins_1D.daq_1Dviewer_TimeTaggerTCPServer import \
        DAQ_1DViewer_TimeTaggerTCPServer
    settings = make_settings("correlation", integration_s=0.2)
    with open_tagger("sim", **SIM) as h:
        run = make_run(h, "correlation", settings)
        local = result_to_dte("Correlation", run.acquire())
        run.close()
    det = _server(DAQ_1DViewer_TimeTaggerTCPServer)
    client = _served(det, "correlation", SIM, settings=settings)
    try:
        remote = grab_and_wait(det, 1, timeout_ms=15_000, live=False)
    finally:
        client.stop()
        det.close()
    for name in ("Correlation", "g2(0)"):
        a, b = local.get_data_from_name(name), remote.get_data_from_name(name)
        assert a.units == b.units and a.labels == b.labels and a.dim == b.dim
        np.testing.assert_array_equal(a.data[0], b.data[0])
        if name == "Correlation":
            xa, xb = a.get_axis_from_index(0)[0], b.get_axis_from_index(0)[0]
            assert (xa.label, xa.units) == (xb.label, xb.units)
            np.testing.assert_allclose(xa.get_data(), xb.get_data(), rtol=0, atol=1e-18)
        meta = {k: getattr(a, k) for k in a.extra_attributes}
        assert meta and meta == {k: getattr(b, k) for k in a.extra_attributes}
        assert set(a.extra_attributes) <= set(b.extra_attributes)
    assert local.get_data_from_name("Correlation").channel_1 == 1


def test_two_1d_measurements_are_both_served():
    """--measurement correlation,histogram: 'Send Data 1D' returns both datasets (two panels), not only the
    correlation."""
    from pymodaq.utils.plugin_testing import grab_and_wait
    from pymodaq_plugins_timetagger.daq_viewer_plugins.plugins_1D.daq_1Dviewer_TimeTaggerTCPServer import \
        DAQ_1DViewer_TimeTaggerTCPServer
    det = _server(DAQ_1DViewer_TimeTaggerTCPServer)
    client = _served(det, ["correlation", "histogram"], SIM,
                     settings={"correlation": make_settings("correlation", integration_s=0.1),
                               "histogram": make_settings("histogram", integration_s=0.1)})
    try:
        dte = grab_and_wait(det, 1, timeout_ms=15_000, live=False)
    finally:
        client.stop()
        det.close()
    names = [d.name for d in dte.data]
    assert "Correlation" in names and "Histogram" in names and "g2(0)" in names
    assert dte.get_data_from_name("Histogram").shape == (make_settings("histogram").n_bins,)


# ------------------------------------------------------------------------------- the link with another responder
class _Responder:
    """A responder that is not the service (what a viewer plugin serving a TCPServer will be, issue 13)."""

    def __init__(self):
        self.n_bins = 5
        self.answered = []

    def answer(self, dim, stop):
        self.answered.append(dim)
        if dim == "2D":
            raise RuntimeError("no 2D here")
        return data_model.DataToExport(name="mine", data=[data_model.DataWithAxes(
            name="mine", data=[np.arange(self.n_bins, dtype=float)], dim="Data1D", units="Hz", labels=["x"])])

    def _xml(self):
        from pymodaq_plugins_timetagger.protocol.paramxml import Param, to_xml_string
        return Param(name="n_bins", type="int", value=self.n_bins, title="Number of bins")

    def settings_xml(self):
        from pymodaq_plugins_timetagger.protocol.paramxml import Param, to_xml_string
        return to_xml_string(Param(name="settings", type="group", title="Settings", children=[self._xml()]))

    def applied_xml(self, path):
        from pymodaq_plugins_timetagger.protocol.paramxml import to_xml_string
        return ["settings", "n_bins"], to_xml_string(self._xml())

    def apply_edit(self, path, xml):
        value = from_xml_string(xml).value
        if not 0 < value < 100:
            raise SettingsError(f"n_bins must be between 1 and 99, got {value}")
        self.n_bins = value
        return self.applied_xml(path)

    def infos(self):
        return {"name": "custom responder"}


def test_the_link_serves_any_responder_and_pushes_local_edits():
    from pymodaq_plugins_timetagger.protocol.paramxml import Param, to_xml_string
    from pymodaq_plugins_timetagger.protocol.server import BridgeServer, ClientReportedError
    server = BridgeServer("127.0.0.1", 0, handshake_timeout=1.0, message_timeout=2.0).start()
    events = []
    server.add_listener(lambda kind, client, data: events.append((kind, data)))
    responder = _Responder()
    statuses = []
    link = Link("127.0.0.1", server.port, responder=responder, backoff_max_s=0.2,
                        on_status=lambda st: statuses.append(st.state()))
    link.start()
    try:
        deadline = time.monotonic() + 10
        while not (server.clients() and server.clients()[0].infos) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.clients()[0].infos["name"] == "custom responder"
        got = server.request("1D", timeout=5)
        np.testing.assert_array_equal(got.data[0].data[0], np.arange(5.0))
        with pytest.raises(ClientReportedError, match="no 2D here"):
            server.request("2D", timeout=5)
        cid = server.clients()[0].id
        server.send_set_info(cid, ["settings_client", "n_bins"], to_xml_string(Param(name="n_bins", type="int",
                                                                                     value=7)))
        deadline = time.monotonic() + 5
        while responder.n_bins != 7 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert responder.n_bins == 7 and server.request("1D", timeout=5).data[0].data[0].size == 7
        # a local edit pushed by the owner reaches the server's mirror
        responder.n_bins = 9
        link.push_info_xml(*responder.applied_xml(["n_bins"]))
        deadline = time.monotonic() + 5
        while not any(k == "info_xml" and from_xml_string(d[1]).value == 9 for k, d in events) \
                and time.monotonic() < deadline:
            time.sleep(0.02)
        assert any(k == "info_xml" and from_xml_string(d[1]).value == 9 for k, d in events)
        assert any(s.startswith("[timetagger-client] connected to") for s in statuses)
    finally:
        assert link.stop(10)
        server.stop()


@pytest.mark.parametrize("raw", ["maybe", "2", "", 2, 0.5, None])
def test_a_boolean_setting_refuses_what_is_not_yes_or_no(raw):
    """normalize='maybe' was applied as False (no error): a value that says neither yes nor no is refused."""
    from pymodaq_plugins_timetagger.bridge.service import apply_setting
    from pymodaq_plugins_timetagger.hardware.errors import SettingsError
    from pymodaq_plugins_timetagger.runs import make_settings
    with pytest.raises(SettingsError, match="normalize must be true or false"):
        apply_setting(make_settings("correlation"), "normalize", raw)


@pytest.mark.parametrize("raw,value", [("true", True), ("False", False), (" yes ", True), ("0", False),
                                       (True, True), (0, False), (1, True)])
def test_a_boolean_setting_takes_the_usual_spellings(raw, value):
    from pymodaq_plugins_timetagger.bridge.service import apply_setting
    from pymodaq_plugins_timetagger.runs import make_settings
    assert apply_setting(make_settings("correlation"), "normalize", raw).normalize is value
