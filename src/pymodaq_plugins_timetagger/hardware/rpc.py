"""A Time Tagger served by a TimeTaggerRPC server (Swabian's Pyro5 remote API), used like a local one.

    tagger, api = open_rpc("192.168.1.20")          # TimeTaggerRPC-server listens on port 23000
    tagger.setTestSignal([1, 2], True)
    cr = api.Countrate(tagger, [1, 2])
    cr.startFor(int(1e12)); cr.waitUntilFinished(5000); print(cr.getData())
    api.freeTimeTagger(tagger)

``api`` is module-like (``Countrate``, ``Counter``, ``Correlation``, ``Histogram`` and every other
measurement or function the server exposes, ``freeTimeTagger``, ``scanTimeTagger``, ``getVersion``,
``CHANNEL_UNUSED`` and the server's enums such as ``ChannelEdge``), so the measurement code written for
the vendor's module runs unchanged. What differs from the local library, and how it is handled here:

* The server exposes no ``waitUntilFinished`` (TimeTaggerRPC excludes it: it would block a server
  thread). Measurements here provide it by polling ``isRunning()`` every :data:`WAIT_POLL_S`, with the
  vendor's signature and result (timeout in ms, -1 = forever; False on timeout).
* Every call has a communication timeout (Pyro5's COMMTIMEOUT, set per proxy as ``_pyroTimeout`` so the
  process-wide Pyro5 config is left alone): a dead or silent server raises :class:`RpcError` (a
  RuntimeError naming ``host:port``) instead of hanging. ``createTimeTagger`` gets the longer
  :data:`CREATE_TIMEOUT_S` (opening real hardware can take seconds).
* The server ties every object it creates to the connection of the call that created it, and frees them
  when that connection closes (``Pyro5.api.current_context.track_resource``; a tagger is freed, a
  measurement unregistered and dropped). There is no remote call to destroy one measurement. So each
  measurement is created over a connection of its own, kept open while the measurement lives; its
  ``__exit__`` closes that connection, which destroys it on the server. The tagger lives on the
  connection opened by :func:`open_rpc` until :meth:`RpcApi.freeTimeTagger` (or :meth:`RpcApi.close`);
  if this process dies, the server frees the tagger by itself.
* Pyro5 proxies belong to one thread; the wrappers here take a lock and claim the proxy for the calling
  thread, so a tagger opened in one thread can be used from another (one call at a time).
* Numpy arrays travel as NPY (TimeTaggerRPC's own encoding); numpy scalars and enums in arguments are
  sent as plain Python numbers.

Qt-free; Pyro5 and TimeTaggerRPC are imported only when a connection is opened.
"""
from __future__ import annotations

import enum
import logging
import math
import threading
import time
import weakref

from .address import RPC_PORT
from .conventions import CHANNEL_UNUSED, WAIT_ON_INDEFINITE_RETURNS  # CHANNEL_UNUSED: TimeTaggerRPC does not expose it
from .errors import TaggerError, TaggerOpenError, VendorLibraryMissing

logger = logging.getLogger(__name__)

#: the Pyro object id under which TimeTaggerRPC's server registers the library
LIBRARY_OBJECT_ID = "TimeTaggerRPC"
#: period of the ``isRunning()`` polling that stands in for ``waitUntilFinished``, s
WAIT_POLL_S = 0.01
#: communication timeout of the ``createTimeTagger`` call (hardware initialisation), s
CREATE_TIMEOUT_S = 30.0


class RpcLibraryMissing(VendorLibraryMissing):
    """The TimeTaggerRPC client (package ``timetaggerrpc``, with Pyro5) is not installed."""


class RpcError(TaggerError):
    """A call to the TimeTaggerRPC server failed for a reason other than the device's own refusal."""


def _import_rpc():
    try:
        import Pyro5.api
        import Pyro5.errors
        from TimeTaggerRPC import helper
    except ImportError as e:
        raise RpcLibraryMissing(f"the TimeTaggerRPC client is not installed ({e}); "
                                f"pip install timetaggerrpc") from e
    return Pyro5, helper


