"""The TimeTaggerTCPServer plugin's mirror of a client (*Client settings*, *Client infos*) against hostile or odd peers.

A peer on 127.0.0.1 speaks the real protocol over a real socket to the real plugin (PyMoDAQ's harness): what it
sends is shown as data, never run (no eval, no import), within bounded size, with names that cannot collide.
"""
import pytest

from pymodaq.utils.plugin_testing import make_detector

from tests.support.processes import Peer, pump, pump_until

from pymodaq_plugins_timetagger import data_model
from pymodaq_plugins_timetagger.daq_viewer_plugins.plugins_0D.daq_0Dviewer_TimeTaggerTCPServer import \
    DAQ_0DViewer_TimeTaggerTCPServer

pytestmark = pytest.mark.timeout(120)

MARKER_CODE = "__import__('pathlib').Path({path!r}).write_text('ran')"


@pytest.fixture
def det():
    d = make_detector(DAQ_0DViewer_TimeTaggerTCPServer, socket_ip="127.0.0.1", port_id=0, grab_timeout_s=2.0)
    assert d.initialized, d.init_info
    statuses = []
    d.emit_status = statuses.append
    d.statuses = statuses
    yield d
    d.close()


def texts(det):
    return [str(s.attribute) for s in det.statuses if s.command == "update_status"]


def names(group):
    return [c.name() for c in group.children()]


def connected_peer(det) -> Peer:
    peer = Peer(det.controller.port)
    pump_until(lambda: det.controller.clients(), what="the peer is connected")
    return peer


# ------------------------------------------------------------------------------------------ no code from the wire
@pytest.mark.parametrize("where", ["list value", "limits attribute", "table value", "color value",
                                   "itemselect value"])
def test_infos_from_a_peer_are_never_evaluated(det, tmp_path, where):
    marker = tmp_path / "marker"
    code = MARKER_CODE.format(path=str(marker))
    attr_code = code.replace("'", "&apos;")
    element = {
        "list value": f'<evil type="list" title="e">{code}</evil>',
        "limits attribute": f'<evil type="list" title="e" limits="{attr_code}">a</evil>',
        "table value": f'<evil type="table" title="e">{code}</evil>',
        "color value": f'<evil type="color" title="e">{code}</evil>',
        "itemselect value": f'<evil type="itemselect" title="e" all_items="{attr_code}">{code}</evil>',
    }[where]
    xml = f'<settings type="group" title="settings"><ok type="int" title="ok">3</ok>{element}</settings>'
    peer = connected_peer(det)
    try:
        peer.send("Infos", xml)
        refused = lambda: any("cannot be read" in t for t in texts(det))  # noqa: E731
        pump_until(lambda: "ok" in names(det.settings.child("settings_client")) or refused(),
                   what="the mirror is built or refused")
        pump(0.3)
        assert not marker.exists(), f"the peer's {where} was executed on the main PC"
        if refused():  # the safe reader refuses a tree whose values do not fit their types, with a log line
            assert where != "list value" and names(det.settings.child("settings_client")) == []
            return
        assert det.settings["settings_client", "ok"] == 3
        # what could not be shown safely is plain, read-only text (or absent), never evaluated
        group = det.settings.child("settings_client")
        if "evil" in names(group):
            evil = group.child("evil")
            assert evil.type() in ("str", "text", "list") and evil.readonly() or evil.type() == "list"
    finally:
        peer.close()


def test_info_xml_from_a_peer_is_never_evaluated(det, tmp_path):
    marker = tmp_path / "marker"
    code = MARKER_CODE.format(path=str(marker))
    peer = connected_peer(det)
    try:
        peer.send("Infos", '<settings type="group" title="settings">'
                           '<mode type="list" title="Mode" limits="[\'a\', \'b\']">str(\'a\')</mode></settings>')
        pump_until(lambda: "mode" in names(det.settings.child("settings_client")), what="the mirror is built")
        peer.send("Info_xml", ["settings", "mode"], f'<mode type="list" title="Mode">{code}</mode>')
        peer.send("Info_xml", ["settings", "mode"], "<mode type=\"list\" title=\"Mode\">str('b')</mode>")
        pump_until(lambda: det.settings["settings_client", "mode"] == "b", what="the good update is shown")
        assert not marker.exists(), "the peer's Info_xml was executed on the main PC"
    finally:
        peer.close()


