"""The simulator is a drop-in for the vendor API subset: names, signatures, defaults, dtypes, errors.

Where the vendor's wheel is installed, its own classes are the reference (read by introspection only:
no hardware is needed for that).
"""
import inspect

import numpy as np
import pytest

from pymodaq_plugins_timetagger.hardware import simulator as TT
from pymodaq_plugins_timetagger.hardware.access import load_vendor_api
from pymodaq_plugins_timetagger.hardware import vendor as boundary
from pymodaq_plugins_timetagger.hardware.errors import VendorLibraryMissing

# the calls the project makes: declared once, as the Protocols of hardware/vendor.py
MEASUREMENTS = list(boundary.MEASUREMENTS)
COMMON = boundary.members(boundary.Measurement)
TAGGER = boundary.members(boundary.Tagger)


@pytest.fixture(scope="module")
def vendor():
    try:
        return load_vendor_api()
    except VendorLibraryMissing:
        pytest.skip("Swabian-TimeTagger is not installed on this platform")


def test_module_level_names():
    assert TT.CHANNEL_UNUSED == -134217728
    assert [m.value for m in TT.ChannelEdge] == [0, 1, 2, 4, 5, 6, 8, 9, 10]
    assert int(TT.Resolution.Standard) == 0
    assert isinstance(TT.scanTimeTagger(), tuple)
    for name in ["createTimeTagger", "freeTimeTagger", "scanTimeTagger", *MEASUREMENTS]:
        assert callable(getattr(TT, name))


def test_module_constants_match_the_vendor(vendor):
    assert TT.CHANNEL_UNUSED == vendor.CHANNEL_UNUSED
    for name, member in vendor.ChannelEdge.__members__.items():
        assert int(TT.ChannelEdge[name]) == int(member)
    for name, member in vendor.Resolution.__members__.items():
        assert int(TT.Resolution[name]) == int(member)


@pytest.mark.parametrize("cls", MEASUREMENTS)
def test_measurement_methods_exist_in_the_vendor_too(vendor, cls):
    for name in COMMON:
        assert hasattr(getattr(vendor, cls), name), f"vendor {cls} has no {name}"
        assert hasattr(getattr(TT, cls), name), f"simulated {cls} has no {name}"
    vendor_getters = {n for n in dir(getattr(vendor, cls)) if n.startswith("get")}
    ours = {n for n in dir(getattr(TT, cls)) if n.startswith("get")}
    for name in ours:
        assert name in vendor_getters, f"simulated {cls}.{name} is not vendor API"


def test_tagger_methods_exist_in_the_vendor_too(vendor):
    for name in TAGGER:
        assert hasattr(vendor.TimeTagger, name), name
        assert hasattr(TT.TimeTagger, name), name


@pytest.mark.parametrize("cls", ["Counter", "Countrate"])
def test_explicit_vendor_signatures_are_the_same(vendor, cls):
    """Where SWIG exposes real Python signatures, ours have the same parameter names and defaults."""
    v = inspect.signature(getattr(vendor, cls).__init__)
    s = inspect.signature(getattr(TT, cls).__init__)
    assert [(p.name, p.default) for p in v.parameters.values()] == \
           [(p.name, p.default) for p in s.parameters.values()]


@pytest.mark.parametrize("method", ["startFor", "waitUntilFinished"])
def test_iterator_signatures_are_the_same(vendor, method):
    v = inspect.signature(getattr(vendor.IteratorBase, method))
    s = inspect.signature(getattr(TT.IteratorBase, method))
    assert [(p.name, p.default) for p in v.parameters.values()] == \
           [(p.name, p.default) for p in s.parameters.values()]


def test_keyword_names_of_the_c_parsed_constructors(make_tagger):
    """Correlation/Histogram take the vendor's keyword names (verified against the wheel)."""
    t = make_tagger()
    TT.Correlation(tagger=t, channel_1=1, channel_2=2, binwidth=10, n_bins=10)
    TT.Histogram(tagger=t, click_channel=1, start_channel=2, binwidth=10, n_bins=10)
    with pytest.raises(TypeError):
        TT.Correlation(tagger=t, channel_1=1, foo=2)


