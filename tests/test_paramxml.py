"""PyMoDAQ parameter XML without Qt (protocol.paramxml) against pymodaq_gui's own ioxml (the oracle)."""
from __future__ import annotations

import math

import pytest

from pymodaq_plugins_timetagger.protocol import paramxml as px
from pymodaq_plugins_timetagger.protocol.paramxml import (
    Param, apply_xml_update, from_xml_string, to_xml_bytes, to_xml_string, value_from_xml_text, value_to_xml_text)
from tests.support.paramxml import param_from_dict, param_from_dicts, to_xml_bytes_51, value_text_51

ioxml = pytest.importorskip("pymodaq_gui.parameter.ioxml")
from pymodaq_gui.parameter import Parameter  # noqa: E402

#: A representative settings tree, as a plugin declares it.
DICTS = [
    {"title": "Bin width (ps):", "name": "binwidth", "type": "int", "value": 1000, "min": 1, "max": 10**9},
    {"title": "Level:", "name": "level", "type": "float", "value": 0.5, "suffix": "V", "siPrefix": True},
    {"title": "Label:", "name": "label", "type": "str", "value": 'héllo <&> "quoted"'},
    {"title": "Empty:", "name": "empty", "type": "str", "value": ""},
    {"title": "Enabled:", "name": "enabled", "type": "bool", "value": True},
    {"title": "Channel:", "name": "channel", "type": "list", "value": "ch2", "limits": ["ch1", "ch2", "ch3"]},
    {"title": "Factor:", "name": "factor", "type": "list", "value": 2, "limits": [1, 2, 4]},
    {"title": "Rate (Hz):", "name": "rate", "type": "float", "value": 1.25e-9, "readonly": True},
    {"title": "Hidden:", "name": "hidden", "type": "str", "value": "x", "visible": False, "tip": "a tip"},
    {"title": "Acquisition:", "name": "acq", "type": "group", "children": [
        {"title": "N bins:", "name": "n_bins", "type": "int", "value": -3},
        {"title": "Running:", "name": "running", "type": "led", "value": False},
        {"title": "Clear:", "name": "clear", "type": "bool_push", "value": False, "label": "Clear"},
        {"title": "Deep:", "name": "deep", "type": "group", "children": [
            {"title": "Notes:", "name": "notes", "type": "text", "value": "line 1\nline 2"},
            {"name": "untitled", "type": "float", "value": 3.0},
        ]},
    ]},
]


def pmq_tree(dicts=DICTS, name="settings"):
    return Parameter.create(name=name, type="group", children=dicts)


def walk_pmq(param, prefix=()):
    for c in param.children():
        path = prefix + (c.name(),)
        yield path, c
        yield from walk_pmq(c, path)


# --------------------------------------------------------------------------------------- (1) writing
def test_whole_tree_is_byte_identical_to_pymodaq_gui():
    theirs = ioxml.parameter_to_xml_string(pmq_tree())
    ours = param_from_dicts("settings", DICTS)
    assert isinstance(theirs, bytes)
    assert to_xml_bytes(ours) == theirs
    assert to_xml_string(ours) == theirs.decode("ascii")
    assert "&#233;" in to_xml_string(ours)  # non-ASCII as character references, like ET.tostring's default


@pytest.mark.parametrize("path", [p for p, _ in walk_pmq(pmq_tree())])
def test_single_parameter_xml_is_byte_identical(path):
    """'Info_xml' / 'set_info' carry parameter_to_xml_string of ONE parameter (its own element as root)."""
    theirs = ioxml.parameter_to_xml_string(pmq_tree().child(*path))
    assert to_xml_bytes(param_from_dicts("settings", DICTS).child(*path)) == theirs


