"""The standalone Time Tagger client of the bridge, for the PC the Time Tagger is plugged into.

It dials out to the TCPServer plugin on the main PC (so the Time Tagger's PC needs no open port),
identifies as a GRABBER, sends its settings (``Infos``, PyMoDAQ parameter XML written without Qt) and
``Info`` entries (serial, model, simulated or not, software version), then answers every
``Send Data xD`` with ``Done`` and one measurement integrated over exactly the set time. Settings edited
on the main PC arrive as ``set_info``; they are validated, applied and sent back as ``Info_xml``.

Robustness: it reconnects by itself (bounded exponential backoff) when the server is not there yet or
goes away; ``Quit`` from the server ends it; a tagger error is reported to the server as an ``Info``
named ``error`` (and logged) instead of data, and the next request tries again (reopening the tagger
if needed). Never imports Qt or PyMoDAQ's GUI stack.
"""
from __future__ import annotations

import dataclasses
import logging
import socket
import threading
from dataclasses import replace

import numpy as np

from .. import __version__
from ..hardware.access import TaggerHandle, open_tagger
from ..hardware.errors import TaggerError
from ..hardware.inputs import configure_input
from ..runs import KINDS, Result, Run, SettingsError, make_run, make_settings
from . import codec
from .codec import ProtocolError
from .net import SocketReader, close_quietly, tune
from .paramxml import Param, from_xml_string, to_xml_string
from .wire import CLASSIC, PYMODAQ5, SEND_DATA, Wire

logger = logging.getLogger(__name__)

#: reconnection delays grow from the first to the last value (s), doubling
BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 5.0
#: settings fields that describe the client and cannot be changed from the server
READONLY_FIELDS = ("address", "device", "measurement")


# ------------------------------------------------------------------------------- settings <-> XML
def _param_type(value) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return "str"


def _to_param_value(value):
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return value


#: the data dimension each measurement answers with (which 'Send Data xD' it serves)
DIM_OF = {"countrate": "0D", "correlation": "1D", "counter": "1D", "histogram": "1D"}


def _fields_params(settings) -> list[Param]:
    return [Param(name=f.name, type=_param_type(_to_param_value(getattr(settings, f.name))),
                  value=_to_param_value(getattr(settings, f.name)), title=f.name)
            for f in dataclasses.fields(settings)]


def settings_tree(settings: dict, handle: TaggerHandle | None, address: str) -> Param:
    """The client's settings as a parameter tree (what the server mirrors under settings_client).

    One measurement: its settings at the top level. Several: one group per measurement.
    """
    device = handle.description if handle is not None else "not open"
    kinds = list(settings)
    if len(kinds) == 1:
        meas = _fields_params(settings[kinds[0]])
    else:
        meas = [Param(name=k, type="group", title=k, children=_fields_params(v)) for k, v in settings.items()]
    return Param(name="settings", type="group", title="Settings", children=[
        Param(name="address", type="str", value=address, title="Tagger address", readonly=True),
        Param(name="device", type="str", value=device, title="Device", readonly=True),
        Param(name="measurement", type="str", value=",".join(kinds), title="Measurement", readonly=True),
        *meas,
    ])


def apply_setting(settings, name: str, raw):
    """New settings with ``name`` set from a (string or typed) value; SettingsError names the field."""
    names = {f.name: f for f in dataclasses.fields(settings)}
    if name in READONLY_FIELDS:
        raise SettingsError(f"{name} is fixed on the client (restart it with another --{name})")
    if name not in names:
        raise SettingsError(f"unknown setting {name!r}; settings: {', '.join(names)}")
    current = getattr(settings, name)
    try:
        if isinstance(current, tuple):
            text = raw if isinstance(raw, str) else ",".join(str(v) for v in raw)
            value = tuple(int(v) for v in text.replace(" ", "").split(",") if v)
        elif isinstance(current, bool):
            value = raw if isinstance(raw, bool) else str(raw).strip().lower() in ("1", "true", "yes", "on")
        elif isinstance(current, int):
            value = int(float(raw)) if float(raw).is_integer() else float(raw)
        elif isinstance(current, float):
            value = float(raw)
        else:
            value = str(raw)
    except (TypeError, ValueError):
        raise SettingsError(f"{name}: {raw!r} is not a valid value") from None
    return replace(settings, **{name: value})


