"""The standalone Time Tagger client of the bridge, for the PC the Time Tagger is plugged into.

It dials out to the TCPServer plugin on the main PC (so the Time Tagger's PC needs no open port),
identifies as a GRABBER, sends its settings (``Infos``, PyMoDAQ parameter XML written without Qt) and
``Info`` entries (serial, model, simulated or not, software version), then answers every
``Send Data xD`` with ``Done`` and one measurement integrated over exactly the set time. Settings edited
on the main PC arrive as ``set_info``; they are validated, applied and sent back as ``Info_xml``.

Robustness: it reconnects by itself (bounded exponential backoff) when the server is not there yet, goes
away, refuses it or fails in any way at the socket level (also while a reply is being sent); ``Quit`` from
the server ends it. A tagger error is reported to the server as an ``Info`` named ``error`` (and logged)
instead of data, and the next request tries again (reopening the tagger if needed); a refused ``set_info``
is reported as an ``Info`` named ``set_info_error`` (never ``error``: it answers no grab), followed by the
value still applied as ``Info_xml``. Settings whose reply could not fit a frame (``max_frame``) are refused.

Threads: a reader thread per connection parses the server's commands into a bounded queue, so ``Quit`` or a
lost link is seen while a window is being measured, and aborts it (:meth:`TaggerClient.interrupt`).
:func:`run_until_interrupted` serves in a worker thread so that the main thread only waits for Ctrl-C,
Ctrl-Break (SIGBREAK, Windows) or SIGTERM (POSIX): on Windows a blocking socket call cannot be interrupted
by Ctrl-C. Never imports Qt or PyMoDAQ's GUI stack.
"""
from __future__ import annotations

import dataclasses
import errno
import logging
import os
import queue
import select
import signal
import socket
import threading
import time
from dataclasses import replace

import numpy as np

from .. import __version__
from ..hardware.access import TaggerHandle, open_tagger
from ..hardware.errors import TaggerError
from ..hardware.inputs import configure_input
from .. import settings as declared
from ..runs import KINDS, AcquisitionAborted, Result, Run, SettingsError, make_run, make_settings
from . import auth, codec
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
#: a connection is given up (and made again) when a message from the server, once begun, is not complete
#: within this long, or a reply not sent (a 64 MiB reply needs > 2.2 MB/s), s; an idle server is fine
IO_TIMEOUT_S = 30.0
#: commands read from the server and not yet answered (more: the reader stops reading, TCP holds the rest)
COMMAND_QUEUE = 16
#: largest XML of one set_info (one parameter's XML is a few hundred bytes)
MAX_SET_INFO_BYTES = 1 << 20
#: bytes of a reply besides its float64 arrays (names, labels, units, metadata), upper estimate
REPLY_OVERHEAD_BYTES = 64 * 1024
#: the main thread looks for Ctrl-C / Ctrl-Break / SIGTERM this often while the worker serves, s
SIGNAL_POLL_S = 0.1
#: after a stop request the worker gets this long to abort the window and free the tagger, s
FREE_TIMEOUT_S = 10.0
#: Info names of the protocol: a failed grab (it answers that grab) and a refused set_info (it answers none)
INFO_ERROR, INFO_SET_INFO_ERROR = "error", "set_info_error"


# ------------------------------------------------------------------------------- settings <-> XML
def _fields_params(kind: str, settings) -> list[Param]:
    return [Param(**d) for d in declared.tree_params(kind, settings)]


def settings_tree(settings: dict, handle: TaggerHandle | None, address: str) -> Param:
    """The client's settings as a parameter tree (what the server mirrors under settings_client).

    One measurement: its settings at the top level. Several: one group per measurement.
    """
    device = handle.description if handle is not None else "not open"
    kinds = list(settings)
    if len(kinds) == 1:
        meas = _fields_params(kinds[0], settings[kinds[0]])
    else:
        meas = [Param(name=k, type="group", title=k.capitalize(), children=_fields_params(k, v))
                for k, v in settings.items()]
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
    value = declared.parse(name, raw)
    return replace(settings, **{name: value})