@pytest.mark.parametrize("cls,args", [("Countrate", ([1],)), ("Counter", ([1],)),
                                      ("Correlation", (1, 2)), ("Histogram", (1, 2))])
def test_none_tagger_raises_like_the_vendor(vendor, cls, args):
    with pytest.raises(ValueError, match="a valid Time Tagger must be provided") as ours:
        getattr(TT, cls)(None, *args)
    with pytest.raises(ValueError) as theirs:
        getattr(vendor, cls)(None, *args)
    assert str(ours.value) == str(theirs.value)


def test_dtypes_and_shapes(make_tagger):
    t = make_tagger()
    t.setTestSignal([1, 2], True)
    cr = TT.Countrate(t, [1, 2, 3])
    co = TT.Counter(t, [1, 2], binwidth=10**9, n_values=7)
    corr = TT.Correlation(t, 1, 2, binwidth=100, n_bins=33)
    hist = TT.Histogram(t, 1, 2, binwidth=100, n_bins=44)
    for m in (cr, co, corr, hist):
        assert m.isRunning(), "measurements start on construction"
    t.sim_advance(10**10)
    assert cr.getData().dtype == np.float64 and cr.getData().shape == (3,)
    assert cr.getCountsTotal().dtype == np.int64
    assert co.getData().dtype == np.int32 and co.getData().shape == (2, 7)
    assert co.getDataNormalized().dtype == np.float64 and co.getIndex().dtype == np.int64
    assert corr.getData().dtype == np.int32 and corr.getData().shape == (33,)
    assert corr.getDataNormalized().dtype == np.float64 and corr.getIndex().dtype == np.int64
    assert hist.getData().dtype == np.int32 and hist.getIndex().shape == (44,)
    a, b = corr.getData(), corr.getData()
    a[:] = -1
    assert (b != -1).any(), "getters return fresh arrays"
    assert cr.getCaptureDuration() == 10**10


def test_integer_arguments_like_the_vendor(make_tagger):
    t = make_tagger()
    cr = TT.Countrate(t, [1])
    cr.startFor(1e9)  # an integral float is accepted
    with pytest.raises(TypeError):
        cr.startFor(1.5e0)
    with pytest.raises(TypeError):
        cr.startFor(10, clear=1)  # bool arguments must be real bools


@pytest.mark.parametrize("ctor", [
    lambda t: TT.Correlation(t, 1, 2, binwidth=0),
    lambda t: TT.Correlation(t, 1, 2, n_bins=0),
    lambda t: TT.Histogram(t, 1, 2, binwidth=-5),
    lambda t: TT.Counter(t, [1], n_values=0),
    lambda t: TT.Countrate(t, []),
    lambda t: TT.Countrate(t, [9]),
    lambda t: TT.Correlation(t, 0, 2),
])
def test_bad_measurement_arguments_raise_value_errors(make_tagger, ctor):
    with pytest.raises(ValueError):
        ctor(make_tagger())


def test_life_cycle(make_tagger):
    t = make_tagger()
    t.setTestSignal(1, True)
    cr = TT.Countrate(t, [1])
    t.sim_advance(10**9)
    cr.stop()
    n = cr.getCountsTotal()[0]
    t.sim_advance(10**9)
    assert cr.getCountsTotal()[0] == n and cr.getCaptureDuration() == 10**9  # stopped: frozen
    cr.start()
    t.sim_advance(10**9)
    assert cr.getCaptureDuration() == 2 * 10**9  # start() resumes without clearing
    cr.clear()
    assert cr.getCaptureDuration() == 0 and cr.getCountsTotal()[0] == 0 and cr.isRunning()
    # waiting on a measurement that never ends returns True at once (the vendor logs and skips)
    assert cr.waitUntilFinished(100) is True
    assert cr.waitUntilFinished(-1) is True and cr.isRunning()
    cr.startFor(10**9)
    assert cr.waitUntilFinished(0.5) is False  # virtual time: 0.5 ms < 1 ms
    assert cr.waitUntilFinished(1) is True
    with TT.Countrate(t, [1]) as m:
        pass
    with pytest.raises(RuntimeError, match="destroyed"):
        m.start()


