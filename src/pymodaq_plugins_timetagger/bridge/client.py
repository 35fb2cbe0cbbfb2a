"""The TCP link of the remote side: dial out to a PyMoDAQ TCP server and serve a :class:`Responder` on it.

``pymodaq-timetagger-client`` runs it on the PC the Time Tagger is plugged into, with a
:class:`~.service.MeasurementService` as responder; a viewer plugin can serve its own measurement through the
same link with another responder (issue 13). The link dials out to the TCPServer plugin on the main PC (so the
remote PC needs no open port), answers the shared-secret challenge if there is one (:mod:`.auth`), identifies
as a GRABBER, sends the responder's settings (``Infos``, PyMoDAQ parameter XML written without Qt) and its
``Info`` entries, then answers every ``Send Data xD`` with ``Done`` and the responder's data; a ``set_info``
is applied by the responder and the value applied is sent back as ``Info_xml``.

The Responder protocol (what the link calls, all from the link's own thread)::

    answer(dim: str, stop) -> data_model.DataToExport
        one measurement for 'Send Data <dim>' ('0D', '1D', '2D'); raise AcquisitionAborted when ``stop`` is
        set (Quit, lost link, stop(): nothing is sent), a TaggerError when it failed (its
        text is sent as Info 'error' and shown in the status). ``stop`` has threading.Event's ``is_set()``
        and ``wait(timeout)``; asking it is what finds a Quit or a lost link (see Threads below): ask it
        every few tens of ms during a long window.
    apply_edit(path: list[str], xml: str) -> tuple[list[str], str]
        apply one edited setting (``path`` as the server sent it, may start with 'settings_client'); return
        ([root, *path], XML of the value actually applied); raise SettingsError (a TaggerError) naming the
        setting when refused.
    applied_xml(path: list[str]) -> tuple[list[str], str] | None
        the value still applied at ``path`` (sent back after a refusal); None if there is no such setting.
    settings_xml() -> str
        the whole settings tree (parameter XML), sent as Infos at each connection.
    infos() -> dict[str, str]
        name/value entries sent as Info at each connection (device, serial, software...).

Besides serving, the owner may push, from any thread: :meth:`TaggerClient.push_info_xml` (a setting changed
locally: the server's mirror follows), :meth:`TaggerClient.push_info`, :meth:`TaggerClient.push_settings`
(the tree changed shape); they are sent by the link's thread in order, dropped while not connected (the
next connection sends the whole tree anyway). Run it with :meth:`TaggerClient.start` (its own thread) and
end it with :meth:`TaggerClient.stop` (or ``Quit`` from the server), or :meth:`TaggerClient.serve_forever`
in a thread of yours and :meth:`TaggerClient.shutdown`. ``on_status(status)`` reports every change of the
link's :class:`~.service.ClientStatus` (waiting for / connected to / last error / requests served).

Robustness: it reconnects by itself (bounded exponential backoff) when the server is not there yet, goes
away, refuses it or fails in any way at the socket level (also while a reply is being sent); ``Quit`` from
the server ends it. A failed answer is reported to the server as an ``Info`` named ``error`` (and logged)
instead of data; a refused ``set_info`` is reported as an ``Info`` named ``set_info_error`` (never ``error``:
it answers no grab), followed by the value still applied as ``Info_xml``.

Threads: the link's thread reads the server's commands itself (no hand-over between threads on the way from a
command to its answer), waiting for them between answers, polling first when they come within ``SPIN_MAX_S`` of the
previous reply (net.spin_for, as the server does for replies). While an answer is measured, the ``stop`` event given
to ``answer`` looks at the socket whenever it is asked (without waiting): a ``Quit`` or a lost link found there sets
it, and aborts the window; the other commands found then wait their turn (at most COMMAND_QUEUE + 1).
:func:`run_until_interrupted` serves in a worker thread so that the main thread only waits for Ctrl-C,
Ctrl-Break (SIGBREAK, Windows) or SIGTERM (POSIX): on Windows a blocking socket call cannot be interrupted
by Ctrl-C. Never imports Qt or PyMoDAQ's GUI stack.
"""
from __future__ import annotations

