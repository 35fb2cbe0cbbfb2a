"""Open a Time Tagger from an address string: the vendor's library or the simulator, one entry point.

:func:`open_tagger` returns a :class:`TaggerHandle`: the open tagger, the module-like API it belongs
to (the vendor's ``TimeTagger`` module or :mod:`.simulator`, so measurement code writes
``handle.api.Correlation(handle.tagger, ...)`` for all of them; a TimeTaggerRPC server's proxy API for
``rpc:`` addresses) and a description in plain words that says
whether the tagger is SIMULATED. An explicit address that fails raises :class:`TaggerOpenError` with the
address and the vendor's message; only ``auto`` may choose the simulator.
"""
from __future__ import annotations

import importlib
import logging
import threading
from dataclasses import dataclass, field
from types import ModuleType

from . import simulator
from .address import Address, parse_address
from .errors import TaggerError, TaggerOpenError, VendorLibraryMissing

logger = logging.getLogger(__name__)

#: the import paths of the vendor library, tried in this order: the PyPI wheel, then the installer's
VENDOR_MODULES = ("Swabian.TimeTagger", "TimeTagger")


def load_vendor_api() -> ModuleType:
    """Import the vendor's ``TimeTagger`` module (wheel first, installer second).

    Raises :class:`VendorLibraryMissing` naming both import paths when neither is installed.
    """
    errors = []
    for name in VENDOR_MODULES:
        try:
            return importlib.import_module(name)
        except ImportError as e:
            errors.append(f"{name}: {e}")
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
        except VendorLibraryMissing:
            return _open_simulator(addr, sim_kw, why="auto: the vendor library is not installed")
        try:
            serials = tuple(api.scanTimeTagger())
        except Exception as e:  # a broken driver must not hide the simulator from 'auto'
            logger.warning("scanTimeTagger failed: %s", e)
            serials = ()
        if not serials:
            return _open_simulator(addr, sim_kw, why="auto: no USB Time Tagger found")
        tagger = _call_vendor(addr, api.createTimeTagger, serials[0])
        return _hardware_handle(addr, api, tagger, "USB, found by auto")
    if addr.kind == "rpc":  # no local vendor library needed: the server has it
        return _open_rpc(addr)
    api = load_vendor_api_for(addr)
    if addr.kind == "usb":
        tagger = _call_vendor(addr, api.createTimeTagger, addr.serial)
        return _hardware_handle(addr, api, tagger, "USB")
    if addr.kind == "net":
        tagger = _call_vendor(addr, api.createTimeTaggerNetwork, addr.network_address)
        return _hardware_handle(addr, api, tagger, f"Network Time Tagger at {addr.network_address}")
    raise AssertionError(f"unhandled address kind {addr.kind!r}")  # parse_address knows no other


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
    except Exception as e:
        api.freeTimeTagger(tagger)
        raise TaggerOpenError(f"the Time Tagger at {addr.text!r} opened but does not answer: {e}") from e
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
    try:
        tagger = simulator.createTimeTagger(spec.serial, **sim_kw)
    except Exception as e:
        raise TaggerOpenError(f"cannot open the simulated Time Tagger at {addr.text!r}: {e}") from e
    desc = f"SIMULATED {spec.model} (no hardware; serial {spec.serial})"
    if why:
        desc += f" - {why}"
    logger.info("opened %s", desc)
    return TaggerHandle(tagger, simulator, addr, desc, simulated=True)