def test_settings_read_back(make_tagger):
    t = make_tagger()
    t.setTriggerLevel(3, 0.3333)
    assert t.getTriggerLevel(3) == pytest.approx(0.3333, abs=t.sim_spec.trigger_step_v)
    t.setInputDelay(-2, 1234)
    assert t.getInputDelay(-2) == 1234 and t.getInputDelay(2) == 0
    t.setTestSignal([1, 5], True)
    assert t.getTestSignal(5) and not t.getTestSignal(4)
    assert t.getChannelList(TT.ChannelEdge.Rising) == list(range(1, 9))
    assert len(t.getChannelList()) == 16
    cfg = t.getConfiguration()
    assert cfg["simulated"] is True and cfg["channels"][2]["trigger level"] == t.getTriggerLevel(3)
    with pytest.raises(ValueError, match="channel 9"):
        t.setTriggerLevel(9, 0.1)

def test_trigger_level_out_of_range_is_clamped_with_a_warning(make_tagger, caplog):
    """Vendor behaviour (issue 10, item 5): clamped and logged ("Setting to max device value"), not refused."""
    t = make_tagger()
    assert t.getTriggerLevelRange(1) == [-2.5, 2.5]
    with caplog.at_level("WARNING"):
        t.setTriggerLevel(1, 7.0)
    assert t.getTriggerLevel(1) == 2.5 and "Setting to max device value" in caplog.text
    t.setTriggerLevel(1, -7.0)
    assert t.getTriggerLevel(1) == -2.5
    x = make_tagger("SIM-X-0001")
    assert x.getTriggerLevelRange(1) == [-1.0, 1.0]  # Time Tagger X: -1 .. +1 V (vendor hardware page)
    x.setTriggerLevel(2, 1.5)
    assert x.getTriggerLevel(2) == 1.0


def test_freed_tagger_refuses_work():
    t = TT.createTimeTagger(clock="virtual")
    m = TT.Countrate(t, [1])
    TT.freeTimeTagger(t)
    assert "SIM-ULTRA-0001" in TT.scanTimeTagger()
    with pytest.raises(RuntimeError, match="freed"):
        m.startFor(10)
    with pytest.raises(RuntimeError, match="freed"):
        TT.Countrate(t, [1])


def test_context_manager_frees():
    with TT.createTimeTagger(clock="virtual") as t:
        serial = t.getSerial()
        assert serial not in TT.scanTimeTagger()
    assert serial in TT.scanTimeTagger()
    with pytest.raises(RuntimeError, match="freed"):
        t.getSerial()
    TT.freeTimeTagger(t)  # freeing twice is harmless


def test_sources_are_connected_and_replaced(make_tagger):
    from pymodaq_plugins_timetagger.hardware.simulator import PoissonSource, SinglePhotonEmitter
    t = make_tagger(sources=None)  # the default bench
    emitter = t.sim_sources()[0]
    assert isinstance(emitter, SinglePhotonEmitter) and emitter.channels == (1, 2)
    light = PoissonSource(channels=(2,), rate_hz=1e5)
    t.sim_set_source(light)
    t.sim_set_source(light)  # twice: still one source
    assert emitter not in t.sim_sources() and sum(s is light for s in t.sim_sources()) == 1
    assert t.sim_expected_rate_hz(1) == 0.0 and t.sim_expected_rate_hz(2) == 1e5
    t.sim_remove_source(2)
    assert t.sim_expected_rate_hz(2) == 0.0
    with pytest.raises(ValueError, match="channel 9 does not exist"):
        t.sim_set_source(PoissonSource(channels=(9,)))
    with pytest.raises(ValueError, match="two detector channels"):
        SinglePhotonEmitter(channels=(1,))