def test_flavor_51_is_what_pymodaq_5_1_13_writes():
    """Golden output of pymodaq_gui 5.1.12 (the one PyMoDAQ 5.1.13 resolves), recorded in the interop venv."""
    dicts = [
        {"title": "An int:", "name": "nint", "type": "int", "value": 5, "min": 0, "max": 10},
        {"title": "A float:", "name": "afloat", "type": "float", "value": 1.5, "suffix": "s", "siPrefix": True},
        {"title": "A bool:", "name": "abool", "type": "bool", "value": True},
        {"title": "A list:", "name": "alist", "type": "list", "value": "b", "limits": ["a", "b", "c"]},
        {"title": "RO float:", "name": "rofloat", "type": "float", "value": 2.25, "readonly": True},
        {"title": "Group:", "name": "grp", "type": "group", "children": [
            {"title": "LED:", "name": "led", "type": "led", "value": False},
            {"title": "Push:", "name": "push", "type": "bool_push", "value": False, "label": "Go"},
            {"title": "Path:", "name": "path", "type": "browsepath", "value": "/tmp", "filetype": True,
             "show_pb": True},
        ]},
    ]
    golden = (
        b'<settings type="group" title="settings" visible="1" removable="0" readonly="0">'
        b'<nint type="int" title="An int:" visible="1" removable="0" readonly="0">5</nint>'
        b'<afloat type="float" title="A float:" visible="1" removable="0" readonly="0" suffix="s">1.5</afloat>'
        b'<abool type="bool" title="A bool:" visible="1" removable="0" readonly="0">1</abool>'
        b'<alist type="list" title="A list:" visible="1" removable="0" readonly="0" '
        b'limits="[\'a\', \'b\', \'c\']">str(\'b\')</alist>'
        b'<rofloat type="float" title="RO float:" visible="1" removable="0" readonly="1">2.25</rofloat>'
        b'<grp type="group" title="Group:" visible="1" removable="0" readonly="0">'
        b'<led type="led" title="LED:" visible="1" removable="0" readonly="0">0</led>'
        b'<push type="bool_push" title="Push:" visible="1" removable="0" readonly="0" label="Go">0</push>'
        b'<path type="browsepath" title="Path:" visible="1" removable="0" readonly="0" show_pb="1" '
        b'filetype="1">/tmp</path></grp></settings>')
    tree = param_from_dicts("settings", dicts)
    assert to_xml_bytes_51(tree) == golden
    assert to_xml_bytes_51(tree.child("grp", "push")) == (
        b'<push type="bool_push" title="Push:" visible="1" removable="0" readonly="0" label="Go">0</push>')
    # and the 5.1 text reads back into the same tree
    assert from_xml_string(golden) == tree.xml_view()


# --------------------------------------------------------------------------------------- (2) their reader
def test_pymodaq_gui_rebuilds_our_xml_with_equal_values():
    original = pmq_tree()
    rebuilt = Parameter.create(name="settings", type="group",
                               children=ioxml.XML_string_to_parameter(to_xml_string(param_from_dicts("settings", DICTS))))
    ours = dict(walk_pmq(rebuilt))
    theirs = dict(walk_pmq(original))
    assert ours.keys() == theirs.keys()
    for path, p in theirs.items():
        q = ours[path]
        # (no title: pymodaq_gui 5.3's reader drops the title attribute, also for its own XML)
        assert (q.type(), q.value(), q.opts["readonly"], q.opts["visible"], q.opts.get("limits"),
                q.opts.get("label"), q.opts.get("suffix")) == (
            p.type(), p.value(), p.opts["readonly"], p.opts["visible"], p.opts.get("limits"),
            p.opts.get("label"), p.opts.get("suffix")), path
    # the same state as when PyMoDAQ round-trips its own XML
    own = Parameter.create(name="settings", type="group",
                           children=ioxml.XML_string_to_parameter(ioxml.parameter_to_xml_string(original)))
    assert rebuilt.saveState() == own.saveState()


