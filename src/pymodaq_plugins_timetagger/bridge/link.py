"""The dial-out link of the remote side: dial a PyMoDAQ TCP server and serve a :class:`Responder` on it.

``pymodaq-timetagger-client`` runs it on the PC the Time Tagger is plugged into, with a
:class:`~.service.MeasurementService` as responder (one link per ``--host``, all sharing the one tagger); a viewer
plugin serves its own measurement through the same link with another responder
(:mod:`..daq_viewer_plugins.remote_server`). The link dials out to the TCPServer plugin on the main PC (so the
remote PC needs no open port), answers the shared-secret challenge if there is one (:mod:`..protocol.auth`),
identifies as a GRABBER, sends the responder's settings (``Infos``, PyMoDAQ parameter XML written without Qt) and
its ``Info`` entries, then answers every ``Send Data xD`` with ``Done`` and the responder's data; a ``set_info`` is
applied by the responder and the value applied is sent back as ``Info_xml``.

The Responder protocol (what the link calls, all from the link's own thread)::

    answer(dim: str, stop) -> data_model.DataToExport
        one measurement for 'Send Data <dim>' ('0D', '1D', '2D'); raise AcquisitionAborted when ``stop`` (a
        threading.Event) is set (Quit, lost link, stop(): nothing is sent), a TaggerError when it failed (its text
        is sent as Info 'error' and shown in the status).
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

Besides serving, the owner may push, from any thread: :meth:`Link.push_info_xml` (a setting changed locally: the
server's mirror follows), :meth:`Link.push_info`, :meth:`Link.push_settings` (the tree changed shape); they are
sent by the link's thread in order, dropped while not connected (the next connection sends the whole tree).

Threads: per connection one reader thread does every read (blocking reads; a message begun must be whole within
IO_TIMEOUT_S) and feeds the sans-I/O :class:`~..protocol.connection.Connection`, which holds the commands not
handled yet (bounded in count and bytes); the link's thread takes them and answers. While an answer is measured
the reader keeps reading: a Quit or a lost link sets the answer's stop. Every failure (no server, refused, lost,
an error while replying) is followed by a wait of the one :class:`~..protocol.net.Backoff`, reset only once the
server has asked again after a reply (a server that hangs up after one command is not hammered).
:func:`run_until_interrupted` serves in a worker thread so that the main thread only waits for Ctrl-C,
Ctrl-Break (SIGBREAK, Windows) or SIGTERM (POSIX). Never imports Qt or PyMoDAQ's GUI stack.
"""
from __future__ import annotations

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

from .. import data_model
from ..data_model import ProtocolError
from ..hardware.errors import AcquisitionAborted, SettingsError, TaggerError
from ..protocol import auth
from ..protocol.codec import DEFAULT_MAX_FRAME
from ..protocol.connection import (CLIENT, Closed, Command, Connection, ERROR_INFO, NEED_DATA, QUIT_COMMANDS, SEND_DATA,
                                   SET_INFO_ERROR_INFO)
from ..protocol.dialects import DIALECTS, PYMODAQ5
from ..protocol.net import (BACKOFF_MAX_S, IDLE_WAIT_S, Backoff, RateLimitedLog, close_quietly, recv_some,
                            send_parts, tune)
from .service import ClientStatus, MeasurementService, edit_path, refusal

logger = logging.getLogger(__name__)

#: a connection is given up (and made again) when a message from the server, once begun, is not complete
#: within this long, or a reply not sent (a 64 MiB reply needs > 2.2 MB/s), s; an idle server is fine
IO_TIMEOUT_S = 30.0
#: the main thread looks for Ctrl-C / Ctrl-Break / SIGTERM this often while the worker serves, s
SIGNAL_POLL_S = 0.1
#: after a stop request the worker gets this long to abort the window and free the tagger, s
FREE_TIMEOUT_S = 10.0
#: a connection the server keeps open this long is shown as connected (a TCP server is silent until a grab), s
SHOW_CONNECTED_S = 0.1
#: messages pushed by the owner (push_info_xml...) and not yet sent; more are dropped (logged)
PUSH_QUEUE = 64


class Responder(Protocol):
    """What the link serves (see the module documentation)."""

    def answer(self, dim: str, stop: threading.Event) -> data_model.DataToExport: ...

    def apply_edit(self, path: list[str], xml: str) -> tuple[list[str], str]: ...

    def applied_xml(self, path: list[str]) -> tuple[list[str], str] | None: ...

    def settings_xml(self) -> str: ...

    def infos(self) -> dict[str, str]: ...