# --- conformance: every vendor call this package makes, against the wheel ------------------------------
# (owner, name) -> parameters as this package calls them, in order, with the defaults it relies on
# (NO_DEFAULT: none relied on). Calls are made positionally in this order (runs.py, inputs.py,
# access.py, selfcheck.py), so the order matters as much as the names.
NO_DEFAULT = object()
UNUSED = TT.CHANNEL_UNUSED
VENDOR_CALLS = {
    ("module", "createTimeTagger"): [("serial", NO_DEFAULT), ("resolution", NO_DEFAULT)],
    ("module", "freeTimeTagger"): [("tagger", NO_DEFAULT)],
    ("module", "scanTimeTagger"): [],
    ("module", "getVersion"): [],
    ("TimeTagger", "getSerial"): [], ("TimeTagger", "getModel"): [],
    ("TimeTagger", "getChannelList"): [("type", NO_DEFAULT)],
    ("TimeTagger", "setTestSignal"): [("channel", NO_DEFAULT), ("enabled", NO_DEFAULT)],
    ("TimeTagger", "getTestSignal"): [("channel", NO_DEFAULT)],
    ("TimeTagger", "setTriggerLevel"): [("channel", NO_DEFAULT), ("voltage", NO_DEFAULT)],
    ("TimeTagger", "getTriggerLevel"): [("channel", NO_DEFAULT)],
    ("TimeTagger", "getTriggerLevelRange"): [("channel", NO_DEFAULT)],
    ("TimeTagger", "setInputDelay"): [("channel", NO_DEFAULT), ("delay", NO_DEFAULT)],
    ("TimeTagger", "getInputDelay"): [("channel", NO_DEFAULT)],
    ("TimeTagger", "setDeadtime"): [("channel", NO_DEFAULT), ("deadtime", NO_DEFAULT)],
    ("TimeTagger", "getDeadtime"): [("channel", NO_DEFAULT)],
    ("TimeTagger", "getDeadtimeRange"): [("channel", NO_DEFAULT)],
    ("TimeTagger", "setEventDivider"): [("channel", NO_DEFAULT), ("divider", NO_DEFAULT)],
    ("TimeTagger", "getEventDivider"): [("channel", NO_DEFAULT)],
    ("TimeTagger", "getOverflows"): [], ("TimeTagger", "clearOverflows"): [],
    ("TimeTagger", "getOverflowsAndClear"): [],
    ("TimeTagger", "sync"): [("timeout", -1)],
    ("TimeTaggerNetwork", "getOverflowsClient"): [],           # read on net: taggers only
    ("Countrate", "__init__"): [("tagger", NO_DEFAULT), ("channels", NO_DEFAULT)],
    ("Counter", "__init__"): [("tagger", NO_DEFAULT), ("channels", NO_DEFAULT), ("binwidth", 1_000_000_000),
                              ("n_values", 1)],
    ("Correlation", "__init__"): [("tagger", NO_DEFAULT), ("channel_1", NO_DEFAULT), ("channel_2", UNUSED),
                                  ("binwidth", 1000), ("n_bins", 1000)],
    ("Histogram", "__init__"): [("tagger", NO_DEFAULT), ("click_channel", NO_DEFAULT),
                                ("start_channel", UNUSED), ("binwidth", 1000), ("n_bins", 1000)],
    ("IteratorBase", "start"): [], ("IteratorBase", "stop"): [], ("IteratorBase", "clear"): [],
    ("IteratorBase", "abort"): [], ("IteratorBase", "isRunning"): [],
    ("IteratorBase", "getCaptureDuration"): [],
    ("IteratorBase", "startFor"): [("capture_duration", NO_DEFAULT), ("clear", True)],
    ("IteratorBase", "waitUntilFinished"): [("timeout", -1)],
    ("Countrate", "getData"): [], ("Countrate", "getCountsTotal"): [],
    ("Counter", "getData"): [("rolling", True)], ("Counter", "getDataNormalized"): [("rolling", True)],
    ("Counter", "getIndex"): [],
    ("Correlation", "getData"): [], ("Correlation", "getDataNormalized"): [], ("Correlation", "getIndex"): [],
    ("Histogram", "getData"): [], ("Histogram", "getIndex"): [],
    # coincidences and virtual channels (runs.CoincidencesRun, virtual_inputs.py, windows.py); the timestamp is
    # given explicitly (CoincidenceTimestamp.Last, the completing tag)
    ("Coincidences", "__init__"): [("tagger", NO_DEFAULT), ("coincidenceGroups", NO_DEFAULT),
                                   ("coincidenceWindow", NO_DEFAULT), ("timestamp", NO_DEFAULT)],
    ("Coincidences", "getChannels"): [],
    ("Combiner", "__init__"): [("tagger", NO_DEFAULT), ("channels", NO_DEFAULT)], ("Combiner", "getChannel"): [],
    ("DelayedChannel", "__init__"): [("tagger", NO_DEFAULT), ("input_channel", NO_DEFAULT), ("delay", NO_DEFAULT)],
    ("DelayedChannel", "getChannel"): [],
    ("GatedChannel", "__init__"): [("tagger", NO_DEFAULT), ("input_channel", NO_DEFAULT),
                                   ("gate_start_channel", NO_DEFAULT), ("gate_stop_channel", NO_DEFAULT)],
    ("GatedChannel", "getChannel"): [],
    ("TimeTagger", "setConditionalFilter"): [("trigger", NO_DEFAULT), ("filtered", NO_DEFAULT)],
    ("TimeTagger", "getConditionalFilterTrigger"): [], ("TimeTagger", "getConditionalFilterFiltered"): [],
    ("TimeTagger", "getDelayHardwareRange"): [("channel", NO_DEFAULT)],
    ("SynchronizedMeasurements", "__init__"): [("tagger", NO_DEFAULT)],
    ("SynchronizedMeasurements", "registerMeasurement"): [("measurement", NO_DEFAULT)],
    ("SynchronizedMeasurements", "unregisterMeasurement"): [("measurement", NO_DEFAULT)],
    ("SynchronizedMeasurements", "startFor"): [("capture_duration", NO_DEFAULT), ("clear", True)],
    # imaging.py passes every argument (its other calls: tests/test_simulator_markers.py)
    ("CountBetweenMarkers", "__init__"): [("tagger", NO_DEFAULT), ("click_channel", NO_DEFAULT),
                                          ("begin_channel", NO_DEFAULT), ("end_channel", NO_DEFAULT),
                                          ("n_values", NO_DEFAULT)],
    ("TimeDifferences", "__init__"): [("tagger", NO_DEFAULT), ("click_channel", NO_DEFAULT),
                                      ("start_channel", NO_DEFAULT), ("next_channel", NO_DEFAULT),
                                      ("sync_channel", NO_DEFAULT), ("binwidth", NO_DEFAULT), ("n_bins", NO_DEFAULT),
                                      ("n_histograms", NO_DEFAULT)],
    ("TimeTagger", "getConfiguration"): [],                    # recorded beside the tags (recording/)
    ("TimeTagStream", "__init__"): [("tagger", NO_DEFAULT), ("n_max_events", NO_DEFAULT), ("channels", NO_DEFAULT)],
}