# --------------------------------------------------------------------------------------- (3) our reader
def test_our_reader_on_their_xml_gives_our_tree():
    theirs = ioxml.parameter_to_xml_string(pmq_tree())
    tree = from_xml_string(theirs)
    assert tree == param_from_dicts("settings", DICTS).xml_view()
    assert from_xml_string(theirs.decode()) == tree  # str or bytes
    assert tree.child("acq", "deep", "notes").value == "line 1\nline 2"
    assert tree.child("label").value == 'héllo <&> "quoted"'
    assert tree.child("empty").value == ""
    assert tree.child("channel").limits == ["ch1", "ch2", "ch3"]
    assert tree.child("factor").value == 2 and tree.child("rate").readonly
    assert tree.child("acq", "clear").opts == {"label": "Clear"} and tree.child("acq", "clear").value is False
    assert tree.child("level").opts == {"suffix": "V"}
    assert not tree.child("hidden").visible
    assert tree.values()["acq"]["deep"]["untitled"] == 3.0
    assert to_xml_bytes(tree) == theirs  # and writes back the same bytes


def test_child_errors_name_the_path():
    tree = param_from_dicts("settings", DICTS)
    assert tree.child("acq", "deep", "notes") is tree.child(["acq", "deep", "notes"])
    with pytest.raises(KeyError, match="acq/nope"):
        tree.child("acq", "nope", "x")
    assert tree.path_of(tree.child("acq", "n_bins")) == ["acq", "n_bins"]
    assert not tree.has_child("acq", "nope")


def test_to_dict_round_trip_through_pymodaq():
    tree = param_from_dicts("settings", DICTS)
    assert [c.to_dict() for c in tree.children] == [param_from_dict(d).to_dict() for d in DICTS]
    rebuilt = Parameter.create(**tree.to_dict())
    assert rebuilt.saveState() == pmq_tree().saveState()


# --------------------------------------------------------------------------------------- (4) one parameter
def test_single_parameter_messages_as_pymodaq_5_1_13_sends_them():
    """Frames recorded from PyMoDAQ 5.1.13 (see /tmp/notes/interop513.md): the XML is sent typed ``bytes``."""
    tree = from_xml_string(to_xml_bytes(param_from_dicts("settings", [
        {"title": "N bins:", "name": "n_bins", "type": "int", "value": 16},
        {"title": "Group:", "name": "grp", "type": "group", "children": [
            {"title": "Level (V):", "name": "level", "type": "float", "value": 0.5}]}])))
    # server -> client 'set_info': path below the server's settings root, starting with 'settings_client'
    p = apply_xml_update(tree, ["settings_client", "grp", "level"],
                         b'<level type="float" title="Level (V):" visible="1" removable="0" readonly="0" '
                         b'show_pb="0">0.75</level>')
    assert p is tree.child("grp", "level") and p.value == 0.75
    # client -> server 'Info_xml': path starting with the client's root name
    p = apply_xml_update(tree, ["settings", "n_bins"],
                         '<n_bins type="int" title="N bins:" visible="1" removable="0" readonly="0">32</n_bins>')
    assert p.value == 32
    p = apply_xml_update(tree, ["n_bins"], to_xml_string(Param("n_bins", "int", 64)))
    assert tree.child("n_bins").value == 64
    with pytest.raises(KeyError):
        apply_xml_update(tree, ["settings_client", "nope"], to_xml_string(Param("nope", "int", 1)))
    with pytest.raises(ValueError, match="n_bins"):
        apply_xml_update(tree, ["n_bins"], to_xml_string(Param("level", "float", 1.0)))
    # what pymodaq_gui makes of our one-parameter XML: XML_string_to_parameter(...)[0], as the 5.1.13 server does
    d = ioxml.XML_string_to_parameter(to_xml_string(tree.child("grp", "level")))[0]
    assert (d["name"], d["type"], d["value"]) == ("level", "float", 0.75)