class QuitRequested(Exception):
    """The server asked the client to quit."""


class _Lost(Exception):
    """The connection ended (the reason is the message)."""


class Link:
    """Serve ``responder`` (a :class:`Responder`) to the PyMoDAQ TCP server at host:port.

    Without a responder, a :class:`~.service.MeasurementService` is made of ``address``, ``kind``, ``settings``,
    ``sim_options`` and ``test_signal`` (the standalone client): the link then opens its tagger when it starts and
    frees it when it ends. ``on_status(status)`` is called on every change of :attr:`status`.
    """

    def __init__(self, host: str, port: int, *, responder: Responder | None = None, address: str = "auto",
                 kind="countrate", settings=None, protocol: str = PYMODAQ5, connect_timeout: float = 5.0,
                 backoff_max_s: float = BACKOFF_MAX_S, max_frame: int = DEFAULT_MAX_FRAME,
                 on_status=None, sim_options: dict | None = None, test_signal: tuple[int, ...] = (),
                 secret: bytes | None = None, status: ClientStatus | None = None):
        if protocol not in DIALECTS:
            raise ValueError(f"protocol must be one of {', '.join(DIALECTS)}, got {protocol!r}")
        self.host, self.port = host, int(port)
        self.protocol = protocol
        self.connect_timeout = connect_timeout
        self.backoff = Backoff(backoff_max_s)
        self.max_frame = max_frame
        self.secret = auth.check_secret(secret)  # shared secret of the server (protocol/auth.py), or None
        self._on_status = on_status or (lambda st: None)
        self.service: MeasurementService | None = None
        if responder is None:
            self.service = MeasurementService(address, kind, settings, max_frame=max_frame,
                                              sim_options=sim_options, test_signal=test_signal,
                                              on_status=self._on_status)
            responder = self.service
            status = self.service.status  # one status: the link's state and the service's errors
        self.status = status if status is not None else ClientStatus()
        self.status.server = f"{host}:{port}"
        self.responder = responder
        self._stop = threading.Event()
        self._interrupt = threading.Event()   # the answer's stop
        self._wake = threading.Condition()    # the reader got commands or ended; a push; a shutdown
        self._sock: socket.socket | None = None
        self._pushes: queue.Queue = queue.Queue(PUSH_QUEUE)
        self._connected = threading.Event()
        self._thread: threading.Thread | None = None
        self._log = RateLimitedLog(logger)
        self.on_interrupt: list = []  # called on every interrupt (a LinkGroup waiting for its turn looks again)

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
        """A setting changed locally: send its path (``[root, *path]``) and XML (the server's mirror follows)."""
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
        with self._wake:
            self._wake.notify_all()

    def _pushed(self, proto: Connection) -> list:
        parts = []
        while True:
            try:
                cmd, *args = self._pushes.get_nowait()
            except queue.Empty:
                return parts
            if cmd == "Infos":
                args = [self.responder.settings_xml()]
            parts += proto.send(cmd, *args)

    # ------------------------------------------------------------------ main loop
    def serve_forever(self) -> int:
        """Connect, serve, reconnect until Quit or :meth:`shutdown`. Returns 0. Frees the tagger (own service)."""
        try:
            if self.service is not None:
                self.service.open_or_report()
            while not self._stop.is_set():
                sock = self._connect()
                if sock is not None:
                    try:
                        self._serve(sock)
                    except QuitRequested:
                        logger.info("the server asked the client to quit")
                        return 0
                    except _Lost as e:
                        if not self._stop.is_set():
                            self._note(str(e))
                    except OSError as e:  # replying, or the hello: the link failed
                        if not self._stop.is_set():
                            self._note(f"connection lost while sending: {e}")
                    finally:
                        self._sock = None
                        close_quietly(sock)
                        self.status.connected = False
                        self._report()
                if self._stop.is_set():
                    break
                self._stop.wait(self.backoff.wait_s())
            return 0
        finally:
            self._connected.clear()
            if self.service is not None:
                self.service.close()

    def shutdown(self) -> None:
        """Stop serving (thread-safe, may be called repeatedly): the window under way is aborted, the
        connection closed and serve_forever returns."""
        self.status.stopping = True  # the connection's end is then not shown as "waiting for" the server
        self._stop.set()
        self.interrupt()
        close_quietly(self._sock)
        with self._wake:
            self._wake.notify_all()

    def interrupt(self) -> None:
        """Abort the window being measured (thread-safe)."""
        self._interrupt.set()
        for callback in self.on_interrupt:
            callback()

    def _connect(self) -> socket.socket | None:
        """A connected socket, or None (the reason is in the status). Interruptible by :meth:`shutdown`."""
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
                tune(sock)
                if self.secret is not None:
                    try:
                        sock.settimeout(self.connect_timeout)
                        auth.answer_challenge(sock, self.secret, self.connect_timeout)
                    except (auth.AuthError, OSError) as e:
                        self._sock = None
                        close_quietly(sock)
                        self._waiting(str(e))
                        return None
                logger.info("connected to %s (%s)", self.status.server, self.protocol)
                return sock  # shown as connected once the server has sent something or kept it open
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

    def _serve(self, sock: socket.socket) -> None:
        proto = Connection(CLIENT, self.protocol, max_frame=self.max_frame)
        state = {"lost": None, "commands": 0, "replied": False, "answering": False}
        self._interrupt.clear()
        send_sock = sock.dup()  # sends have their own timeout, not the reader's
        reader = threading.Thread(target=self._read, args=(sock, proto, state), daemon=True,
                                  name="timetagger-link-reader")
        try:
            send_parts(send_sock, self._hello(proto), IO_TIMEOUT_S)
            self._connected.set()
            reader.start()
            wait_s = SHOW_CONNECTED_S  # a server that keeps the connection open that long is shown as connected
            while not self._stop.is_set():
                with self._wake:
                    while True:
                        try:
                            event = proto.next_event()
                        except ProtocolError as e:  # cut in the middle of a message, or unreadable
                            event, state["lost"] = None, state["lost"] or f"the server sent something unreadable ({e})"
                        self._wake.notify_all()  # a reader waiting for room
                        if event is not NEED_DATA or state["lost"] is not None or self._stop.is_set() \
                                or not self._pushes.empty():
                            break
                        if not self._wake.wait(wait_s):
                            break
                        wait_s = None
                if event is None or isinstance(event, Closed) or event is NEED_DATA and state["lost"] is not None:
                    reader.join(SHOW_CONNECTED_S)
                    raise _Lost(state["lost"] or "the server closed the connection")
                wait_s = None
                if not self._stop.is_set():
                    self._show_connected()
                reply = []
                if isinstance(event, Command):
                    if state["replied"]:  # the server read a reply of ours and asks again: data were exchanged
                        self.backoff.reset()
                    reply = self._command(proto, event, state)
                reply = self._pushed(proto) + reply
                if reply and state["lost"] is None:
                    send_parts(send_sock, reply, IO_TIMEOUT_S)
        finally:
            self._connected.clear()
            close_quietly(send_sock)
            close_quietly(sock)
            if reader.ident is not None:
                reader.join(IO_TIMEOUT_S)

    def _read(self, sock: socket.socket, proto: Connection, state: dict) -> None:
        """The connection's reader: every read of it. A Quit or a lost link sets the answer's stop."""
        started = None
        try:
            while True:
                wait = IDLE_WAIT_S if started is None else started + IO_TIMEOUT_S - time.monotonic()
                try:
                    data = recv_some(sock, proto.needed, wait)
                except socket.timeout:
                    if started is not None and time.monotonic() >= started + IO_TIMEOUT_S:
                        raise _Lost(f"a message from the server was not complete within {IO_TIMEOUT_S:g} s")
                    continue
                with self._wake:
                    proto.receive_data(data)
                    if not data:
                        raise EOFError("the server closed the connection")
                    started = (started or time.monotonic()) if proto.in_message else None
                    if any(isinstance(e, Command) and e.name in QUIT_COMMANDS for e in proto.queued()):
                        self.interrupt()
                    self._wake.notify_all()
                    while proto.full and not self._stop.is_set():  # TCP holds the rest meanwhile
                        if state["answering"]:
                            raise ProtocolError(f"more than {proto.max_queued} commands (or "
                                                f"{proto.max_queued_bytes} bytes of them) during one answer")
                        self._wake.wait()
        except (EOFError, OSError) as e:
            reason = self._lost_reason(e, state)
        except ProtocolError as e:
            reason = (f"the server sent something unreadable ({e})" if state["commands"] else
                      f"not a PyMoDAQ server (it sent something unreadable: {e})")
        except _Lost as e:
            reason = str(e)
        with self._wake:
            state["lost"] = reason
            self.interrupt()
            self._wake.notify_all()

    def _command(self, proto: Connection, event: Command, state: dict) -> list:
        """The reply to one command of the server (a list of buffers, maybe empty)."""
        state["commands"] += 1
        cmd = event.name
        if cmd in QUIT_COMMANDS:
            raise QuitRequested()
        if cmd in SEND_DATA.values():
            with self._wake:
                state["answering"] = True
            try:
                reply = self._answer(proto, cmd[-2:])
            finally:
                state["answering"] = False
            state["replied"] = state["replied"] or bool(reply)
            return reply
        if cmd == "set_info":
            return self._set_info(proto, *event.args)
        self._log.log(logging.INFO, "unknown", "ignored the unknown command %r from the server", cmd[:60])
        return []

    def _show_connected(self) -> None:
        if not self.status.connected:
            self.status.connected = True
            self.status.waiting_reason = ""
            self._report()

    def _lost_reason(self, e: BaseException, state: dict) -> str:
        if state["commands"] or self.status.connected:
            return f"connection lost: {e}"
        logger.debug("closed by %s: %s", self.status.server, e)
        return ("the server closed the connection at once: refused by its allowed clients, full, or not a "
                "PyMoDAQ server")

    def _note(self, text: str) -> None:
        """A connection problem: logged once and shown as the reason of the wait that follows."""
        if text != self.status.waiting_reason:
            logger.info("%s: %s", self.status.server, text)
        self.status.waiting_reason = text

    # ------------------------------------------------------------------ messages
    def _hello(self, proto: Connection) -> list:
        # the XML's trailing newline (whitespace to an XML parser) ends a line for a text server (HTTP...): it
        # answers at once, and that answer is found not to be PyMoDAQ's instead of the link waiting in silence
        parts = proto.send("GRABBER") + proto.send("Infos", self.responder.settings_xml() + "\n")
        for name, value in self.responder.infos().items():
            parts += proto.send("Info", name, value)
        return parts

    def _answer(self, proto: Connection, dim: str) -> list:
        """One answer: the reply's buffers ('Done' + data, or an 'Info' error; nothing when the window was
        interrupted: Quit, a lost link or a shutdown, nobody to answer)."""
        try:
            dte = self.responder.answer(dim, self._interrupt)
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
            return proto.send("Info", ERROR_INFO, text)
        self.status.requests_served += 1
        if self.status.last_error:
            self.status.last_error = ""
        self._report()
        return proto.send_reply(dte)

    def _set_info(self, proto: Connection, path: list[str], xml: str) -> list:
        """Apply a setting edited on the server; reply with its applied value (Info_xml), preceded by an
        Info 'set_info_error' when it was refused (the value shown is then the one still applied)."""
        reply_error = []
        applied = None
        try:
            applied = self.responder.apply_edit(path, xml)
        except SettingsError as e:  # the one error of a refused value (settings.py)
            reply_error = proto.send("Info", SET_INFO_ERROR_INFO,
                                     self._refused(f"set_info {'/'.join(edit_path(path))}: {e}"))
            applied = self.responder.applied_xml(path)
        if applied is None:
            return reply_error
        # Info_xml paths start with the root's name: PyMoDAQ's servers drop path[0]
        return reply_error + proto.send("Info_xml", *applied)

    # ------------------------------------------------------------------ status
    def _error(self, text: str) -> str:
        if self.service is not None:
            return self.service.error(text)
        self._log.log(logging.ERROR, "error", "%s", text)
        self.status.last_error = text
        self._report()
        return text

    def _refused(self, text: str) -> str:
        text = refusal(self.status, text)
        self._report()
        return text

    def _report(self) -> None:
        self._on_status(self.status)