def _docstring_params(func):
    """Parameter names (in order) and the defaults stated as '(default: X)' in a SWIG docstring."""
    import re
    doc = func.__doc__ or ""
    doc = doc.split("*Overload 2:*")[0]
    out = []
    for m in re.finditer(r":param (\w+):(.*?)(?=:param |:type |:rtype|:return|$)", doc, re.S):
        d = re.search(r"\(default: ([^)]*)\)", m.group(2))
        default = NO_DEFAULT
        if d:
            text = d.group(1).strip().strip("'\"")
            default = UNUSED if text == "CHANNEL_UNUSED" else int(text) if text.lstrip("-").isdigit() else text
        out.append((m.group(1), default))
    return out


def _params(func):
    """(name, default) of the parameters after self, from the signature or else the SWIG docstring."""
    sig = inspect.signature(func)
    ps = [p for p in sig.parameters.values() if p.name != "self"]
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in ps):
        return _docstring_params(func)
    return [(p.name, NO_DEFAULT if p.default is inspect.Parameter.empty else p.default) for p in ps]


def _owner(api, owner):
    return api if owner == "module" else getattr(api, owner)


def _agrees(expected, found):
    """Same names in the same order; where the package relies on a default, the same default."""
    return [n for n, _ in expected] == [n for n, _ in found][:len(expected)] and all(
        d is NO_DEFAULT or fd == d for (_, d), (_, fd) in zip(expected, found))


@pytest.mark.parametrize("owner,name", sorted(VENDOR_CALLS))
def test_every_vendor_call_of_this_package_matches_the_wheel(vendor, owner, name):
    func = getattr(_owner(vendor, owner), name, None)
    assert func is not None, f"the vendor's {owner}.{name} does not exist in {vendor.getVersion()}"
    found = _params(func)
    expected = VENDOR_CALLS[(owner, name)]
    if owner == "module" and name == "createTimeTagger":   # SWIG wrapper: names from its docstring
        assert [n for n, _ in found] == ["serial", "resolution"]
        return
    if owner == "TimeTagger" and name == "getChannelList":   # documented 'type', default unstated
        assert [n for n, _ in found] == ["type"]
        return
    assert _agrees(expected, found), f"vendor {owner}.{name}{found} vs this package's {expected}"