def test_table_view_never_imports_a_module(det):
    import sys
    peer = connected_peer(det)
    name = "this_module_must_not_be_imported"
    try:
        peer.send("Infos", '<settings type="group" title="settings">'
                           f'<tv type="table_view" title="tv" module="{name}" classname="X">[]</tv>'
                           '<ok type="float" title="ok">1.5</ok></settings>')
        pump_until(lambda: "ok" in names(det.settings.child("settings_client")), what="the mirror is built")
        assert name not in sys.modules
        assert det.settings["settings_client", "ok"] == 1.5
    finally:
        peer.close()


def test_the_plugin_never_uses_pymodaq_gui_ioxml_on_peer_data():
    """ioxml eval()s values: no module of the package imports it (any other eval/pickle would show here too)."""
    import pathlib
    import re
    src = pathlib.Path(__file__).resolve().parents[1] / "src" / "pymodaq_plugins_timetagger"
    offenders = []
    for f in src.rglob("*.py"):
        text = f.read_text()
        code = re.sub(r'(?s)""".*?"""', "", text)  # docstrings may name ioxml
        if re.search(r"import\s+ioxml|\bioxml\.\w+\(|\beval\(|\bexec\(|\bimport\s+pickle|\bpickle\.", code):
            offenders.append(f.name)
        # from ioxml, only its writer (presets.py writes PyMoDAQ's experiment files): never a reader
        for names in re.findall(r"ioxml\s+import\s+(\([^)]*\)|[^\n#]+)", code):
            offenders += [f"{f.name}: {n}" for n in re.split(r"[\s,()]+", names) if n and n != "parameter_to_xml_file"]
    assert offenders == []


# ------------------------------------------------------------------------------------------ bounded mirror
def test_a_huge_settings_tree_is_refused_with_the_limit_named(det):
    """20 000 parameters would block the GUI thread for seconds while PyMoDAQ builds their widgets."""
    body = "".join(f'<p{i} type="int" title="p{i}">{i}</p{i}>' for i in range(20_000))
    peer = connected_peer(det)
    try:
        peer.send("Infos", f'<settings type="group" title="settings">{body}</settings>')
        pump_until(lambda: any("more than 2000 parameters" in t for t in texts(det)), timeout=20,
                   what="a refusal naming the limit")
        assert names(det.settings.child("settings_client")) == []
        deep = "".join(f'<g{i} type="group" title="g">' for i in range(30)) + \
            "".join(f"</g{i}>" for i in reversed(range(30)))
        peer.send("Infos", f'<settings type="group" title="settings">{deep}</settings>')
        pump_until(lambda: any("deeper than 12 levels" in t for t in texts(det)), what="a refusal naming the depth")
        # a long text is cut, not refused
        peer.send("Infos", f'<settings type="group" title="settings"><s type="str" title="s">{"x" * 100_000}</s>'
                           f'</settings>')
        pump_until(lambda: "s" in names(det.settings.child("settings_client")), what="the long text is shown")
        assert len(det.settings["settings_client", "s"]) <= 4001
    finally:
        peer.close()


def test_many_infos_are_capped(det):
    peer = connected_peer(det)
    try:
        peer.send("Infos", '<settings type="group" title="settings"><ok type="int" title="ok">1</ok></settings>')
        for i in range(300):
            peer.send("Info", f"info{i}", "v")
        pump_until(lambda: len(det.controller.clients()[0].infos) == 300, what="the infos arrived")
        pump(0.3)
        assert len(names(det.settings.child("infos"))) == 200
    finally:
        peer.close()


# ------------------------------------------------------------------------------------------ names and attributes
def test_info_names_that_reduce_to_the_same_name_do_not_collide(det):
    peer = connected_peer(det)
    try:
        peer.send("Info", "a b", "first")
        peer.send("Info", "a_b", "second")
        peer.send("Info", "1st", "third")
        peer.send("Infos", '<settings type="group" title="settings"><ok type="int" title="ok">1</ok></settings>')
        pump_until(lambda: len(names(det.settings.child("infos"))) == 3, what="three infos shown")
        infos = det.settings.child("infos")
        shown = {c.opts["title"]: c.value() for c in infos.children()}
        assert shown == {"a b:": "first", "a_b:": "second", "1st:": "third"}
        assert len(set(names(infos))) == 3 and all(n.isidentifier() for n in names(infos))
        peer.send("Info", "a_b", "updated")
        pump_until(lambda: {c.opts["title"]: c.value() for c in infos.children()}["a_b:"] == "updated",
                   what="the update reaches the right info")
        assert {c.opts["title"]: c.value() for c in infos.children()}["a b:"] == "first"
    finally:
        peer.close()