def _where(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _plain(value):
    """Arguments as the serializer knows them: proxies for wrappers, Python numbers for numpy scalars."""
    if isinstance(value, RpcObject):
        return value._proxy
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    item = getattr(value, "item", None)
    if item is not None and type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:
        return item()
    return value


def open_rpc(host: str, port: int = RPC_PORT, timeout_s: float = 5.0, *, serial: str = ""):
    """Connect to the TimeTaggerRPC server at ``host:port`` and open a Time Tagger there.

    Returns ``(tagger, api)``: the remote tagger and the module-like API to build measurements on it.
    ``serial``: which of the server's taggers ('' = the first one). ``timeout_s`` bounds every call
    (``createTimeTagger``: at least :data:`CREATE_TIMEOUT_S`).
    Raises :class:`RpcLibraryMissing` without ``timetaggerrpc``, :class:`~.errors.TaggerOpenError` (a
    RuntimeError naming host:port and the cause) when the server cannot be reached or opens no tagger.
    """
    if not isinstance(host, str) or not host.strip():
        raise ValueError(f"TimeTaggerRPC host must be a non-empty string, got {host!r}")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"TimeTaggerRPC port must be an integer in 1..65535, got {port!r}")
    timeout_s = float(timeout_s)
    if not (math.isfinite(timeout_s) and timeout_s > 0):
        raise ValueError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")
    pyro, helper = _import_rpc()
    api = RpcApi(host.strip(), port, timeout_s, pyro, helper)
    try:
        tagger = api.createTimeTagger(serial)
    except Exception as e:
        api.close()
        which = f"the Time Tagger {serial!r}" if serial else "a Time Tagger"
        raise TaggerOpenError(f"the TimeTaggerRPC server at {api.address} could not open {which}: "
                              f"{type(e).__name__}: {e}") from e
    return tagger, api