@pytest.mark.parametrize("owner,name", sorted(k for k in VENDOR_CALLS if k[0] != "TimeTaggerNetwork"))
def test_every_vendor_call_has_the_same_shape_in_the_simulator(owner, name):
    func = getattr(_owner(TT, owner), name, None)
    assert func is not None, f"the simulator has no {owner}.{name}"
    found = [(n, d) for n, d in _params(func)]
    found = [(n, d) for n, d in found if n not in ("clock", "seed", "sources")]   # the simulator's own
    assert _agrees(VENDOR_CALLS[(owner, name)], found), f"simulator {owner}.{name}{found}"


def test_the_conformance_table_covers_every_vendor_call_in_the_source():
    """Every `tagger.x(` / `api.X(` call in the package (outside the simulator) is in VENDOR_CALLS."""
    import pathlib
    import re
    src = pathlib.Path(__file__).resolve().parents[1] / "src" / "pymodaq_plugins_timetagger"
    called = set()
    for path in src.rglob("*.py"):
        if "simulator" in path.parts or path.name == "rpc.py":
            continue
        text = path.read_text(encoding="utf-8")
        called |= {m for m in re.findall(r"\b(?:tagger|self\.t)\.([a-zA-Z]\w*)\(", text)
                   if not m.startswith("sim_")}
        called |= set(re.findall(r"\bapi\.([A-Za-z]\w*)\(", text)) - {"close", "Proxy"}
    table = {name for _, name in VENDOR_CALLS} | {o for o, n in VENDOR_CALLS if n == "__init__"}
    assert called - table == set(), f"vendor calls missing from VENDOR_CALLS: {sorted(called - table)}"


def test_the_boundary_lists_are_the_protocols():
    assert {"startFor", "waitUntilFinished", "getCaptureDuration", "__exit__"} <= set(COMMON)
    assert {"getSerial", "setTriggerLevel", "getOverflows"} <= set(TAGGER)
    assert set(boundary.members(boundary.Correlation)) == set(COMMON) | {"getData", "getDataNormalized", "getIndex"}


@pytest.mark.parametrize("cls", MEASUREMENTS)
def test_each_backend_offers_what_the_project_calls(vendor, cls):
    """The vendor's classes and the simulator's have every method of the measurement's Protocol."""
    proto = boundary.MEASUREMENTS[cls]
    assert boundary.missing(getattr(vendor, cls), proto) == []
    assert boundary.missing(getattr(TT, cls), proto) == []


def test_both_libraries_offer_the_module_level_calls(vendor):
    assert boundary.missing(vendor, boundary.Library) == []
    assert boundary.missing(TT, boundary.Library) == []
    assert boundary.missing(vendor.TimeTagger, boundary.Tagger) == []


def test_an_open_simulated_tagger_and_its_measurements_satisfy_the_protocols():
    tagger = TT.createTimeTagger()
    try:
        assert isinstance(tagger, boundary.Tagger)
        for cls, proto in boundary.MEASUREMENTS.items():
            args = ([1],) if cls in ("Countrate", "Counter") else (1, 2)
            with getattr(TT, cls)(tagger, *args) as m:
                assert isinstance(m, proto), cls
    finally:
        TT.freeTimeTagger(tagger)


def test_a_vendor_exception_becomes_a_tagger_error():
    from pymodaq_plugins_timetagger.hardware.errors import TaggerError, VendorError
    with pytest.raises(VendorError, match="countrate: the Time Tagger library raised RuntimeError: boom") as info:
        with boundary.vendor_errors("countrate"):
            raise RuntimeError("boom")
    assert isinstance(info.value, TaggerError) and isinstance(info.value.__cause__, RuntimeError)
    with pytest.raises(KeyError):  # not a vendor exception: a bug, left as it is
        with boundary.vendor_errors("countrate"):
            raise KeyError("x")