# --------------------------------------------------------------------------------------- values
@pytest.mark.parametrize("type_,value,text", [
    ("int", 5, "5"), ("int", -3, "-3"), ("int", True, "1"),
    ("float", 1.5, "1.5"), ("float", 1e-09, "1e-09"), ("float", 1e20, "1e+20"),
    ("slide", 0.25, "0.25"),
    ("bool", True, "1"), ("bool", False, "0"), ("led", True, "1"), ("bool_push", False, "0"),
    ("led_push", True, "1"), ("multistate_led", "warning", "warning"),
    ("list", "a", "str('a')"), ("list", "it's", 'str("it\'s")'), ("list", 2, "int(2)"),
    ("list", 0.5, "float(0.5)"), ("list", True, "int(True)"),
    ("str", "abc", "abc"), ("text", "a\nb", "a\nb"), ("browsepath", "/tmp/x", "/tmp/x"),
    ("color", (1, 2, 3, 255), "[1, 2, 3, 255]"), ("progress", 40, "40"),
    ("itemselect", {"all_items": ["a", "b"], "selected": ["b"]}, "['b']"),
    ("group", None, None),
])
def test_value_text_matches_pymodaq_gui(type_, value, text):
    assert value_to_xml_text(type_, value) == text
    if text is not None and type_ not in ("color", "itemselect"):
        d = {"name": "p", "type": type_, "value": value}
        if type_ == "list":
            d["limits"] = [value]
        theirs = ioxml.parameter_to_xml_string(Parameter.create(**d))
        assert to_xml_bytes(param_from_dict(d)) == theirs
    back = value_from_xml_text(type_, text, {"all_items": "['a', 'b']"})
    if type_ == "int" and value is True:
        assert back == 1
    elif type_ == "color":
        assert back == list(value)
    elif type_ == "list" and value is True:
        assert back == 1
    else:
        assert back == value


def test_value_reading_edge_cases():
    assert value_from_xml_text("str", None) == ""
    assert value_from_xml_text("int", None) is None
    assert value_from_xml_text("int", "5.0") == 5
    assert value_from_xml_text("bool", "true") == "true"  # as pymodaq_gui 5.3: a non-0/1 text stays text
    assert math.isnan(value_from_xml_text("list", "np.nan"))
    assert math.isnan(value_from_xml_text("float", "nan"))
    assert value_from_xml_text("list", "np.float64(0.1)") == 0.1
    assert value_from_xml_text("list", "plain old text") == "plain old text"  # older files
    assert value_from_xml_text("itemselect", "None") == {"all_items": [], "selected": []}
    assert value_from_xml_text("action", "None") is None
    assert value_to_xml_text("list", float("nan")) == "np.nan"
    assert value_text_51("list", float("nan")) == "float(nan)"
    assert value_text_51("bool", "warning") == "1"


def test_list_limits_variants():
    for limits in ([0.1, 0.2], [True, False], ["a b", "c,d"], [1, "x", 2.5]):
        d = {"name": "p", "type": "list", "limits": limits, "value": limits[0]}
        theirs = ioxml.parameter_to_xml_string(Parameter.create(**d))
        assert to_xml_bytes(param_from_dict(d)) == theirs
        back = from_xml_string(theirs)
        assert back.limits == limits and back.value == limits[0]
    # numpy scalars in limits are written as numpy reprs by numpy >= 2
    back = from_xml_string('<p type="list" title="p" limits="[np.float64(0.1), np.int64(3)]">float(0.1)</p>')
    assert back.limits == [0.1, 3] and back.value == 0.1
    # dict limits (title -> value)
    d = {"name": "p", "type": "list", "limits": {"A": 1, "B": 2}, "value": 2}
    theirs = ioxml.parameter_to_xml_string(Parameter.create(**d))
    assert to_xml_bytes(param_from_dict(d)) == theirs
    assert from_xml_string(theirs).limits == {"A": 1, "B": 2}