import collections
import errno
import logging
import os
import queue
import select
import signal
import socket
import threading
import time
from typing import Protocol

import numpy as np

from ..hardware.errors import AcquisitionAborted, SettingsError, TaggerError
from ..protocol import auth
from .. import data_model
from ..protocol.codec import DEFAULT_MAX_FRAME
from ..data_model import ProtocolError
from ..protocol.net import SocketReader, WouldWait, close_quietly, send_all, spin_for, tune
from .service import ClientStatus, MeasurementService, edit_path
from ..protocol.dialects import CLASSIC, DIALECTS, PYMODAQ5
from ..protocol.wire import SEND_DATA, Wire

logger = logging.getLogger(__name__)

#: reconnection delays grow from the first to the last value (s), doubling
BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 5.0
#: a connection is given up (and made again) when a message from the server, once begun, is not complete
#: within this long, or a reply not sent (a 64 MiB reply needs > 2.2 MB/s), s; an idle server is fine
IO_TIMEOUT_S = 30.0
#: commands read from the server during an answer and not handled yet, plus one read beyond them (a Quit or a lost
#: link right behind a full queue is still seen); more are left in the socket, TCP holds the rest
COMMAND_QUEUE = 16
#: an answer's ``stop.wait(t)`` looks at the socket this often (a Quit or a lost link is seen within it), s
LOOK_SLICE_S = 0.05
#: largest XML of one set_info (one parameter's XML is a few hundred bytes)
MAX_SET_INFO_BYTES = 1 << 20
#: the main thread looks for Ctrl-C / Ctrl-Break / SIGTERM this often while the worker serves, s
SIGNAL_POLL_S = 0.1
#: after a stop request the worker gets this long to abort the window and free the tagger, s
FREE_TIMEOUT_S = 10.0
#: Info names of the protocol: a failed grab (it answers that grab) and a refused set_info (it answers none)
INFO_ERROR, INFO_SET_INFO_ERROR = "error", "set_info_error"
#: messages pushed by the owner (push_info_xml...) and not yet sent; more are dropped (logged)
PUSH_QUEUE = 64


class Responder(Protocol):
    """What the link serves (see the module documentation)."""

    def answer(self, dim: str, stop: "_AnswerStop") -> data_model.DataToExport: ...

    def apply_edit(self, path: list[str], xml: str) -> tuple[list[str], str]: ...

    def applied_xml(self, path: list[str]) -> tuple[list[str], str] | None: ...

    def settings_xml(self) -> str: ...

    def infos(self) -> dict[str, str]: ...


class QuitRequested(Exception):
    """The server asked the client to quit."""


