"""A setting is shown the same way on every route, from its one declaration (settings.py), and a peer's tree is
mirrored as it is meant.

The headless client's tree shows the counter's bin width in ms and the correlation's *Output* as the plugin does
(a list of two labels, titled, not a bare checkbox), and reads an edit of them back; the mirror takes parameter
names in any script; the reason a peer is dropped for a capped Info names the cap.
"""
import logging

import pytest

from pymodaq_plugins_timetagger import settings as declared
from pymodaq_plugins_timetagger.bridge.service import MeasurementService
from pymodaq_plugins_timetagger.protocol.mirror import mirror_dicts
from pymodaq_plugins_timetagger.protocol.paramxml import from_xml_string
from pymodaq_plugins_timetagger.runs import make_settings
from tests.support.processes import Peer, wait_for

pytestmark = pytest.mark.timeout(60)


def plugin_param(kind, name):
    return next(p for p in declared.plugin_params(kind) if p["name"] == name)


@pytest.mark.parametrize("kind,name,xml,field,value", [
    ("counter", "binwidth_ms", '<binwidth_ms type="float">5</binwidth_ms>', "binwidth_ps", 5_000_000_000),
    ("correlation", "output", '<output type="list">coincidences (counts)</output>', "normalize", False),
])
def test_the_clients_tree_shows_a_setting_as_the_plugin_does(kind, name, xml, field, value):
    service = MeasurementService("sim", kind, sim_options={"sim_clock": "virtual"})
    mirrored = {d["name"]: d for d in mirror_dicts(from_xml_string(service.settings_xml()))[0]}
    shown, plugin = mirrored[name], plugin_param(kind, name)
    assert shown["title"] == plugin["title"].rstrip(":")  # title and unit, e.g. 'Bin width (ms)', 'Output'
    assert shown["type"] == plugin["type"] and shown["value"] == pytest.approx(plugin["value"])
    if plugin["type"] == "list":
        assert shown["limits"] == plugin["limits"]
    path, applied = service.apply_edit([name], xml)
    assert getattr(service.settings[kind], field) == value and path == ["settings", name]
    assert from_xml_string(applied).value == from_xml_string(xml).value


def test_the_mirror_takes_names_in_any_script():
    xml = ('<settings type="group"><温度 type="float" title="温度 (K)">4.2</温度>'
           '<naïve type="int" title="naïve">2</naïve><ok type="str">x</ok></settings>')
    dicts, warnings = mirror_dicts(from_xml_string(xml))
    assert [d["name"] for d in dicts] == ["温度", "naïve", "ok"] and not warnings


def test_a_capped_info_name_is_the_reason_given_for_dropping_the_peer(caplog):
    from pymodaq_plugins_timetagger.protocol.server import MAX_INFO_NAME_BYTES, BridgeServer
    server = BridgeServer("127.0.0.1", 0).start()
    try:
        peer = Peer(server.port)
        wait_for(lambda: server.clients(), 10, "the peer")
        with caplog.at_level(logging.WARNING, logger="pymodaq_plugins_timetagger.protocol.server"):
            peer.send("Info", "n" * 10_000, "value")
            wait_for(lambda: not server.clients(), 10, "the peer dropped")
        dropped = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
        assert any(f"Info name (at most {MAX_INFO_NAME_BYTES} bytes)" in m for m in dropped), dropped
        peer.close()
    finally:
        server.stop()


def test_the_counters_bin_width_has_one_unit_in_plugin_and_client():
    s = make_settings("counter")
    (tree,) = [d for d in declared.tree_params("counter", s) if d["name"] == "binwidth_ms"]
    assert tree["title"] == "Bin width (ms)" and tree["value"] == pytest.approx(s.binwidth_ps * 1e-9)


def test_the_command_line_takes_the_counters_bin_width_in_ms_too():
    from pymodaq_plugins_timetagger.bridge.__main__ import build_parser, settings_from_args
    args = build_parser().parse_args(["--measurement", "counter", "--binwidth-ms", "5"])
    assert settings_from_args(args, ["counter"])["counter"].binwidth_ps == 5_000_000_000