class RpcApi:
    """The TimeTaggerRPC server's library, shaped like the vendor's ``TimeTagger`` module.

    Created by :func:`open_rpc`. Attribute access falls back to any method the server exposes
    (measurement and virtual-channel constructors by their class names, library functions).
    """

    SIMULATED = False
    CHANNEL_UNUSED = CHANNEL_UNUSED

    def __init__(self, host: str, port: int, timeout_s: float, pyro, helper):
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self.address = _where(host, port)
        self._pyro = pyro
        self._uri = f"PYRO:{LIBRARY_OBJECT_ID}@{self.address}"
        self._lock = threading.RLock()
        self._taggers: list[RpcTagger] = []
        self._measurements: weakref.WeakSet = weakref.WeakSet()
        helper.register_numpy_handler()   # the same NPY/base64 encoding as the server's
        # the owner connection: the server frees what is created over it (the tagger) when it closes
        self._owner = self._library_proxy()
        try:
            definitions = self._invoke(self._owner, "enum_definitions", (), {}, what="library")
            self._methods = frozenset(self._owner._pyroMethods)
        except Exception as e:
            self._release(self._owner)
            cause = e.__cause__ if isinstance(e, RpcError) and e.__cause__ is not None else e
            raise TaggerOpenError(f"cannot reach the TimeTaggerRPC server at {self.address}: "
                                  f"{_cause(cause)}") from e
        for name, (enum_type, members) in dict(definitions).items():
            try:
                setattr(self, name, getattr(enum, enum_type)(name, [tuple(m) for m in members]))
            except Exception as e:  # an enum this Python cannot rebuild must not stop the connection
                logger.debug("TimeTaggerRPC enum %s not rebuilt: %s", name, e)
        try:
            self.server_library_version = str(self.getVersion()) if "getVersion" in self._methods else ""
        except Exception as e:
            logger.debug("getVersion over TimeTaggerRPC failed: %s", e)
            self.server_library_version = ""
        # our simulator served through TimeTaggerRPC (tests, demos) says so: the handle must not hide it
        self.SIMULATED = self.server_library_version.startswith("simulator")

    def __repr__(self):
        return f"<TimeTaggerRPC api at {self.address}>"

    # --- library --------------------------------------------------------------------------------
    def createTimeTagger(self, *args, **kwargs) -> RpcTagger:
        """Open a tagger on the server; it is freed when :meth:`freeTimeTagger` or :meth:`close` runs."""
        with self._lock:
            if self._owner is None:
                raise RpcError(f"the TimeTaggerRPC connection to {self.address} is closed")
            self._owner._pyroClaimOwnership()
            self._owner._pyroTimeout = max(self.timeout_s, CREATE_TIMEOUT_S)
            try:
                proxy = self._invoke(self._owner, "createTimeTagger", args, kwargs, what="library",
                                     wrap=False)
            finally:
                self._owner._pyroTimeout = self.timeout_s
            tagger = RpcTagger(self, proxy, "tagger")
            self._taggers.append(tagger)
            return tagger

    def freeTimeTagger(self, tagger) -> None:
        """Free ``tagger`` on the server and destroy its measurements; the last one closes the connection."""
        if not isinstance(tagger, RpcTagger) or tagger._api is not self:
            raise TypeError(f"freeTimeTagger: {tagger!r} is not a Time Tagger of the TimeTaggerRPC "
                            f"server at {self.address}")
        for m in list(self._measurements):
            if m._tagger is tagger:
                m._destroy()
        with self._lock:
            if tagger._closed:
                return
            try:
                if self._owner is not None:
                    self._invoke(self._owner, "freeTimeTagger", (tagger,), {}, what="library")
            finally:
                tagger._close_proxy()
                if tagger in self._taggers:
                    self._taggers.remove(tagger)
                if not self._taggers:
                    self.close()

    def close(self) -> None:
        """Destroy every measurement and close the owner connection (the server frees the taggers)."""
        for m in list(self._measurements):
            m._destroy()
        with self._lock:
            for t in self._taggers:
                t._close_proxy()
            self._taggers.clear()
            owner, self._owner = self._owner, None
            if owner is not None:
                self._release(owner)

    @property
    def closed(self) -> bool:
        return self._owner is None

    def Countrate(self, tagger, *args, **kwargs) -> RpcMeasurement:
        return self._create("Countrate", tagger, args, kwargs)

    def Counter(self, tagger, *args, **kwargs) -> RpcMeasurement:
        return self._create("Counter", tagger, args, kwargs)

    def Correlation(self, tagger, *args, **kwargs) -> RpcMeasurement:
        return self._create("Correlation", tagger, args, kwargs)

    def Histogram(self, tagger, *args, **kwargs) -> RpcMeasurement:
        return self._create("Histogram", tagger, args, kwargs)

    def scanTimeTagger(self):
        return self._function("scanTimeTagger")()

    def getVersion(self):
        return self._function("getVersion")()

    def __getattr__(self, name):
        if name.startswith("_") or "_methods" not in self.__dict__ or name not in self._methods:
            raise AttributeError(f"the TimeTaggerRPC server at {self.__dict__.get('address', '?')} "
                                 f"exposes no {name!r}")
        if name[:1].isupper():   # measurement / virtual channel constructors carry the class name
            def constructor(tagger, *args, **kwargs):
                return self._create(name, tagger, args, kwargs)
            constructor.__name__ = name
            return constructor
        return self._function(name)

    # --- internals ------------------------------------------------------------------------------
    def _function(self, name):
        """A library function, called over a short-lived connection.

        Not over the owner connection: a communication error closes the connection it happened on,
        and on the owner one that would free the tagger on the server.
        """
        def call(*args, **kwargs):
            proxy = self._library_proxy()
            try:
                return self._invoke(proxy, name, args, kwargs, what="library")
            finally:
                self._release(proxy)
        call.__name__ = name
        return call

    def _create(self, name, tagger, args, kwargs) -> RpcMeasurement:
        if not isinstance(tagger, RpcTagger):
            raise ValueError(f"{name}: a valid Time Tagger must be provided (a tagger of this "
                             f"TimeTaggerRPC server), got {tagger!r}")
        if tagger._api is not self or tagger._closed:
            raise ValueError(f"{name}: the Time Tagger {tagger!r} is freed or belongs to another server")
        creator = self._library_proxy()   # the new object lives as long as this connection
        try:
            proxy = self._invoke(creator, name, (tagger,) + tuple(args), kwargs, what="library",
                                 wrap=False)
        except BaseException:
            self._release(creator)
            raise
        m = RpcMeasurement(self, proxy, name, creator=creator, tagger=tagger)
        self._measurements.add(m)
        return m

    def _library_proxy(self):
        proxy = self._pyro.api.Proxy(self._uri)
        proxy._pyroTimeout = self.timeout_s
        return proxy

    def _release(self, proxy) -> None:
        try:
            proxy._pyroClaimOwnership()
            proxy._pyroRelease()
        except Exception as e:
            logger.debug("releasing a TimeTaggerRPC connection failed: %s", e)

    def _invoke(self, proxy, name, args, kwargs, *, what: str, wrap: bool = True):
        """Call ``name`` on ``proxy`` from this thread; Pyro failures become :class:`RpcError`."""
        errors = self._pyro.errors
        args = tuple(_plain(a) for a in args)
        kwargs = {k: _plain(v) for k, v in kwargs.items()}
        try:
            proxy._pyroClaimOwnership()
            result = getattr(proxy, name)(*args, **kwargs)
        except errors.CommunicationError as e:
            raise RpcError(f"TimeTaggerRPC server at {self.address}: {what}.{name}() failed: "
                           f"{_cause(e)}") from e
        except errors.PyroError as e:  # unknown object (freed on the server), serialization, ...
            raise RpcError(f"TimeTaggerRPC server at {self.address}: {what}.{name}() failed: "
                           f"{_cause(e)}") from e
        except AttributeError as e:
            if name not in getattr(proxy, "_pyroMethods", ()):
                raise RpcError(f"TimeTaggerRPC server at {self.address}: the remote {what} has no "
                               f"method {name!r}") from e
            raise
        if isinstance(result, self._pyro.api.Proxy):
            result._pyroTimeout = self.timeout_s
            if wrap:
                return RpcObject(self, result, name)
        return result