# ------------------------------------------------------------------------------- results -> wire
def result_to_wire(result: Result) -> codec.DataToExport:
    """A runs Result (+ companions) as the codec's DataToExport (DataRaw: every PyMoDAQ 5 reads it)."""
    return codec.DataToExport(name=result.name, data=[_dwa(r) for r in [result, *result.companions]])


def _dwa(r: Result) -> codec.DataWithAxes:
    axes = []
    if r.axis is not None:
        axes = [codec.Axis(label=r.axis.label, units=r.axis.units,
                           data=np.asarray(r.axis.values, dtype=float), index=0)]
    extra = {k: v for k, v in r.metadata.items() if isinstance(v, (bool, int, float, str))}
    return codec.DataWithAxes(name=r.name, data=[np.asarray(d, dtype=float) for d in r.data], dim=r.dim,
                              units=r.units, labels=list(r.labels), axes=axes, extra=extra,
                              type_name="DataRaw")


# ------------------------------------------------------------------------------- the client
@dataclasses.dataclass
class ClientStatus:
    server: str = ""
    connected: bool = False
    requests_served: int = 0
    last_error: str = ""

    def line(self) -> str:
        state = f"connected to {self.server}" if self.connected else f"waiting for {self.server}"
        err = f" | last error: {self.last_error}" if self.last_error else ""
        return f"[timetagger-client] {state} | requests served: {self.requests_served}{err}"


class QuitRequested(Exception):
    """The server asked the client to quit."""


