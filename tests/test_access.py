"""The access layer: address parsing, opening each kind of tagger, errors, freeing exactly once."""
import pytest

from pymodaq_plugins_timetagger.hardware import access, simulator
from pymodaq_plugins_timetagger.hardware.address import NETWORK_TIME_TAGGER_PORT, parse_address
from pymodaq_plugins_timetagger.hardware.errors import (AddressError, TaggerOpenError,
                                                        VendorLibraryMissing)


@pytest.mark.parametrize("text,kind,extra", [
    ("auto", "auto", {}),
    (" AUTO ", "auto", {}),
    ("sim", "sim", {"model": "ultra"}),
    ("sim:tt20", "sim", {"model": "tt20"}),
    ("SIM:X", "sim", {"model": "x"}),
    ("", "usb", {"serial": ""}),
    ("1740000ABC", "usb", {"serial": "1740000ABC"}),
    ("net:lab-pc", "net", {"host": "lab-pc", "port": NETWORK_TIME_TAGGER_PORT}),
    ("net:192.168.1.20:41102", "net", {"host": "192.168.1.20", "port": 41102}),
    ("net:[::1]:5000", "net", {"host": "::1", "port": 5000}),
    ("net:::1", "net", {"host": "::1", "port": NETWORK_TIME_TAGGER_PORT}),
    ("rpc:lab-pc", "rpc", {"host": "lab-pc", "port": 23000}),
    ("rpc:127.0.0.1:23001", "rpc", {"host": "127.0.0.1", "port": 23001}),
])
def test_parse_address(text, kind, extra):
    a = parse_address(text)
    assert a.kind == kind
    for k, v in extra.items():
        assert getattr(a, k) == v


def test_network_address_brackets_ipv6():
    assert parse_address("net:[::1]:5000").network_address == "[::1]:5000"
    assert parse_address("net:host").network_address == "host:41101"


@pytest.mark.parametrize("text,words", [
    ("sim:ultra2", "unknown simulated model"),
    ("net:", "no host"),
    ("net:host:99999", "port"),
    ("net:host:abc", "port"),
    ("net:[::1", "']'"),
    ("my tagger", "neither"),
    ("rpc:", "no host after 'rpc:'"),
    ("rpc:host:99999", "port"),
    (None, "must be a string"),
])
def test_bad_addresses_name_the_problem(text, words):
    with pytest.raises(AddressError, match=words) as e:
        parse_address(text)
    if text:
        assert repr(text) in str(e.value)


def test_open_sim_describes_it_as_simulated():
    with access.open_tagger("sim:tt20", sim_clock="virtual") as h:
        assert h.simulated and h.api is simulator
        assert h.model == "Time Tagger 20"
        assert "SIMULATED" in h.description and "Time Tagger 20" in h.description
        corr = h.api.Correlation(h.tagger, 1, 2)  # the module-like API builds measurements
        assert corr.getData().shape == (1000,)
    assert h.closed


def test_close_frees_exactly_once(monkeypatch):
    calls = []
    real = simulator.freeTimeTagger
    monkeypatch.setattr(simulator, "freeTimeTagger", lambda t: (calls.append(t), real(t)))
    h = access.open_tagger("sim", sim_clock="virtual")
    h.close()
    h.close()
    with h:
        pass
    assert len(calls) == 1
    # the serial is free again
    access.open_tagger("sim", sim_clock="virtual").close()


def test_a_serial_cannot_be_opened_twice():
    with access.open_tagger("sim", sim_clock="virtual"):
        with pytest.raises(TaggerOpenError, match="'sim'.*already opened by another plugin: make this one "
                                                  "a Slave of it"):
            access.open_tagger("sim", sim_clock="virtual")
        with pytest.raises(TaggerOpenError, match="already opened by another plugin"):
            access.open_tagger("auto", sim_clock="virtual")     # auto's simulator is the same serial
    access.open_tagger("sim", sim_clock="virtual").close()      # freed: the registry let it go


class _OneDevice:
    """Stands for the vendor module with one USB Time Tagger attached (played by a simulated tagger).

    Like the vendor's library with its deprecated singleton behaviour, a second createTimeTagger of the
    same device returns the SAME object, and the scan lists only devices nobody holds."""

    def __init__(self):
        self.device = simulator.createTimeTagger("SIM-X-0001", clock="virtual")
        self.held = False
        self.freed = 0

    def scanTimeTagger(self):
        return () if self.held else (self.device.getSerial(),)

    def createTimeTagger(self, serial=""):
        if serial not in ("", self.device.getSerial()):
            raise RuntimeError("No Time Tagger attached or already in use.")
        self.held = True
        return self.device

    def freeTimeTagger(self, tagger):
        self.freed += 1
        self.held = False

    def getVersion(self):
        return "2.22.6"


