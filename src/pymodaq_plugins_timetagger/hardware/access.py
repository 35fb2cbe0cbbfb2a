"""Open a Time Tagger from an address string: the vendor's library or the simulator, one entry point.

:func:`open_tagger` returns a :class:`TaggerHandle`: the open tagger, the module-like API it belongs
to (the vendor's ``TimeTagger`` module or :mod:`.simulator`, so measurement code writes
``handle.api.Correlation(handle.tagger, ...)`` for all of them; a TimeTaggerRPC server's proxy API for
``rpc:`` addresses) and a description in plain words that says
whether the tagger is SIMULATED. An explicit address that fails raises :class:`TaggerOpenError` with the
address and the vendor's message; only ``auto`` may choose the simulator.

One process, one Master per tagger: every open USB or simulated tagger is kept in a registry by serial
(the vendor's library may hand the same object to a second ``createTimeTagger``, and when one owner frees
it the other fails). A second open of the same serial is refused with a message saying to make the
second plugin a Slave of the first; ``auto`` says so too instead of falling back to the simulator.
"""
from __future__ import annotations

import importlib
import logging
import threading
from dataclasses import dataclass, field
from types import ModuleType

from . import simulator
from .address import Address, parse_address
from .simulator.setups import SETUPS
from .errors import TaggerError, TaggerOpenError, VendorLibraryBroken, VendorLibraryMissing

logger = logging.getLogger(__name__)

#: the import paths of the vendor library, tried in this order: the PyPI wheel, then the installer's
VENDOR_MODULES = ("Swabian.TimeTagger", "TimeTagger")
#: vendor library versions this package is checked against (the wheel's ``getVersion()``; docs/install.rst and
#: setup.cfg's ``hardware`` extra say the same). Older installers open with a warning.
SUPPORTED_VENDOR_VERSION = (2, 22)
#: the message of a second open of a tagger this process already holds
ALREADY_OPEN = "already opened by another plugin: make this one a Slave of it"

_registry_lock = threading.Lock()
_registry: dict[str, "TaggerHandle"] = {}    # serial -> the handle holding it (USB and simulator)


def load_vendor_api() -> ModuleType:
    """Import the vendor's ``TimeTagger`` module (wheel first, installer second).

    Raises :class:`VendorLibraryMissing` naming both import paths when neither is installed, and
    :class:`VendorLibraryBroken` with the vendor's message when one is installed but does not load (e.g.
    "DLL load failed" on Windows: a missing driver or runtime).
    """
    errors = []
    broken = []
    for name in VENDOR_MODULES:
        try:
            return importlib.import_module(name)
        except ImportError as e:
            errors.append(f"{name}: {e}")
            missing = isinstance(e, ModuleNotFoundError) and e.name is not None and name.startswith(e.name)
            if not missing:  # the module is there, something it needs is not
                broken.append(f"{name}: {e}")
    if broken:
        raise VendorLibraryBroken("the Swabian Time Tagger library is installed but cannot be loaded: "
                                  + "; ".join(broken))
    raise VendorLibraryMissing("the Swabian Time Tagger library is not installed (pip install "
                               "Swabian-TimeTagger, or the vendor's installer); tried "
                               + "; ".join(errors))


def is_simulated_api(api) -> bool:
    return getattr(api, "SIMULATED", False) is True