class TaggerClient:
    """The TCP link: serve ``responder`` (a :class:`Responder`) to the PyMoDAQ TCP server at host:port.

    Without a responder, a :class:`~.service.MeasurementService` is made of ``address``, ``kind``,
    ``settings``, ``sim_options`` and ``test_signal`` (the standalone client): the link then opens its tagger
    when it starts and frees it when it ends. ``on_status(status)`` is called on every change of
    :attr:`status`.
    """

    def __init__(self, host: str, port: int, *, responder: Responder | None = None, address: str = "auto",
                 kind="countrate", settings=None, protocol: str = PYMODAQ5, connect_timeout: float = 5.0,
                 backoff_max_s: float = BACKOFF_MAX_S, max_frame: int = DEFAULT_MAX_FRAME,
                 on_status=None, sim_options: dict | None = None, test_signal: tuple[int, ...] = (),
                 secret: bytes | None = None):
        if protocol not in DIALECTS:
            raise ValueError(f"protocol must be one of {', '.join(DIALECTS)}, got {protocol!r}")
        self.host, self.port = host, int(port)
        self.protocol = protocol
        self.connect_timeout = connect_timeout
        self.backoff_max_s = backoff_max_s
        self.max_frame = max_frame
        self.secret = auth.check_secret(secret)  # shared secret of the server (bridge/auth.py), or None
        self._on_status = on_status or (lambda st: None)
        self.service: MeasurementService | None = None
        if responder is None:
            self.service = MeasurementService(address, kind, settings, max_frame=max_frame,
                                              sim_options=sim_options, test_signal=test_signal,
                                              on_status=self._on_status)
            responder = self.service
            self.status = self.service.status  # one status: the link's state and the service's errors
        else:
            self.status = ClientStatus()
        self.status.server = f"{host}:{port}"
        self.responder = responder
        self._stop = threading.Event()
        self._interrupt = threading.Event()
        self._served = False
        self._sock: socket.socket | None = None
        self._pushes: queue.Queue = queue.Queue(PUSH_QUEUE)
        self._connected = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def handle(self):
        """The open tagger of the standalone client's service (None when closed, or with another responder)."""
        return self.service.handle if self.service is not None else None

    # ------------------------------------------------------------------ running it
    def start(self) -> threading.Thread:
        """Serve in a thread of its own (daemon); :meth:`stop` ends it."""
        self._thread = threading.Thread(target=self.serve_forever, name="timetagger-link", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = FREE_TIMEOUT_S) -> bool:
        """:meth:`shutdown` and wait up to ``timeout`` for the thread of :meth:`start`; True if it ended."""
        self.shutdown()
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    # ------------------------------------------------------------------ pushing (any thread)
    def push_info_xml(self, path: list[str], xml: str) -> None:
        """A setting changed locally: send its path ([root, *path]) and XML (the server's mirror follows)."""
        self._push("Info_xml", list(path), xml)

    def push_info(self, name: str, value: str) -> None:
        self._push("Info", str(name), str(value))

    def push_settings(self) -> None:
        """The whole settings tree again (``Infos``), e.g. when it changed shape."""
        self._push("Infos")

    def _push(self, *item) -> None:
        if not self._connected.is_set():
            return  # the next connection sends the whole tree
        try:
            self._pushes.put_nowait(item)
        except queue.Full:
            logger.warning("%d messages wait to be sent: %s dropped", PUSH_QUEUE, item[0])

    def _pushed(self, wire: Wire) -> bytes:
        parts = []
        while True:
            try:
                cmd, *args = self._pushes.get_nowait()
            except queue.Empty:
                return b"".join(parts)
            if cmd == "Infos":
                args = [self.responder.settings_xml()]
            parts.append(wire.message(cmd, *args))

    # ------------------------------------------------------------------ main loop
    def serve_forever(self) -> int:
        """Connect, serve, reconnect until Quit or :meth:`shutdown`. Returns 0. Frees the tagger (own service).

        Every failure (no server, refused, lost, an error while replying) is followed by a wait that doubles
        up to ``backoff_max_s``; the wait starts again from the shortest only after a connection on which
        the server sent a command (a server that closes at once is not hammered).
        """
        delay = BACKOFF_FIRST_S
        try:
            if self.service is not None:
                self.service.open_or_report()
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
            self._connected.clear()
            if self.service is not None:
                self.service.close()

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
        """Not connected, and why: logged and reported (on_status) when the reason changes."""
        if reason != self.status.waiting_reason:
            logger.info("waiting for %s: %s", self.status.server, reason)
            self.status.waiting_reason = reason
            self._report()

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

    def _serve(self, sock: socket.socket) -> None:
        # a command of any size is read during an answer once it is all here: a Quit behind a long one must be seen
        reader = SocketReader(sock, message_timeout=IO_TIMEOUT_S, nowait_limit=False)
        wire = Wire.for_dialect(self.protocol, reader, self.max_frame)
        self._interrupt.clear()
        send_all(sock, self._hello(wire), IO_TIMEOUT_S)
        self._connected.set()
        commands = _Commands(self, wire)
        try:
            while not self._stop.is_set():
                item = commands.next(SIGNAL_POLL_S)
                if item is None:  # an idle server is fine
                    self._show_connected()
                    pushed = self._pushed(wire)
                    if pushed:
                        send_all(sock, pushed, IO_TIMEOUT_S)
                    continue
                cmd, args = item
                if cmd is _LOST:
                    if not self._stop.is_set():
                        self._note(args)
                    return
                self._show_connected()
                if cmd in ("Quit", "Server Closed"):
                    raise QuitRequested()
                if cmd in SEND_DATA.values():
                    reply = self._answer(wire, cmd[-2:], commands)
                elif cmd == "set_info":
                    reply = [self._set_info(wire, *args)]
                else:
                    logger.info("ignored the unknown command %r from the server", cmd[:60])
                    continue
                reply = [self._pushed(wire), *reply]
                if any(map(len, reply)) and not commands.lost:  # lost: its reason comes next, not a failed send
                    send_all(sock, reply, IO_TIMEOUT_S)
                commands.handled()
        finally:
            self._connected.clear()
            close_quietly(sock)

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
        parts = [wire.message("GRABBER"), wire.message("Infos", self.responder.settings_xml())]
        for name, value in self.responder.infos().items():
            parts.append(wire.message("Info", name, value))
        return b"".join(parts)

    def _answer(self, wire: Wire, dim: str, commands: "_Commands") -> list:
        """One answer and return the reply's bytes, in parts (Wire.message_parts: 'Done' + data, or an 'Info'
        error; nothing when the window was interrupted: Quit, a lost link or a shutdown, nobody to answer)."""
        stop = _AnswerStop(self._interrupt, commands)
        try:
            dte = self.responder.answer(dim, stop)
        except AcquisitionAborted as e:
            logger.info("%s", e)
            return []
        except Exception as e:  # a TaggerError (failed measurement, refused settings) is answered as Info 'error';
            text = str(e)       # anything else is a bug in the responder: answered too (the link goes on), logged
            if not isinstance(e, TaggerError):
                logger.exception("bug in the responder's answer")
                text = f"internal error {type(e).__name__}: {e}"
            if self.service is None:  # the service reports its own errors
                self._error(text)
            return [wire.message("Info", INFO_ERROR, text)]
        finally:
            stop.end()
        self.status.requests_served += 1
        if self.status.last_error:
            self.status.last_error = ""
        self._report()
        if wire.name == CLASSIC:  # one dataset: its axis (x_axis) and its arrays (Done)
            d = dte.data[0]
            parts = []
            if d.axes:
                a = d.axes[0]
                parts.append(wire.message("x_axis", np.asarray(a.data, dtype=float), a.label, a.units))
            parts.append(wire.message("Done", [np.asarray(x, dtype=float) for x in d.data]))
            return parts
        return wire.message_parts("Done", dte)

    @staticmethod
    def edit_path(path: list[str]) -> list[str]:
        return edit_path(path)

    def _set_info(self, wire: Wire, path: list[str], xml: str | int) -> bytes:
        """Apply a setting edited on the server; reply with its applied value (Info_xml), preceded by an
        Info 'set_info_error' when it was refused (the value shown is then the one still applied)."""
        reply_error = b""
        applied = None
        try:
            if isinstance(xml, int):  # its size, see _Commands._read
                raise SettingsError(f"a set_info of {xml} bytes (at most {MAX_SET_INFO_BYTES})")
            applied = self.responder.apply_edit(path, xml)
        except ValueError as e:  # SettingsError, ProtocolError and XML errors are ValueErrors
            reply_error = wire.message("Info", INFO_SET_INFO_ERROR,
                                       self._error(f"set_info {'/'.join(edit_path(path))}: {e}"))
            applied = self.responder.applied_xml(path)
        if applied is None:
            return reply_error
        # Info_xml paths start with the root's name: PyMoDAQ's servers drop path[0]
        return reply_error + wire.message("Info_xml", *applied)

    # ------------------------------------------------------------------ status
    def _error(self, text: str) -> str:
        if self.service is not None:
            return self.service.error(text)
        logger.error(text)
        self.status.last_error = text
        self._report()
        return text

    def _report(self) -> None:
        self._on_status(self.status)