def reply_size(settings) -> tuple[str, int, int]:
    """(the field that sets the size, its value, upper estimate of the bytes of one reply frame).

    A reply carries one float64 array of ``n_bins``/``n_values`` points per channel (one when the
    measurement has no ``channels``) and an axis of as many points; a count rate one number per channel.
    """
    channels = len(getattr(settings, "channels", ()) or ()) or 1
    for name in ("n_bins", "n_values"):
        points = getattr(settings, name, None)
        if points is not None:
            return name, int(points), 8 * int(points) * (channels + 1) + REPLY_OVERHEAD_BYTES
    return "channels", channels, 8 * channels + REPLY_OVERHEAD_BYTES


def check_reply_fits(settings, max_frame: int, spell=lambda name: name) -> None:
    """SettingsError naming the setting (spelt by ``spell``) and the limit if one reply cannot fit in a frame."""
    name, value, size = reply_size(settings)
    if size <= max_frame:
        return
    per_point = (size - REPLY_OVERHEAD_BYTES) // max(value, 1)
    most = max((max_frame - REPLY_OVERHEAD_BYTES) // max(per_point, 1), 0)
    raise SettingsError(f"{spell(name)} {value}: a reply would be {size / 2**20:.1f} MiB, over the bridge's frame "
                        f"limit of {max_frame / 2**20:g} MiB; at most {most} with these settings")


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
    #: why the client is not connected (host unknown, refused, ...); '' when connected or not known yet
    waiting_reason: str = ""

    def state(self) -> str:
        """The status without the request count: what changes when something happens."""
        if self.connected:
            state = f"connected to {self.server}"
        else:
            state = f"waiting for {self.server}" + (f" ({self.waiting_reason})" if self.waiting_reason else "")
        err = f" | last error: {self.last_error}" if self.last_error else ""
        return f"[timetagger-client] {state}{err}"

    def line(self) -> str:
        state, sep, err = self.state().partition(" | last error: ")
        return f"{state} | requests served: {self.requests_served}{sep}{err}"


class QuitRequested(Exception):
    """The server asked the client to quit."""


class TaggerClient:
    """Serve one measurement of one Time Tagger to a PyMoDAQ TCP server."""

    def __init__(self, host: str, port: int, *, address: str = "auto", kind="countrate",
                 settings=None, protocol: str = PYMODAQ5, connect_timeout: float = 5.0,
                 backoff_max_s: float = BACKOFF_MAX_S, max_frame: int = codec.DEFAULT_MAX_FRAME,
                 on_status=None, sim_options: dict | None = None, test_signal: tuple[int, ...] = (),
                 secret: bytes | None = None):
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
        self.secret = auth.check_secret(secret)  # shared secret of the server (bridge/auth.py), or None
        self.status = ClientStatus(server=f"{host}:{port}")
        self._on_status = on_status or (lambda st: None)
        self.handle: TaggerHandle | None = None
        self.runs: dict[str, Run] = {}
        self._tagger_suspect = False
        for k in kinds:
            check_reply_fits(self.settings[k], self.max_frame)
        self._stop = threading.Event()
        self._interrupt = threading.Event()
        self._served = False
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
        """Connect, serve, reconnect until Quit or :meth:`shutdown`. Returns 0. Frees the tagger.

        Every failure (no server, refused, lost, an error while replying) is followed by a wait that doubles
        up to ``backoff_max_s``; the wait starts again from the shortest only after a connection on which
        the server sent a command (a server that closes at once is not hammered).
        """
        delay = BACKOFF_FIRST_S
        try:
            self.open_or_report()
            while not self._stop.is_set():
                sock = self._connect()
                if sock is not None:
                    self._served = False
                    try:
                        self._serve(sock)
                    except QuitRequested:
                        logger.info("the server asked the client to quit")
                        return 0
                    except OSError as e:  # replying, or the hello: the link failed
                        if not self._stop.is_set():
                            self._note(f"connection lost while sending: {e}")
                    except ProtocolError as e:  # set-up of the connection (before the reader thread)
                        self._note(f"the server's answer is not understood: {e}")
                    finally:
                        self._sock = None
                        close_quietly(sock)
                        self.status.connected = False
                        self._report()
                    if self._served:
                        delay = BACKOFF_FIRST_S
                if self._stop.is_set():
                    break
                self._stop.wait(delay)
                delay = min(delay * 2, self.backoff_max_s)
            return 0
        finally:
            self.close_tagger()

    def shutdown(self) -> None:
        """Stop serving (thread-safe, may be called repeatedly): the window under way is aborted, the
        connection closed and serve_forever returns."""
        self._stop.set()
        self.interrupt()
        close_quietly(self._sock)

    def interrupt(self) -> None:
        """Abort the window being measured, and any started before this connection or this request ends
        (thread-safe)."""
        self._interrupt.set()

    def _connect(self) -> socket.socket | None:
        """A connected socket, or None (the reason is in the status). Interruptible by :meth:`shutdown`
        within ``SIGNAL_POLL_S`` (a refused connection takes ~2 s on Windows)."""
        where = self.status.server
        try:
            addresses = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as e:
            self._waiting(f"host unknown ({e})")
            return None
        reason = "no address"
        for family, kind, proto, _, addr in addresses:
            sock = socket.socket(family, kind, proto)
            self._sock = sock
            err = _connect_interruptibly(sock, addr, self.connect_timeout, self._stop)
            if err == 0:
                sock.setblocking(True)
                sock.settimeout(IO_TIMEOUT_S)
                tune(sock)
                if self.secret is not None and not self._authenticate(sock):
                    self._sock = None
                    close_quietly(sock)
                    return None
                logger.info("connected to %s (%s)", where, self.protocol)
                return sock  # shown as connected once the server has not closed it at once (_serve)
            self._sock = None
            close_quietly(sock)
            if err is None:  # stopped
                return None
            reason = _connect_error_text(err)
        self._waiting(reason)
        return None

    def _waiting(self, reason: str) -> None:
        if reason != self.status.waiting_reason:
            logger.info("waiting for %s: %s", self.status.server, reason)
        self.status.waiting_reason = reason

    def _authenticate(self, sock: socket.socket) -> bool:
        """Answer the server's shared-secret challenge (bridge/auth.py); False (reason in the status) if
        it fails."""
        try:
            auth.answer_challenge(sock, self.secret, self.connect_timeout)
        except (auth.AuthError, OSError) as e:
            self._waiting(str(e))
            return False
        sock.settimeout(IO_TIMEOUT_S)
        return True
        self._report()

    def _serve(self, sock: socket.socket) -> None:
        reader = SocketReader(sock, message_timeout=IO_TIMEOUT_S)
        wire = Wire.for_dialect(self.protocol, reader, self.max_frame)
        self._interrupt.clear()
        sock.sendall(self._hello(wire))
        commands: queue.Queue = queue.Queue(COMMAND_QUEUE)
        done = threading.Event()
        reading = threading.Thread(target=self._read_commands, args=(wire, commands, done), daemon=True,
                                   name="timetagger-client-reader")
        reading.start()
        try:
            while not self._stop.is_set():
                try:
                    cmd, args = commands.get(timeout=SIGNAL_POLL_S)
                except queue.Empty:
                    self._show_connected()
                    continue
                if cmd is _LOST:
                    if not self._stop.is_set():
                        self._note(args)
                    return
                self._show_connected()
                if cmd in ("Quit", "Server Closed"):
                    raise QuitRequested()
                if cmd in SEND_DATA.values():
                    reply = self._answer(wire, cmd[-2:])
                elif cmd == "set_info":
                    reply = self._set_info(wire, *args)
                else:
                    logger.info("ignored the unknown command %r from the server", cmd[:60])
                    continue
                if reply:
                    sock.sendall(reply)
        finally:
            done.set()
            close_quietly(sock)
            reading.join(2 * SIGNAL_POLL_S)

    def _read_commands(self, wire: Wire, commands: queue.Queue, done: threading.Event) -> None:
        """Reader thread of one connection: the server's commands into ``commands``. Quit or a lost link
        also interrupt the window under way (its reply could not be delivered)."""
        reader = wire.reader
        while not done.is_set():
            try:
                try:
                    reader.wait_message(IO_TIMEOUT_S)
                except TimeoutError:
                    continue  # an idle server is fine
                cmd = wire.read_command()
                args = ()
                if cmd == "set_info":
                    path, xml = wire.read_path(), wire.read_string()
                    args = (path, xml if len(xml) <= MAX_SET_INFO_BYTES else len(xml))  # not kept in the queue
            except (EOFError, OSError) as e:
                item = (_LOST, self._lost_reason(e))
            except ProtocolError as e:
                item = (_LOST, f"the server sent something unreadable ({e})" if self._served else
                               f"not a PyMoDAQ server (it sent something unreadable: {e})")
            else:
                self._served = True
                item = (cmd, args)
            if item[0] is _LOST or item[0] in ("Quit", "Server Closed"):
                self.interrupt()
            while not done.is_set():
                try:
                    commands.put(item, timeout=SIGNAL_POLL_S)
                    break
                except queue.Full:
                    continue
            if item[0] is _LOST or item[0] in ("Quit", "Server Closed"):
                return

    def _show_connected(self) -> None:
        if not self.status.connected:
            self.status.connected = True
            self.status.waiting_reason = ""
            self._report()

    def _lost_reason(self, e: BaseException) -> str:
        if self._served or self.status.connected:
            return f"connection lost: {e}"
        logger.debug("closed by %s: %s", self.status.server, e)
        return (f"the server closed the connection at once: refused by its allowed clients, full, or not a "
                f"PyMoDAQ server")

    def _note(self, text: str) -> None:
        """A connection problem: logged once and shown as the reason of the wait that follows."""
        if text != self.status.waiting_reason:
            logger.info("%s: %s", self.status.server, text)
        self.status.waiting_reason = text

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
        """Measure one window and return the reply bytes ('Done' + data, or an 'Info' error; nothing when
        the window was interrupted: Quit, a lost link or a shutdown, nobody to answer)."""
        try:
            result = self._measure(self._kind_for(dim))
        except AcquisitionAborted as e:
            logger.info("%s", e)
            return b""
        except SettingsError as e:
            return wire.message("Info", INFO_ERROR, self._error(f"settings: {e}"))
        except (TaggerError, RuntimeError, ValueError, OSError) as e:
            self._tagger_suspect = True
            return wire.message("Info", INFO_ERROR, self._error(f"Time Tagger: {e}"))
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
        """One window of ``kind``; AcquisitionAborted when :meth:`interrupt` is called before or during it."""
        if not self.runs:  # the tagger could not be opened so far: try again now
            self.open()
            return self._acquire(kind)
        if not self._tagger_suspect:
            return self._acquire(kind)
        # the last request failed: the open tagger may be back; if not, open it again
        try:
            result = self._acquire(kind)
        except AcquisitionAborted:
            raise
        except (TaggerError, RuntimeError, OSError) as e:
            logger.info("reopening the Time Tagger after: %s", e)
            self.open()
            result = self._acquire(kind)
        self._tagger_suspect = False
        return result

    def _acquire(self, kind: str) -> Result:
        return self.runs[kind].acquire(stop=self._interrupt)

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
        check_reply_fits(new, self.max_frame)
        if kind in self.runs:
            self.runs[kind].update(new)
            new = self.runs[kind].settings
        self.settings[kind] = new
        logger.info("setting %s/%s = %r (from PyMoDAQ)", kind, name, getattr(new, name))
        return path

    def _set_info(self, wire: Wire, path: list[str], xml: str | int) -> bytes:
        """Apply a setting edited on the server; reply with its applied value (Info_xml), preceded by an
        Info 'set_info_error' when it was refused (the value shown is then the one still applied)."""
        path = self.edit_path(path)
        reply_error = b""
        try:
            if isinstance(xml, int):  # its size, see _read_commands
                raise SettingsError(f"a set_info of {xml} bytes (at most {MAX_SET_INFO_BYTES})")
            path = self.apply_edit(path, xml)
        except (SettingsError, ValueError) as e:
            reply_error = wire.message("Info", INFO_SET_INFO_ERROR,
                                       self._error(f"set_info {'/'.join(path)}: {e}"))
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


# ------------------------------------------------------------------------------- connecting
#: queued by the reader thread when the connection ends (with the reason)
_LOST = object()
_IN_PROGRESS = {errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY, getattr(errno, "WSAEWOULDBLOCK", -1)}


def _connect_interruptibly(sock: socket.socket, addr, timeout: float, stop: threading.Event) -> int | None:
    """Connect ``sock`` to ``addr``: 0, an errno, or None when ``stop`` was set meanwhile.

    A non-blocking connect watched in slices of SIGNAL_POLL_S: a blocking one cannot be cut short (on
    Windows a refused connection takes about 2 s, an unanswered one ``timeout``).
    """
    sock.setblocking(False)
    err = sock.connect_ex(addr)
    deadline = time.perf_counter() + timeout
    while err in _IN_PROGRESS:
        if stop.is_set():
            return None
        left = deadline - time.perf_counter()
        if left <= 0:
            return errno.ETIMEDOUT
        # Windows reports a failed connect in the exception set, POSIX as writable + SO_ERROR
        _, writable, failed = select.select([], [sock], [sock], min(left, SIGNAL_POLL_S))
        if writable or failed:
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    return err


def _connect_error_text(err: int) -> str:
    if err in (errno.ECONNREFUSED, getattr(errno, "WSAECONNREFUSED", -1)):
        return "connection refused: is the TCPServer plugin initialized, on this port?"
    if err in (errno.ETIMEDOUT, getattr(errno, "WSAETIMEDOUT", -1)):
        return "no answer (host down, or a firewall drops the connection)"
    return f"cannot connect: {errno.errorcode.get(err, err)} {_strerror(err)}"


def _strerror(err: int) -> str:
    try:
        return os.strerror(err)
    except (ValueError, OverflowError):
        return ""


# ------------------------------------------------------------------------------- main thread
def run_until_interrupted(server) -> int:
    """``server.serve_forever()`` in a worker thread until it returns or the user stops it; its exit code.

    The main thread only waits (in slices of SIGNAL_POLL_S) for Ctrl-C (SIGINT), Ctrl-Break or closing the
    console (SIGBREAK, Windows) and SIGTERM (POSIX): on Windows a blocking socket call is not interrupted by
    Ctrl-C, so none runs in the main thread. On the first of these, ``server.shutdown()`` aborts the window
    under way and the worker frees the tagger (within FREE_TIMEOUT_S); a second one exits at once. Call it
    from the main thread (signal handlers are installed there and restored on return).
    """
    outcome = {"code": 1}
    requested = threading.Event()

    def work():
        try:
            outcome["code"] = server.serve_forever()
        except Exception:
            logger.exception("the client stopped on an unexpected error")

    def on_signal(signum, frame):
        if requested.is_set():
            raise KeyboardInterrupt  # the second one: do not wait any more
        requested.set()

    previous = {}
    for name in ("SIGINT", "SIGTERM", "SIGBREAK"):
        sig = getattr(signal, name, None)
        if sig is not None:
            previous[sig] = signal.signal(sig, on_signal)
    worker = threading.Thread(target=work, name="timetagger-client", daemon=True)
    worker.start()
    try:
        while worker.is_alive() and not requested.is_set():
            worker.join(SIGNAL_POLL_S)
        if not worker.is_alive():
            return outcome["code"]
        logger.info("stopping: aborting the window under way and freeing the Time Tagger")
        deadline = time.perf_counter() + FREE_TIMEOUT_S
        while worker.is_alive() and time.perf_counter() < deadline:
            server.shutdown()
            worker.join(SIGNAL_POLL_S)
        if worker.is_alive():
            logger.error("the Time Tagger could not be freed within %g s; exiting anyway", FREE_TIMEOUT_S)
            return 1
        logger.info("interrupted: the Time Tagger is freed, bye")
        return 0
    except KeyboardInterrupt:
        logger.warning("interrupted twice: exiting without waiting for the Time Tagger to be freed")
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