@dataclass
class TaggerHandle:
    """An open Time Tagger: ``tagger``, its ``api`` module, and how it was reached.

    Close it (or use it as a context manager) to free the tagger; closing twice is harmless.
    """

    tagger: object
    api: ModuleType
    address: Address
    description: str
    simulated: bool
    _closed: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def serial(self) -> str:
        return self.tagger.getSerial()

    @property
    def model(self) -> str:
        return self.tagger.getModel()

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Free the tagger (``freeTimeTagger``) exactly once."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        with _registry_lock:
            for serial, h in list(_registry.items()):
                if h is self:
                    del _registry[serial]
        try:
            self.api.freeTimeTagger(self.tagger)
        except Exception as e:  # freeing must not raise into a GUI's close path
            logger.warning("freeing the Time Tagger at %r failed: %s", self.address.text, e)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def open_tagger(address: str = "auto", *, sim_clock: str = "wall", sim_seed: int | None = None,
                sim_sources=None) -> TaggerHandle:
    """Open the Time Tagger at ``address`` (see :mod:`.address` for the syntax).

    ``sim_*`` apply when the simulator is used: clock ('wall'/'virtual'), seed, and the list of
    sources (None: the default bench). Raises :class:`AddressError` for a malformed address,
    :class:`VendorLibraryMissing` when a hardware address is given without the vendor library, and
    :class:`TaggerOpenError` when the device cannot be opened.
    """
    addr = parse_address(address)
    sim_kw = dict(clock=sim_clock, seed=sim_seed, sources=sim_sources)
    if addr.kind == "sim":
        return _open_simulator(addr, sim_kw, why="")
    if addr.kind == "auto":
        try:
            api = load_vendor_api()
        except VendorLibraryBroken as e:
            logger.warning("%s", e)
            return _open_simulator(addr, sim_kw, why=f"auto: {e}")
        except VendorLibraryMissing:
            return _open_simulator(addr, sim_kw, why="auto: the vendor library is not installed")
        try:
            serials = tuple(api.scanTimeTagger())
        except Exception as e:  # a broken driver must not hide the simulator from 'auto'
            logger.warning("scanTimeTagger failed: %s", e)
            serials = ()
        held = held_serials(simulated=False)
        if held and (not serials or serials[0] in held):
            # the vendor's scan does not list a tagger this process holds: that one is meant
            raise TaggerOpenError(f"auto: the Time Tagger {held[0]} is {ALREADY_OPEN} (auto does not "
                                  f"fall back to the simulator while this process holds a Time Tagger)")
        if not serials:
            return _open_simulator(addr, sim_kw, why="auto: no USB Time Tagger found")
        return _open_usb(addr, api, serials[0], "USB, found by auto")
    if addr.kind == "rpc":  # no local vendor library needed: the server has it
        return _open_rpc(addr)
    if addr.kind == "file":  # a recording, replayed by the simulator's engine
        return _open_replay(addr)
    api = load_vendor_api_for(addr)
    if addr.kind == "usb":
        return _open_usb(addr, api, addr.serial, "USB")
    if addr.kind == "net":
        tagger = _call_vendor(addr, api.createTimeTaggerNetwork, addr.network_address)
        return _hardware_handle(addr, api, tagger, f"Network Time Tagger at {addr.network_address}")
    raise AssertionError(f"unhandled address kind {addr.kind!r}")  # parse_address knows no other


def held_serials(*, simulated: bool | None = None) -> list[str]:
    """Serials of the taggers this process holds open (``simulated``: only those, or only hardware)."""
    with _registry_lock:
        return [s for s, h in _registry.items() if simulated is None or h.simulated == simulated]


def _refuse_if_held(addr: Address, serial: str) -> None:
    with _registry_lock:
        holder = _registry.get(serial)
    if holder is not None and not holder.closed:
        raise TaggerOpenError(f"cannot open the Time Tagger at {addr.text!r}: {serial} is {ALREADY_OPEN} "
                              f"(held as {holder.address.text!r})")


def _register(handle: "TaggerHandle", serial: str) -> "TaggerHandle":
    with _registry_lock:
        holder = _registry.get(serial)
        if holder is not None and not holder.closed:
            same_object = holder.tagger is handle.tagger
        else:
            _registry[serial] = handle
            return handle
    if not same_object:  # a distinct object for the same device: ours to free
        handle.close()
    raise TaggerOpenError(f"cannot open the Time Tagger at {handle.address.text!r}: {serial} is "
                          f"{ALREADY_OPEN} (held as {holder.address.text!r})")


def _open_usb(addr: Address, api, serial: str, how: str) -> "TaggerHandle":
    if serial:
        _refuse_if_held(addr, serial)
    held = held_serials(simulated=False)
    select_one_based_channels(api)
    try:
        tagger = api.createTimeTagger(serial)
    except Exception as e:
        hint = f" ({', '.join(held)} {ALREADY_OPEN})" if held and not serial else ""
        raise TaggerOpenError(f"cannot open the Time Tagger at {addr.text!r}: {e}{hint}") from e
    handle = _hardware_handle(addr, api, tagger, how)
    return _register(handle, handle.serial)


def vendor_version(api) -> tuple[int, ...] | None:
    """The vendor library's version as a tuple of ints (``getVersion()``), None if it cannot be read."""
    try:
        text = str(api.getVersion())
    except Exception:
        return None
    parts = []
    for p in text.split("."):
        digits = "".join(ch for ch in p if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts) or None


def select_one_based_channels(api) -> None:
    """Ask an older vendor library for one-based channel numbers (rising 1..N, falling -1..-N).

    Time Taggers delivered before mid-2018 numbered their inputs from 0 under older vendor software
    (vendor documentation, "Channel Number Schema 0 and 1"); those versions offer
    ``setTimeTaggerChannelNumberScheme(TT_CHANNEL_NUMBER_SCHEME_ONE)``. Since 2.22 the scheme is always
    one-based (wheel 2.22.6: ``getTimeTaggerChannelNumberScheme`` raises "not supported any more since
    software v2.22.0", and the ``TT_CHANNEL_NUMBER_SCHEME_*`` constants are gone): nothing to do.
    """
    one = getattr(api, "TT_CHANNEL_NUMBER_SCHEME_ONE", None)
    setter = getattr(api, "setTimeTaggerChannelNumberScheme", None)
    if one is None or setter is None:
        return
    try:
        setter(one)
    except Exception as e:
        logger.warning("could not select the one-based channel numbers: %s", e)