# ------------------------------------------------------------------------------- the server's commands
#: the command read when the connection ends (with the reason)
_LOST = object()


class _Commands:
    """The server's commands on one connection, all read in the link's thread: waited for between answers
    (:meth:`next`), looked for without waiting while an answer is measured (:meth:`look`, via :class:`_AnswerStop`)."""

    def __init__(self, client: "TaggerClient", wire: Wire):
        self.client = client
        self.wire = wire
        self.reader = wire.reader
        self.early: collections.deque = collections.deque()  # read during an answer, not handled yet
        self.lost = False  # the connection ended: its _LOST item is out, nothing more is read
        self._handled: float | None = None  # time.perf_counter() when the last command was handled
        self._gap_s = float("inf")  # from then to the next command (net.spin_for)

    def next(self, timeout: float):
        """The next command ``(cmd, args)`` (``(_LOST, reason)`` when the connection ended), or None if none began
        within ``timeout`` s."""
        if self.early:
            return self.early.popleft()
        try:
            self.reader.wait_message(timeout, spin_for(self._gap_s))
        except TimeoutError:  # socket.timeout: the next command comes that much later at least
            self._gap_s = float("inf")
            return None
        except (EOFError, OSError) as e:
            return self._ended(self.client._lost_reason(e))
        if self._handled is not None:
            self._gap_s, self._handled = time.perf_counter() - self._handled, None
        return self._taken(self._read)

    def handled(self) -> None:
        """The command last returned by :meth:`next` has been answered."""
        self._handled = time.perf_counter()

    def look(self) -> None:
        """(During an answer) read the commands that are whole here, never waiting; a Quit or a lost link among them
        interrupts the answer. A command not all here yet, or beyond COMMAND_QUEUE + 1, is read after the answer."""
        while not self.lost and len(self.early) <= COMMAND_QUEUE:
            try:
                if not self.reader.wait_readable(0.0):
                    return
                item = self._taken(lambda: self.reader.without_waiting(self._read))
            except WouldWait:
                return
            except OSError as e:  # the socket was closed (shutdown)
                item = self._ended(self.client._lost_reason(e))
            self.early.append(item)

    def _read(self) -> tuple:
        """One command of the server and its arguments (the message has begun): (cmd, args)."""
        cmd = self.wire.read_command()
        args = ()
        if cmd == "set_info":
            path, xml = self.wire.read_path(), self.wire.read_string()
            args = (path, xml if len(xml) <= MAX_SET_INFO_BYTES else len(xml))  # not kept in memory
        return cmd, args

    def _taken(self, read) -> tuple:
        """``read()``'s command; ``(_LOST, reason)`` if the connection ended or the server sent something unreadable.
        Quit and a lost link interrupt the answer under way, if any. WouldWait goes through."""
        try:
            item = read()
        except (EOFError, OSError) as e:
            return self._ended(self.client._lost_reason(e))
        except ProtocolError as e:
            return self._ended(f"the server sent something unreadable ({e})" if self.client._served else
                               f"not a PyMoDAQ server (it sent something unreadable: {e})")
        self.client._served = True
        if item[0] in ("Quit", "Server Closed"):
            self.client.interrupt()
        return item

    def _ended(self, reason: str) -> tuple:
        self.lost = True
        self.client.interrupt()
        return _LOST, reason