class TaggerClient:
    """Serve one measurement of one Time Tagger to a PyMoDAQ TCP server."""

    def __init__(self, host: str, port: int, *, address: str = "auto", kind="countrate",
                 settings=None, protocol: str = PYMODAQ5, connect_timeout: float = 5.0,
                 backoff_max_s: float = BACKOFF_MAX_S, max_frame: int = codec.DEFAULT_MAX_FRAME,
                 on_status=None, sim_options: dict | None = None, test_signal: tuple[int, ...] = ()):
        kinds = [kind] if isinstance(kind, str) else list(kind)
        for k in kinds:
            if k not in KINDS:
                raise SettingsError(f"unknown measurement {k!r}; known: {', '.join(KINDS)}")
        if not kinds or len(set(kinds)) != len(kinds):
            raise SettingsError(f"give each measurement once, got {kinds}")
        if protocol not in (PYMODAQ5, CLASSIC):
            raise ValueError(f"protocol must be {PYMODAQ5!r} or {CLASSIC!r}, got {protocol!r}")
        self.host, self.port = host, int(port)
        self.address = address
        self.kinds = kinds
        if settings is None:
            settings = {}
        elif not isinstance(settings, dict):
            settings = {kinds[0]: settings}
        self.settings = {k: settings.get(k) or make_settings(k) for k in kinds}
        self.protocol = protocol
        self.connect_timeout = connect_timeout
        self.backoff_max_s = backoff_max_s
        self.max_frame = max_frame
        self.sim_options = sim_options or {}
        self.test_signal = tuple(test_signal)
        self.status = ClientStatus(server=f"{host}:{port}")
        self._on_status = on_status or (lambda st: None)
        self.handle: TaggerHandle | None = None
        self.runs: dict[str, Run] = {}
        self._tagger_suspect = False
        self._stop = threading.Event()
        self._sock: socket.socket | None = None

    # ------------------------------------------------------------------ tagger
    def open(self) -> None:
        """Open the tagger and build the measurement (errors are raised, naming the address)."""
        self.close_tagger()
        self.handle = open_tagger(self.address, **self.sim_options)
        try:
            for c in self.test_signal:
                configure_input(self.handle.tagger, c, test_signal=True)
            for k in self.kinds:
                self.runs[k] = make_run(self.handle, k, self.settings[k])
        except Exception:
            self.close_tagger()
            raise
        self.settings = {k: r.settings for k, r in self.runs.items()}
        self._tagger_suspect = False
        logger.info("tagger: %s; measurements %s", self.handle.description, ", ".join(self.kinds))

    def close_tagger(self) -> None:
        for run in self.runs.values():
            try:
                run.close()
            except Exception as e:
                logger.debug("closing the measurement: %s", e)
        self.runs = {}
        if self.handle is not None:
            self.handle.close()
            self.handle = None

    def open_or_report(self) -> None:
        """Open the tagger if it is not open; a failure is reported (status, log), not raised: every
        request tries again."""
        if self.handle is None:
            try:
                self.open()
            except (TaggerError, ValueError, RuntimeError) as e:
                self._error(f"cannot open the Time Tagger: {e}")

    # ------------------------------------------------------------------ main loop
    def serve_forever(self) -> int:
        """Connect, serve, reconnect until Quit or :meth:`shutdown`. Returns 0. Frees the tagger."""
        delay = BACKOFF_FIRST_S
        try:
            self.open_or_report()
            while not self._stop.is_set():
                sock = self._connect()
                if sock is None:
                    self._stop.wait(delay)
                    delay = min(delay * 2, self.backoff_max_s)
                    continue
                delay = BACKOFF_FIRST_S
                try:
                    self._serve(sock)
                except QuitRequested:
                    logger.info("the server asked the client to quit")
                    return 0
                finally:
                    self._sock = None
                    close_quietly(sock)
                    self.status.connected = False
                    self._report()
            return 0
        finally:
            self.close_tagger()

    def shutdown(self) -> None:
        """Stop serving (from another thread): the connection is closed and serve_forever returns."""
        self._stop.set()
        close_quietly(self._sock)

    def _connect(self) -> socket.socket | None:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except OSError as e:
            logger.debug("connecting to %s:%d: %s", self.host, self.port, e)
            return None
        tune(sock)
        self._sock = sock
        self.status.connected = True
        logger.info("connected to %s:%d (%s)", self.host, self.port, self.protocol)
        self._report()
        return sock

    def _serve(self, sock: socket.socket) -> None:
        reader = SocketReader(sock, message_timeout=30.0)
        wire = Wire.for_dialect(self.protocol, reader, self.max_frame)
        sock.sendall(self._hello(wire))
        while not self._stop.is_set():
            try:
                reader.wait_message(None)
                cmd = wire.read_command()
            except (EOFError, OSError) as e:
                logger.info("connection to %s:%d lost: %s", self.host, self.port, e)
                return
            except ProtocolError as e:
                self._error(f"the server sent something unreadable ({e}); reconnecting")
                return
            if cmd in SEND_DATA.values():
                sock.sendall(self._answer(wire, cmd[-2:]))
            elif cmd == "set_info":
                try:
                    path, xml = wire.read_path(), wire.read_string()
                except (EOFError, OSError, ProtocolError) as e:
                    self._error(f"incomplete set_info from the server: {e}")
                    return
                sock.sendall(self._set_info(wire, path, xml))
            elif cmd in ("Quit", "Server Closed"):
                raise QuitRequested()
            else:
                logger.info("ignored the unknown command %r from the server", cmd[:60])

    # ------------------------------------------------------------------ messages
    def _hello(self, wire: Wire) -> bytes:
        parts = [wire.message("GRABBER"),
                 wire.message("Infos", to_xml_string(settings_tree(self.settings, self.handle,
                                                                   self.address)))]
        for name, value in self._infos().items():
            parts.append(wire.message("Info", name, value))
        return b"".join(parts)

    def _infos(self) -> dict[str, str]:
        h = self.handle
        info = {"name": f"TimeTagger {'+'.join(self.kinds)}",
                "software": f"pymodaq_plugins_timetagger {__version__}", "measurement": ",".join(self.kinds)}
        if h is not None:
            info.update(device=h.description, serial=str(h.serial), model=str(h.model),
                        simulated=str(bool(h.simulated)))
        return info

    def _kind_for(self, dim: str) -> str:
        """The measurement that answers 'Send Data <dim>' (the only one, or the one of that dim)."""
        if len(self.kinds) == 1:
            return self.kinds[0]
        for k in self.kinds:
            if DIM_OF[k] == dim:
                return k
        raise SettingsError(f"no {dim} measurement on this client (it serves {', '.join(self.kinds)})")

    def _answer(self, wire: Wire, dim: str) -> bytes:
        """Measure one window and return the reply bytes ('Done' + data, or an 'Info' error)."""
        try:
            result = self._measure(self._kind_for(dim))
        except SettingsError as e:
            return wire.message("Info", "error", self._error(f"settings: {e}"))
        except (TaggerError, RuntimeError, ValueError, OSError) as e:
            self._tagger_suspect = True
            return wire.message("Info", "error", self._error(f"Time Tagger: {e}"))
        self.status.requests_served += 1
        if self.status.last_error:
            self.status.last_error = ""
        self._report()
        if wire.name == CLASSIC:
            parts = []
            if result.axis is not None:
                parts.append(wire.message("x_axis", np.asarray(result.axis.values, dtype=float),
                                          result.axis.label, result.axis.units))
            parts.append(wire.message("Done", [np.asarray(d, dtype=float) for d in result.data]))
            return b"".join(parts)
        return wire.message("Done", result_to_wire(result))

    def _measure(self, kind: str) -> Result:
        if not self.runs:  # the tagger could not be opened so far: try again now
            self.open()
            return self.runs[kind].acquire()
        if not self._tagger_suspect:
            return self.runs[kind].acquire()
        # the last request failed: the open tagger may be back; if not, open it again
        try:
            result = self.runs[kind].acquire()
        except (TaggerError, RuntimeError, OSError) as e:
            logger.info("reopening the Time Tagger after: %s", e)
            self.open()
            result = self.runs[kind].acquire()
        self._tagger_suspect = False
        return result

    @staticmethod
    def edit_path(path: list[str]) -> list[str]:
        """A setting's path as PyMoDAQ sends it, made relative to the client's settings tree.

        PyMoDAQ 5.0/5.1 servers prefix it with 'settings_client'; ours and LECO directors send it
        relative to the root; either may carry the root's name.
        """
        return [p for p in path if p not in ("settings", "settings_client")]

    def apply_edit(self, path: list[str], xml) -> list[str]:
        """Apply a setting edited on the PyMoDAQ side (its XML); return its path in the settings tree.

        Raises SettingsError or ValueError naming the setting when the value is refused.
        """
        param = from_xml_string(xml)
        name = param.name or (path[-1] if path else "")
        path = path or [name]
        kind = path[0] if len(path) > 1 and path[0] in self.kinds else self._kind_with(name)
        new = apply_setting(self.settings[kind], name, param.value)
        if kind in self.runs:
            self.runs[kind].update(new)
            new = self.runs[kind].settings
        self.settings[kind] = new
        logger.info("setting %s/%s = %r (from PyMoDAQ)", kind, name, getattr(new, name))
        return path

    def _set_info(self, wire: Wire, path: list[str], xml: str) -> bytes:
        """Apply a setting edited on the server; reply with its applied value (Info_xml)."""
        path = self.edit_path(path)
        reply_error = b""
        try:
            path = self.apply_edit(path, xml)
        except (SettingsError, ValueError) as e:
            reply_error = wire.message("Info", "error", self._error(f"set_info {'/'.join(path)}: {e}"))
        tree = settings_tree(self.settings, self.handle, self.address)
        try:
            applied = tree.child(*path) if path else None
        except KeyError:
            applied = None
        if applied is None:
            return reply_error
        # Info_xml paths start with the root's name: PyMoDAQ's servers drop path[0]
        return reply_error + wire.message("Info_xml", [tree.name, *path], to_xml_string(applied))

    def _kind_with(self, name: str) -> str:
        for k in self.kinds:
            if name in {f.name for f in dataclasses.fields(self.settings[k])}:
                return k
        raise SettingsError(f"unknown setting {name!r}")

    # ------------------------------------------------------------------ status
    def _error(self, text: str) -> str:
        logger.error(text)
        self.status.last_error = text
        self._report()
        return text

    def _report(self) -> None:
        self._on_status(self.status)