# ------------------------------------------------------------------------------- several servers
class _Turns:
    """One answer at a time, in the order asked (a ticket lock); a request stopped while it waits gives up its
    turn."""

    def __init__(self):
        self._cond = threading.Condition()
        self._next = self._serving = 0
        self._abandoned: set = set()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def run(self, stop: threading.Event, work):
        with self._cond:
            ticket, self._next = self._next, self._next + 1
            while self._serving != ticket:
                if stop.is_set():
                    self._abandoned.add(ticket)
                    raise AcquisitionAborted("stopped while waiting for the other server's request")
                self._cond.wait()
        try:
            return work()
        finally:
            with self._cond:
                self._serving += 1
                while self._serving in self._abandoned:
                    self._abandoned.discard(self._serving)
                    self._serving += 1
                self._cond.notify_all()


class _Shared:
    """The responder of one link of a :class:`LinkGroup`: the group's responder, one request at a time."""

    def __init__(self, group: "LinkGroup", index: int):
        self.group, self.index = group, index

    def answer(self, dim, stop):
        return self.group.turns.run(stop, lambda: self.group.responder.answer(dim, stop))

    def apply_edit(self, path, xml):
        applied = self.group.turns.run(threading.Event(), lambda: self.group.responder.apply_edit(path, xml))
        for i, link in enumerate(self.group.links):  # the other servers' mirrors follow
            if i != self.index:
                link.push_info_xml(*applied)
        return applied

    def applied_xml(self, path):
        return self.group.responder.applied_xml(path)

    def settings_xml(self):
        return self.group.responder.settings_xml()

    def infos(self):
        return self.group.responder.infos()