def _cause(e: BaseException) -> str:
    return f"{type(e).__module__}.{type(e).__name__}: {e}" if type(e).__module__.startswith("Pyro5") \
        else f"{type(e).__name__}: {e}"


class RpcObject:
    """A remote object of the TimeTaggerRPC server; its exposed methods are called like local ones."""

    def __init__(self, api: RpcApi, proxy, kind: str):
        self._api = api
        self._proxy = proxy
        self._kind = kind
        self._lock = threading.RLock()
        self._closed = False
        proxy._pyroTimeout = api.timeout_s

    def __repr__(self):
        state = " (closed)" if self._closed else ""
        return f"<TimeTaggerRPC {self._kind} {self._proxy._pyroUri}{state}>"

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._proxy._pyroMethods:
            raise AttributeError(f"the remote {self._kind} at {self._api.address} has no method {name!r}")

        def method(*args, **kwargs):
            return self._call(name, args, kwargs)
        method.__name__ = name
        return method

    def _call(self, name, args=(), kwargs=None):
        with self._lock:
            if self._closed:
                raise RpcError(f"the remote {self._kind} at {self._api.address} has been released")
            return self._api._invoke(self._proxy, name, args, kwargs or {}, what=self._kind)

    def _close_proxy(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._api._release(self._proxy)


class RpcTagger(RpcObject):
    """The remote Time Tagger (context manager: frees it on exit)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._api.freeTimeTagger(self)
        return False


class RpcMeasurement(RpcObject):
    """A remote measurement: the vendor's methods, plus a polling ``waitUntilFinished`` and ``__exit__``."""

    def __init__(self, api, proxy, kind, *, creator, tagger):
        super().__init__(api, proxy, kind)
        self._creator = creator
        self._tagger = tagger
        self._indefinite = True     # measurements start on construction, with no end

    def start(self) -> None:
        self._call("start")
        self._indefinite = True

    def startFor(self, capture_duration, clear=True) -> None:
        self._call("startFor", (capture_duration,), {"clear": clear})
        self._indefinite = False

    def waitUntilFinished(self, timeout=-1) -> bool:
        """Wait until the measurement stops (``startFor`` done); ``timeout`` in ms, -1 forever.

        Returns True once it is no longer running, False if ``timeout`` ms passed first. Each poll is a
        remote ``isRunning()``; a dead server raises :class:`RpcError` within the call timeout. On a
        measurement running indefinitely (no ``startFor`` since its last ``start``) it returns at once,
        as the vendor's does (``conventions.WAIT_ON_INDEFINITE_RETURNS``).
        """
        if self._indefinite and self._call("isRunning"):
            logger.warning("Cannot wait on a measurement that's set to run indefinitely. Skipping")
            return WAIT_ON_INDEFINITE_RETURNS
        timeout_ms = float(timeout)
        deadline = None if timeout_ms < 0 else time.perf_counter() + timeout_ms / 1000.0
        while True:
            if not self._call("isRunning"):
                return True
            if deadline is None:
                time.sleep(WAIT_POLL_S)
                continue
            left = deadline - time.perf_counter()  # fine-grained on Windows too
            if left <= 0:
                return False
            time.sleep(min(WAIT_POLL_S, left))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._destroy()
        return False

    def _destroy(self) -> None:
        """Stop, then close this measurement's connections: the server unregisters and drops it."""
        with self._lock:
            if self._closed:
                return
            try:
                self._api._invoke(self._proxy, "stop", (), {}, what=self._kind)
            except Exception as e:   # a dead server or a freed tagger: nothing left to stop
                logger.debug("stopping %r failed: %s", self, e)
            self._close_proxy()
            creator, self._creator = self._creator, None
            if creator is not None:
                self._api._release(creator)