@pytest.mark.parametrize("attribute", ["units", "axes", "size", "origin", "x_axis", "labels"])
def test_an_extra_attribute_named_like_a_data_field_does_not_break_the_data(det, attribute):
    import numpy as np
    peer = connected_peer(det)
    try:
        peer.send("Infos", '<settings type="group" title="settings"><ok type="int" title="ok">1</ok></settings>')
        pump_until(lambda: "ok" in names(det.settings.child("settings_client")), what="the peer is mirrored")
        got = []
        det.dte_signal.connect(got.append)
        det.grab_data(1)
        peer.sock.settimeout(5)
        assert peer.sock.recv(4096)  # the request 'Send Data 0D'
        dwa = data_model.DataWithAxes(name="rate", data=[np.array([5.0])], dim="Data0D", units="Hz",
                                 labels=["ch1"], extra={attribute: "peer's text"})
        peer.send("Done", data_model.DataToExport(name="peer", data=[dwa]))
        pump_until(lambda: got or any("failed" in t for t in texts(det)), what="data or a failure")
        assert got, texts(det)
        out = got[0].data[0]
        assert out.units == "Hz" and out.labels == ["ch1"] and out.data[0][0] == 5.0
        assert getattr(out, f"client_{attribute}") == "peer's text"
    finally:
        peer.close()


def test_a_client_restarting_with_another_tree_rebuilds_the_mirror_without_removing(det):
    """PyMoDAQ's UI copy of the settings cannot lose a child: what the new client lacks is hidden and marked,
    a name now of another type is renamed away (the UI is told by an 'options' change), nothing is removed."""
    first = Peer(det.controller.port)
    first.send("Infos", '<settings type="group" title="settings"><x type="int" title="x">1</x>'
                        '<only_first type="float" title="F">2.5</only_first></settings>')
    group = det.settings.child("settings_client")
    pump_until(lambda: "only_first" in names(group), what="the first client mirrored")
    first.close()
    pump_until(lambda: det.settings["mirrored"] == "no client", what="'no client'")
    assert all(not c.opts["visible"] and c.opts["title"].startswith("(not sent by the current client)")
               for c in group.children())
    second = Peer(det.controller.port)
    try:
        second.send("Infos", '<settings type="group" title="settings"><x type="str" title="x">a</x></settings>')
        # 'connected' mirrors the client before its Infos are read (and shows "#2 ..." already): wait for them
        pump_until(lambda: det.settings["mirrored"].startswith("#2 ") and any(c.opts["visible"] for c in
                                                                              group.children()),
                   what="the second client's settings mirrored")
        shown = {c.name(): (c.type(), c.value()) for c in group.children() if c.opts["visible"]}
        assert shown == {"x": ("str", "a")}
        assert sorted(names(group)) == ["only_first", "x", "x__gone"]
        renames = [s.attribute for s in det.statuses if s.command == "update_settings"
                   and s.attribute[2] == "options" and "name" in s.attribute[1]]
        assert renames == [[["settings_client", "x"], {"name": "x__gone"}, "options"]]
    finally:
        second.close()


def test_the_mirror_holds_a_bounded_number_of_earlier_clients_settings(det):
    """Hidden parameters of earlier clients cannot be dropped (PyMoDAQ's UI copy): their total is bounded."""
    from pymodaq_plugins_timetagger.protocol.mirror import MirrorLimits
    det.mirror_limits = MirrorLimits(max_params=5, max_held=8)
    group = det.settings.child("settings_client")
    for n, prefix in enumerate("ab", start=1):
        peer = Peer(det.controller.port)
        body = "".join(f'<{prefix}{i} type="int" title="x">{i}</{prefix}{i}>' for i in range(5))
        peer.send("Infos", f'<settings type="group" title="settings">{body}</settings>')
        pump_until(lambda: det.settings["mirrored"].startswith(f"#{n} "), what=f"client {n} mirrored")
        pump(0.2)
        peer.close()
        pump_until(lambda: det.settings["mirrored"] == "no client", what="'no client'")
    assert len(group.children()) == 5 and all(not c.opts["visible"] for c in group.children())
    assert any("already holds 5 settings of earlier clients and may hold 8 in all" in t for t in texts(det))