class LinkGroup:
    """Several links, one per server (``servers``: (host, port) pairs), serving one ``responder`` (one tagger):
    requests are served one at a time in the order they come, each reply to its requester; a setting applied
    through one link is pushed to the other servers. ``service``: a MeasurementService the group opens and frees
    (the responder then); the other arguments are each :class:`Link`'s."""

    def __init__(self, servers, *, responder: Responder | None = None,
                 service: MeasurementService | None = None, on_status=None, **link_kw):
        self.service = service
        self.responder = responder if responder is not None else service
        self.turns = _Turns()
        self.links = [Link(host, port, responder=_Shared(self, i), on_status=on_status, **link_kw)
                      for i, (host, port) in enumerate(servers)]
        for link in self.links:
            link.on_interrupt.append(self.turns.wake)

    def serve_forever(self) -> int:
        """Serve every server until each link ends (Quit) or :meth:`shutdown`. Returns 0."""
        try:
            if self.service is not None:
                self.service.open_or_report()
            threads = [link.start() for link in self.links]
            for t in threads:
                t.join()
            return 0
        finally:
            if self.service is not None:
                self.service.close()

    def shutdown(self) -> None:
        for link in self.links:
            link.shutdown()

    def push_info_xml(self, path, xml) -> None:
        for link in self.links:
            link.push_info_xml(path, xml)

    def push_settings(self) -> None:
        for link in self.links:
            link.push_settings()