class _AnswerStop:
    """The ``stop`` event given to :meth:`Responder.answer`: set by :meth:`TaggerClient.interrupt` (a shutdown, any
    thread), or by a Quit or a lost link, which asking finds: while the answer lasts, :meth:`is_set` reads the commands
    already whole in the socket (:meth:`_Commands.look`, never waiting) in the thread that asks."""

    def __init__(self, interrupted: threading.Event, commands: _Commands):
        self._interrupted = interrupted
        self._commands: _Commands | None = commands
        self._lock = threading.Lock()  # one thread looks at a time; end() waits for it

    def is_set(self) -> bool:
        if not self._interrupted.is_set() and self._lock.acquire(blocking=False):
            try:
                if self._commands is not None:
                    self._commands.look()
            finally:
                self._lock.release()
        return self._interrupted.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """As threading.Event.wait: True once set; the socket is looked at every LOOK_SLICE_S."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            left = LOOK_SLICE_S if deadline is None else min(LOOK_SLICE_S, deadline - time.monotonic())
            if left <= 0:
                return False
            self._interrupted.wait(left)
        return True

    def end(self) -> None:
        """The answer is over: the socket is the link thread's again (a look under way in another thread ends first)."""
        with self._lock:
            self._commands = None


# ------------------------------------------------------------------------------- connecting
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