@pytest.fixture
def one_device(monkeypatch):
    fake = _OneDevice()
    monkeypatch.setattr(access, "load_vendor_api", lambda: fake)
    yield fake
    simulator.freeTimeTagger(fake.device)


@pytest.mark.parametrize("second", ["SIM-X-0001", "", "auto"])
def test_a_second_master_on_the_same_device_is_refused(one_device, second):
    """Issue 10, item 9: the second open is refused (not handed the first one's object, which it would
    free on close) and auto says so instead of silently falling back to the simulator."""
    with access.open_tagger("SIM-X-0001") as first:
        assert not first.simulated
        with pytest.raises(TaggerOpenError, match="already opened by another plugin: make this one a Slave"):
            access.open_tagger(second, sim_clock="virtual")
        assert one_device.freed == 0 and first.tagger.getSerial() == "SIM-X-0001"   # the first still works
    assert one_device.freed == 1
    with access.open_tagger(second or "SIM-X-0001", sim_clock="virtual") as again:  # free again
        assert not again.simulated


def test_zero_based_channel_numbering_is_refused_with_what_to_do(one_device, monkeypatch):
    """Issue 10, item 7: an older vendor library numbering the inputs from 0 is refused, never misread."""
    monkeypatch.setattr(one_device.device, "getChannelList", lambda type=None: list(range(16)))
    with pytest.raises(TaggerOpenError, match="zero-based channel scheme.*setTimeTaggerChannelNumberScheme"):
        access.open_tagger("SIM-X-0001")
    assert one_device.freed == 1 and access.held_serials() == []


def test_older_vendor_library_is_asked_for_one_based_channels(one_device):
    calls = []
    one_device.TT_CHANNEL_NUMBER_SCHEME_ONE = 2
    one_device.setTimeTaggerChannelNumberScheme = calls.append
    one_device.getVersion = lambda: "2.6.4"
    with access.open_tagger("SIM-X-0001"):
        pass
    assert calls == [2]
    assert access.vendor_version(one_device) == (2, 6, 4)


class _NoDevices:
    """Stands for the vendor module on a machine without hardware (what the real one answers)."""

    @staticmethod
    def scanTimeTagger():
        return ()

    @staticmethod
    def createTimeTagger(serial=""):
        raise RuntimeError("No Time Tagger attached or already in use.")

    @staticmethod
    def createTimeTaggerNetwork(address):
        raise RuntimeError(f"Could not connect to Time Tagger server at {address}.")


def test_auto_falls_back_to_the_simulator_and_says_why(monkeypatch):
    monkeypatch.setattr(access, "load_vendor_api", lambda: _NoDevices)
    with access.open_tagger("auto", sim_clock="virtual") as h:
        assert h.simulated
        assert "SIMULATED" in h.description and "no USB Time Tagger found" in h.description


def test_auto_without_the_vendor_library(monkeypatch):
    def missing():
        raise VendorLibraryMissing("not installed")
    monkeypatch.setattr(access, "load_vendor_api", missing)
    with access.open_tagger("auto", sim_clock="virtual") as h:
        assert h.simulated and "vendor library is not installed" in h.description


@pytest.mark.parametrize("address,vendor_words", [
    ("", "No Time Tagger attached"),
    ("1740000ABC", "No Time Tagger attached"),
    ("net:127.0.0.1:41101", "Could not connect to Time Tagger server at 127.0.0.1:41101"),
])
def test_explicit_address_never_falls_back(monkeypatch, address, vendor_words):
    monkeypatch.setattr(access, "load_vendor_api", lambda: _NoDevices)
    with pytest.raises(TaggerOpenError) as e:
        access.open_tagger(address)
    assert repr(address) in str(e.value) and vendor_words in str(e.value)


def test_explicit_address_without_vendor_library(monkeypatch):
    def missing():
        raise VendorLibraryMissing("the Swabian Time Tagger library is not installed")
    monkeypatch.setattr(access, "load_vendor_api", missing)
    with pytest.raises(VendorLibraryMissing, match="'1740000ABC'.*not installed"):
        access.open_tagger("1740000ABC")


def test_real_vendor_library_without_hardware():
    """With the vendor's wheel installed (Linux), its own errors reach the user unchanged."""
    try:
        api = access.load_vendor_api()
    except VendorLibraryMissing:
        pytest.skip("Swabian-TimeTagger is not installed on this platform")
    assert not access.is_simulated_api(api)
    if api.scanTimeTagger():
        pytest.skip("a real Time Tagger is attached: this test is for machines without one")
    with pytest.raises(TaggerOpenError, match="cannot open the Time Tagger at ''.*No Time Tagger"):
        access.open_tagger("")
    with pytest.raises(TaggerOpenError, match="127.0.0.1:1"):
        access.open_tagger("net:127.0.0.1:1")
    with access.open_tagger("auto", sim_clock="virtual") as h:
        assert h.simulated and "no USB Time Tagger found" in h.description