def check_channel_numbering(tagger) -> None:
    """Refuse a tagger whose channels are not numbered 1..N (rising) and -1..-N (falling)."""
    channels = list(tagger.getChannelList())
    if 0 in channels or not any(c < 0 for c in channels):
        raise TaggerOpenError(
            f"the {tagger.getModel()} numbers its inputs {sorted(channels)[:4]}...: the zero-based channel "
            f"scheme of Time Taggers delivered before mid-2018 under older vendor software, which this "
            f"package does not use. Install the vendor's software 2.22 or newer (pip install "
            f"\"pymodaq_plugins_timetagger[hardware]\"), or call TimeTagger.setTimeTaggerChannelNumberScheme("
            f"TimeTagger.TT_CHANNEL_NUMBER_SCHEME_ONE) before opening it")


def load_vendor_api_for(addr: Address) -> ModuleType:
    try:
        return load_vendor_api()
    except VendorLibraryMissing as e:
        raise VendorLibraryMissing(f"cannot open the Time Tagger at {addr.text!r}: {e}") from None


def _call_vendor(addr: Address, func, *args):
    try:
        return func(*args)
    except Exception as e:
        raise TaggerOpenError(f"cannot open the Time Tagger at {addr.text!r}: {e}") from e


def _hardware_handle(addr, api, tagger, how) -> TaggerHandle:
    try:
        desc = f"{tagger.getModel()} serial {tagger.getSerial()} ({how})"
        check_channel_numbering(tagger)
    except TaggerOpenError:
        api.freeTimeTagger(tagger)
        raise
    except Exception as e:
        api.freeTimeTagger(tagger)
        raise TaggerOpenError(f"the Time Tagger at {addr.text!r} opened but does not answer: {e}") from e
    version = vendor_version(api)
    if version is not None and version[:2] < SUPPORTED_VENDOR_VERSION:
        logger.warning("vendor library %s is older than %s, which this package is checked against: run "
                       "pymodaq-timetagger-selfcheck --address %s", ".".join(map(str, version)),
                       ".".join(map(str, SUPPORTED_VENDOR_VERSION)), addr.text)
    logger.info("opened %s", desc)
    return TaggerHandle(tagger, api, addr, desc, simulated=False)


def _open_rpc(addr: Address) -> TaggerHandle:
    """Open the tagger served by the TimeTaggerRPC server at ``addr`` (``rpc:host[:port]``)."""
    from .rpc import RpcLibraryMissing, open_rpc  # lazy: Pyro5 and TimeTaggerRPC only for rpc: addresses
    try:
        tagger, api = open_rpc(addr.host, addr.port)
    except RpcLibraryMissing as e:
        raise RpcLibraryMissing(f"cannot open the Time Tagger at {addr.text!r}: {e}") from None
    except TaggerError as e:
        raise TaggerOpenError(f"cannot open the Time Tagger at {addr.text!r}: {e}") from e
    simulated = is_simulated_api(api)
    try:
        desc = f"{tagger.getModel()} serial {tagger.getSerial()} (TimeTaggerRPC server at {api.address})"
    except Exception as e:
        api.close()
        raise TaggerOpenError(f"the Time Tagger at {addr.text!r} opened but does not answer: {e}") from e
    if simulated:
        desc = "SIMULATED " + desc
    logger.info("opened %s", desc)
    return TaggerHandle(tagger, api, addr, desc, simulated=simulated)


def _open_simulator(addr: Address, sim_kw, why: str) -> TaggerHandle:
    model = addr.model or simulator.DEFAULT_MODEL
    spec = simulator.MODELS[model]
    _refuse_if_held(addr, spec.serial)
    if addr.setup and sim_kw.get("sources") is None:
        sim_kw = dict(sim_kw, sources=SETUPS[addr.setup]())
    try:
        tagger = simulator.createTimeTagger(spec.serial, **sim_kw)
    except Exception as e:
        raise TaggerOpenError(f"cannot open the simulated Time Tagger at {addr.text!r}: {e}") from e
    desc = f"SIMULATED {spec.model} (no hardware; serial {spec.serial})"
    if addr.setup:
        desc += f" with the simulated {addr.setup} set-up"
    if why:
        desc += f" - {why}"
    logger.info("opened %s", desc)
    return _register(TaggerHandle(tagger, simulator, addr, desc, simulated=True), spec.serial)


def _open_replay(addr: Address) -> TaggerHandle:
    """Open the recording at ``addr`` (``file:PATH``) as a Time Tagger replaying it."""
    from ..recording.photon_hdf5 import read_recording  # lazy: h5py only for file: addresses
    from .simulator.replay import ReplayTimeTagger
    try:
        recording = read_recording(addr.path)
    except (ValueError, OSError, ImportError) as e:
        raise TaggerOpenError(f"cannot replay {addr.text!r}: {e}") from e
    tagger = ReplayTimeTagger(recording, clock="wall" if addr.paced else "virtual")
    desc = tagger.sim_description()
    logger.info("opened %s", desc)
    return TaggerHandle(tagger, simulator, addr, desc, simulated=recording.simulated)