# --------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("bad", [
    "", "   ", "<settings", "<a></b>", "not xml at all", "<a/><b/>", b"\xff\xfe<a/>", None, 42, ["<a/>"],
    '<!DOCTYPE a [<!ENTITY x "xx">]><a>&x;</a>',
    '<a type="int">twelve</a>', '<a type="float">1.2.3</a>', '<a type="int">1e999</a>',
    '<a type="int" visible="maybe">1</a>', '<a type="list" limits="[1,">int(1)</a>',
    '<a type="list" limits="__import__(\'os\').getcwd()">int(1)</a>',
    '<a type="color">[1, 2]x</a>', '<a type="itemselect" all_items="[">[]</a>',
    '<s type="group"><a type="int">x</a></s>',
    "<a>" * 100_000 + "</a>" * 100_000,
])
def test_malformed_input_raises_value_error(bad):
    with pytest.raises(ValueError):
        from_xml_string(bad)


def test_error_names_the_parameter():
    with pytest.raises(ValueError, match="s/inner/a.*'int'"):
        from_xml_string('<s type="group"><inner type="group"><a type="int">x</a></inner></s>')


def test_values_are_never_evaluated():
    marker = "__import__('os').system('echo pwned')"
    p = from_xml_string(f'<a type="list" title="a">{marker}</a>')
    assert p.value == marker  # kept as text, not run
    with pytest.raises(ValueError):
        px.safe_eval("(lambda: 1)()")
    with pytest.raises(ValueError):
        px.safe_eval("open('/etc/passwd')")


def test_bad_trees_cannot_be_written():
    with pytest.raises(ValueError, match="not a valid XML tag"):
        to_xml_string(Param("has space", "int", 1))
    with pytest.raises(ValueError, match="bad"):
        to_xml_string(Param("bad", "itemselect", {"selected": []}))


# --------------------------------------------------------------------------------------- property test
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

_xml_text = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\r"), max_size=20) \
    | st.text(st.sampled_from("ab\n\t <>&\"'é€"), max_size=10)
_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
_leaf = st.one_of(
    st.builds(lambda n, v: {"name": n, "type": "int", "value": v}, _names, st.integers(-2**63, 2**63)),
    st.builds(lambda n, v: {"name": n, "type": "float", "value": v}, _names,
              st.floats(allow_nan=False, allow_infinity=True)),
    st.builds(lambda n, v: {"name": n, "type": "bool", "value": v}, _names, st.booleans()),
    st.builds(lambda n, v: {"name": n, "type": "str", "value": v}, _names, _xml_text),
    st.builds(lambda n, lim, i, ro: {"name": n, "type": "list", "limits": lim, "value": lim[i % len(lim)],
                                     "readonly": ro},
              _names, st.lists(_xml_text | st.integers(-1000, 1000), min_size=1, max_size=4),
              st.integers(0, 3), st.booleans()),
)


def _unique(children):
    seen, out = set(), []
    for c in children:
        if c["name"] not in seen:
            seen.add(c["name"])
            out.append(c)
    return out


_tree = st.recursive(st.lists(_leaf, max_size=5).map(_unique),
                     lambda kids: st.lists(st.one_of(_leaf, st.builds(
                         lambda n, ch, t: {"name": n, "type": "group", "title": t, "children": ch},
                         _names, kids, _xml_text.filter(bool))), max_size=4).map(_unique), max_leaves=12)


@settings(max_examples=60, deadline=None)
@given(_tree)
def test_property_same_bytes_as_pymodaq_and_round_trip(children):
    ours = param_from_dicts("settings", children)
    theirs = ioxml.parameter_to_xml_string(pmq_tree(children))
    assert to_xml_bytes(ours) == theirs
    back = from_xml_string(theirs)
    assert back == ours.xml_view()


# --------------------------------------------------------------------------------------- Qt-free
def test_module_imports_neither_qt_nor_pymodaq():
    from tests.support.isolation import PYMODAQ, QT, loaded
    assert loaded(["pymodaq_plugins_timetagger.protocol.paramxml"], QT + PYMODAQ + ("numpy",)) == []