def host_port(text: str, default_port: int) -> tuple[str, int]:
    """'host', 'host:port' or '[v6]:port' -> (host, port); ValueError naming a bad port."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, ""
    if not port:
        return host, default_port
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r}: the port must be between 1 and 65535")
    return host, int(port)


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
    try:
        text = os.strerror(err)
    except (ValueError, OverflowError):
        text = ""
    return f"cannot connect: {errno.errorcode.get(err, err)} {text}"


# ------------------------------------------------------------------------------- main thread
def run_until_interrupted(runner) -> int:
    """``runner.serve_forever()`` (a Link, LinkGroup or LECO actor) in a worker thread until it returns or the user stops it; its exit code.

    The main thread only waits (in slices of SIGNAL_POLL_S) for Ctrl-C (SIGINT), Ctrl-Break or closing the
    console (SIGBREAK, Windows) and SIGTERM (POSIX): on Windows a blocking socket call is not interrupted by
    Ctrl-C, so none runs in the main thread. On the first of these, ``runner.shutdown()`` aborts the window
    under way and the worker frees the tagger (within FREE_TIMEOUT_S); a second one exits at once. Call it
    from the main thread (signal handlers are installed there and restored on return).
    """
    outcome = {"code": 1}
    requested = threading.Event()

    def work():
        try:
            outcome["code"] = runner.serve_forever()
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
        status = getattr(runner, "status", None) or getattr(getattr(runner, "service", None), "status", None)
        if status is not None:  # the status line says so, not "waiting for" the server it leaves
            status.stopping = True
        deadline = time.perf_counter() + FREE_TIMEOUT_S
        while worker.is_alive() and time.perf_counter() < deadline:
            runner.shutdown()
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