def test_infos_of_a_pymodaq_5_1_13_viewer():
    """'Infos' as PyMoDAQ 5.1.13's DAQ_Viewer (Mock 1D detector) sends it (bytes, pymodaq_gui 5.1 writer), shortened."""
    infos = (b'<detector_settings type="group" title="Detector Settings" visible="1" removable="0" readonly="0">'
             b'<controller_status type="list" title="Controller Status:" visible="1" removable="0" readonly="0" '
             b'limits="[\'Master\', \'Slave\']">str(\'Master\')</controller_status>'
             b'<multi type="bool" title="Multi Channels?:" visible="1" removable="0" readonly="0">1</multi>'
             b'<x_axis type="group" title="xaxis:" visible="1" removable="0" readonly="0">'
             b'<Npts type="int" title="Npts:" visible="1" removable="0" readonly="0">512</Npts>'
             b'<x0 type="float" title="x0:" visible="1" removable="0" readonly="0">256.0</x0>'
             b'</x_axis></detector_settings>')
    tree = from_xml_string(infos)
    assert tree.name == "detector_settings" and tree.title == "Detector Settings"
    assert tree.values() == {"controller_status": "Master", "multi": True, "x_axis": {"Npts": 512, "x0": 256.0}}
    assert tree.child("controller_status").limits == ["Master", "Slave"]
    assert to_xml_bytes_51(tree) == infos
    apply_xml_update(tree, ["detector_settings", "x_axis", "Npts"],
                     b'<Npts type="int" title="Npts:" visible="1" removable="0" readonly="0">256</Npts>')
    assert tree.child("x_axis", "Npts").value == 256


# --------------------------------------------------------------------------------------- the mirror's view of a peer's tree
def test_mirror_shows_only_plain_values_of_allowed_types():
    from pymodaq_plugins_timetagger.protocol.mirror import MirrorLimits, MirrorRefused, info_key, mirror_dicts
    xml = ('<settings type="group" title="s">'
           '<i type="int" title="I">3</i><f type="float" title="F">0.5</f><t type="str" title="T">a</t>'
           '<b type="bool" title="B">1</b><l type="list" title="L" limits="[\'x\', \'y\']">str(\'y\')</l>'
           '<tab type="table" title="Tab">{\'a\': 1}</tab><c type="color" title="C">[1, 2, 3, 4]</c>'
           '<w type="weird_type" title="W">text</w><g type="group" title="G"><i type="int">1</i><i type="int">2</i></g>'
           '</settings>')
    dicts, warnings = mirror_dicts(from_xml_string(xml))
    by_name = {d["name"]: d for d in dicts}
    assert [(d["type"], d.get("value")) for d in dicts[:5]] == [("int", 3), ("float", 0.5), ("str", "a"),
                                                               ("bool", True), ("list", "y")]
    assert by_name["l"]["limits"] == ["x", "y"]
    for name in ("tab", "c", "w"):  # not allow-listed: read-only text
        assert by_name[name]["type"] == "str" and by_name[name]["readonly"] is True
    assert by_name["g"]["children"] == [{"name": "i", "title": "i", "readonly": False, "visible": True,
                                        "type": "int", "value": 1}]  # a repeated name is not shown twice
    allowed = {"name", "title", "type", "value", "readonly", "visible", "limits", "children"}
    assert all(set(d) <= allowed for d in dicts)
    assert len(warnings) == 4 and any("'weird_type'" in w for w in warnings)
    with pytest.raises(MirrorRefused, match="more than 3 parameters"):
        mirror_dicts(from_xml_string(xml), MirrorLimits(max_params=3))
    assert info_key("a b", set()) == "a_b" and info_key("a_b", {"a_b"}) == "a_b_2"
    assert info_key("1st", set()) == "_1st" and info_key("", set()) == "info"


def test_mirror_module_imports_neither_qt_nor_pymodaq():
    from tests.support.isolation import PYMODAQ, QT, loaded
    assert loaded(["pymodaq_plugins_timetagger.protocol.mirror"], QT + PYMODAQ + ("numpy",)) == []
