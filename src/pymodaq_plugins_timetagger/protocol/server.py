"""Server core of the bridge (Qt-free): listen, accept clients, ask them for data, mirror their settings.

One thread accepts connections; one thread per client waits until its socket has bytes (a blocking
``poll``/``select``: nothing sleeps in slices) and reads its messages. Whoever reads holds the connection's
read lock: :meth:`BridgeServer.request` reads its own reply in the calling thread when the connection's thread
is not reading (no hand-over between threads), with the same code; :meth:`BridgeServer.submit` leaves the
reading to the connection's thread and calls back. Replies carry no request id in this protocol, so the server
keeps them in order by construction:

* a request is recorded and its ``Send Data xD`` written under one per-connection lock, so the wire
  order of requests is the order in which replies are matched to them (a 0D and a 1D viewer asking one
  client at once never swap replies);
* every reply settles exactly one request of its own kind: ``Done`` the oldest request, if its data
  has the requested dimensionality (otherwise an error for that request, never data); an ``Info``
  named ``error`` the oldest request (as its error); an ``Info`` named ``set_info_error`` (a refused
  setting) none;
* a request that times out drops the connection (the client reconnects by itself): a late reply can
  never be taken for the answer to a later request.

Safety (anything from the wire is hostile): clients may be restricted to addresses/networks (changed at
run time with :meth:`BridgeServer.set_allowed`, which drops peers no longer allowed); an optional shared
secret is checked before anything else is read (:mod:`.auth`); a client must identify itself within
``handshake_timeout`` and finish every message it starts within ``message_timeout`` (whole-message
deadlines, not per ``recv``); at most ``max_clients`` connections and ``max_per_host`` per address, a
newcomer evicting an unidentified or idle peer rather than being refused; frames above ``max_frame``
bytes are refused before any allocation, a frame whose type name is not the one expected is refused from
its head, decoding is bounded in objects and memory (:mod:`.pymodaq5`), and all frames in flight share one
memory budget; Infos are capped in count and size, settings XML in size; sends have deadlines (a peer
that does not read is dropped); repeated log lines are rate-limited. Transient ``accept`` errors
(EMFILE...) back off and go on. A misbehaving client is dropped with a log line saying why; the others
are not affected.
"""
from __future__ import annotations

import ipaddress
import itertools
import logging
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import auth
from .. import data_model
from ..data_model import ProtocolError
from .codec import DEFAULT_MAX_FRAME
from .net import (MemoryBudget, RateLimitedLog, SocketReader, WouldWait, apply_options, close_quietly,
                  listener_options, platform_name, send_all, spin_for, tune)
from .paramxml import Param, from_xml_string
from .dialects import CLASSIC
from .wire import CLIENT_TYPES, SEND_DATA, Wire, detect

logger = logging.getLogger(__name__)

#: the classic TCP server port of PyMoDAQ (config network.tcp-server.port)
DEFAULT_PORT = 6341
DEFAULT_HOST = "127.0.0.1"
#: Info names with a meaning: a grab failed (answers the oldest request), a setting was refused
#: (answers no request)
ERROR_INFO = "error"
SET_INFO_ERROR_INFO = "set_info_error"
#: per-client limits on what a client may make the server keep
MAX_INFOS = 1024
MAX_INFOS_TOTAL_BYTES = 1024 * 1024   # names and values of one client's Infos together
MAX_INFO_NAME_BYTES = 256
MAX_INFO_BYTES = 64 * 1024
MAX_SETTINGS_XML = 4 * 1024 * 1024
#: memory for frames being read by all connections together (at least 3 max. frames)
DEFAULT_INFLIGHT = 256 * 1024 * 1024
LISTEN_BACKLOG = 64
#: the connection's thread stays off the socket this long after the last request that read its own reply
#: (see _Connection.park): unasked messages (Infos) wait at most this long while nobody asks
PARK_LINGER_S = 0.05
ACCEPT_BACKOFF_FIRST_S = 0.01
ACCEPT_BACKOFF_MAX_S = 1.0


class BridgeError(RuntimeError):
    """A request could not be answered (no client, client left, timeout, client error)."""


class NoClient(BridgeError):
    pass


class ClientLeft(BridgeError):
    pass


class RequestTimeout(BridgeError):
    pass


class ClientReportedError(BridgeError):
    pass


class _ClientQuit(Exception):
    """The client said Quit (ends its connection's loop)."""


class ReplyMismatch(BridgeError):
    """A reply whose kind does not match its request (e.g. Data1D answering 'Send Data 0D')."""


@dataclass
class ClientInfo:
    """What the server knows about one connected client (read-only for users of the server)."""

    id: int
    address: str
    port: int
    dialect: str = ""
    client_type: str = ""
    connected_at: float = field(default_factory=time.time)
    settings_xml: str = ""
    settings: Param | None = None
    infos: dict = field(default_factory=dict)
    infos_bytes: int = 0           # characters of the names and values in infos (bounded)
    x_axis: tuple | None = None    # classic: (array, label, units)
    y_axis: tuple | None = None
    requests_served: int = 0
    last_error: str = ""

    @property
    def label(self) -> str:
        return f"#{self.id} {self.address}:{self.port} ({self.dialect or '?'})"


class _OneShot:
    """A one-shot event for one waiter and one setter, on a single lock: ``threading.Event`` is a
    Condition (a lock, plus a new lock allocated and two more handed over per wait) and costs more than
    the rest of a small request's bookkeeping. ``set`` is called at most once (whoever pops the request
    from ``pending``, under the server's lock, sets it)."""
    __slots__ = ("_lock", "_is_set")

    def __init__(self):
        self._lock = threading.Lock()
        self._lock.acquire()
        self._is_set = False

    def set(self) -> None:
        if not self._is_set:
            self._is_set = True
            self._lock.release()

    def is_set(self) -> bool:
        return self._is_set

    def wait(self, timeout: float | None = None) -> bool:
        if self._is_set:
            return True
        if self._lock.acquire(timeout=-1 if timeout is None else max(timeout, 0.0)):
            self._lock.release()  # a later wait passes too
            return True
        return self._is_set


class _Pending:
    """One request: settled exactly once (result or error) by whoever takes it out of its connection's
    ``pending`` list under the server's lock."""
    __slots__ = ("dim", "conn", "event", "result", "error", "on_done")

    def __init__(self, dim: str, conn: "_Connection", on_done: Callable | None = None):
        self.dim = dim
        self.conn = conn
        self.event = _OneShot()
        self.result = None
        self.error: BridgeError | None = None
        self.on_done = on_done

    def settle(self) -> None:
        self.event.set()
        callback, self.on_done = self.on_done, None
        if callback is not None:
            try:
                callback(self)
            except Exception:  # a caller's bug must not break the thread that settled the request
                logger.exception("bridge: a request's callback failed")


class _Connection:
    def __init__(self, server: "BridgeServer", sock: socket.socket, info: ClientInfo):
        self.server = server
        self.sock = sock
        # sends go through their own socket object: its timeout (a send deadline) is not the one the
        # reading thread keeps changing on ``sock``
        self.send_sock = sock.dup()
        self.info = info
        self.reader = SocketReader(sock, server.message_timeout, server.budget)
        self.wire: Wire | None = None
        # held from the moment a request is recorded until its bytes are on the wire, so that the wire
        # order of requests is their order in ``pending`` (replies come back in that order)
        self.send_lock = threading.Lock()
        self.pending: list[_Pending] = []   # in request order
        # held by whoever reads the socket: the connection's thread, or a request reading its own reply
        self.read_lock = threading.Lock()
        self.closed = threading.Event()
        self.last_active = time.monotonic()
        self.answer_s = float("inf")  # how long the last reply read by a request took (sent to settled)
        # While requests read their own replies, the connection's thread is parked away from the socket: woken
        # by the reply too, it would only contend for the read lock and the interpreter lock at the very moment
        # the reply is read. See hold_thread / park.
        self._park = threading.Condition(threading.Lock())
        self._holders = 0          # requests reading their own replies now
        self._holds = 0            # requests that have done so (a count: did one come during a linger?)
        self._polling = False      # the thread is waiting on the socket (and on _wake_r)
        self._urgent = False       # the thread must go back to the socket now (submit, drop)
        try:
            self._wake_r, self._wake_w = socket.socketpair()
        except OSError:  # EMFILE...: the caller closes sock
            close_quietly(self.send_sock)
            raise
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._poll = None
        if hasattr(select, "poll"):
            self._poll = select.poll()
            self._poll.register(sock, select.POLLIN | select.POLLPRI)
            self._poll.register(self._wake_r, select.POLLIN)

    def readable(self, timeout: float | None) -> bool:
        """Bytes are there to read (or the peer closed) within ``timeout`` s (None: wait for ever); the
        reader's buffer counts. Nothing is read. False too when woken by :meth:`_wake` (the wake is taken)."""
        if self.reader.buffered():
            return True
        if self._poll is not None:
            events = self._poll.poll(None if timeout is None else max(timeout, 0.0) * 1000.0)
            ready = any(fd != self._wake_r.fileno() for fd, _ in events)
            woken = len(events) > int(ready)
        else:
            try:
                ready, _, failed = select.select([self.sock, self._wake_r], [], [self.sock], timeout)
            except ValueError:  # closed by another thread (a drop): "ready", the read that follows says so
                return True
            woken = self._wake_r in ready
            ready = bool(failed) or any(r is not self._wake_r for r in ready)
        if woken:
            try:
                while self._wake_r.recv(64):
                    pass
            except OSError:  # BlockingIOError: all taken (or the pair is closed: the connection is dropped)
                pass
        return ready

    def spin_s(self) -> float:
        """How long a request polls for its reply before sleeping (net.SPIN_MAX_S, net.spin_for)."""
        return spin_for(self.answer_s)

    def hold_thread(self) -> None:
        """A request is about to read its own reply: keep the connection's thread off the socket (woken now, in
        the request's round trip, not by the reply). Pair with :meth:`release_thread`."""
        with self._park:
            self._holders += 1
            self._holds += 1
            if self._polling:
                self._polling = False
                self._wake()

    def release_thread(self) -> None:
        """The request is done reading. The thread stays parked for ``PARK_LINGER_S`` more (it is not woken):
        requests in a row keep it parked; what comes meanwhile unasked is read after the linger, or by the next
        request."""
        with self._park:
            self._holders -= 1

    def call_thread(self) -> None:
        """The connection's thread must read now (a reply nobody else reads, or the connection is dropped)."""
        with self._park:
            self._urgent = True
            self._park.notify_all()
            if self._polling:
                self._polling = False
                self._wake()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except OSError:  # full (a wake is pending anyway) or closed (dropped)
            pass

    def park(self) -> None:
        """(The connection's thread) wait while requests read their own replies, and ``PARK_LINGER_S`` after the
        last one; then mark the thread as waiting on the socket (call :meth:`readable` next)."""
        with self._park:
            while not (self._urgent or self.closed.is_set()):
                if not self._holders and not self._holds:
                    break
                seen = self._holds
                self._park.wait(PARK_LINGER_S)
                if not self._holders and self._holds == seen:
                    break  # a whole linger without a request reading itself
            self._holds = 0
            self._urgent = False
            self._polling = True

    def close_wake(self) -> None:
        self.call_thread()
        close_quietly(self._wake_r)
        close_quietly(self._wake_w)

    def send(self, data: bytes, timeout: float) -> None:
        """Send one whole message within ``timeout`` s (socket.timeout otherwise); hold send_lock."""
        send_all(self.send_sock, data, timeout)


class BridgeServer:
    """Listening side of PyMoDAQ's TCP/IP command protocol (both dialects, detected per connection).

    ``on_event(kind, client, data)`` is called from the server's threads for: ``connected``,
    ``disconnected`` (data: reason), ``settings`` (the client's Infos tree), ``info`` ((name, value)),
    ``info_xml`` ((path, xml)), ``dropped`` (a refused or misbehaving connection; data: reason).

    Limits (all per server unless said): ``max_clients`` connections, ``max_per_host`` of them from
    one address (a newcomer evicts an unidentified or idle connection rather than being refused);
    ``max_infos`` Info names of at most ``max_info_bytes`` each and ``max_infos_total`` bytes in all per
    client (a GUI shows fewer: see bridge/mirror.py); settings XML of at most
    ``max_settings_xml`` bytes; ``max_inflight`` bytes for the frames being read by all connections.
    ``secret``: a shared secret the peers must prove first (:mod:`.auth`); None: PyMoDAQ's protocol
    as is.
    """

    def __init__(self, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *,
                 allowed: list[str] | None = None, max_frame: int = DEFAULT_MAX_FRAME,
                 max_clients: int = 32, max_per_host: int = 16, handshake_timeout: float = 5.0,
                 message_timeout: float = 30.0, max_infos: int = MAX_INFOS,
                 max_info_bytes: int = MAX_INFO_BYTES, max_infos_total: int = MAX_INFOS_TOTAL_BYTES,
                 max_settings_xml: int = MAX_SETTINGS_XML,
                 max_inflight: int | None = None, secret: bytes | None = None,
                 on_event: Callable | None = None):
        self.host = host
        self.requested_port = int(port)
        self.allowed = parse_allowed(allowed)
        self.max_frame = int(max_frame)
        self.max_clients = int(max_clients)
        self.max_per_host = int(max_per_host)
        self.handshake_timeout = handshake_timeout
        self.message_timeout = message_timeout
        self.max_infos = int(max_infos)
        self.max_info_bytes = int(max_info_bytes)
        self.max_infos_total = int(max_infos_total)
        self.max_settings_xml = int(max_settings_xml)
        self.budget = MemoryBudget(max_inflight if max_inflight is not None else
                                   max(DEFAULT_INFLIGHT, 3 * self.max_frame))
        self.secret = auth.check_secret(secret)
        self._listeners: list[Callable] = [on_event] if on_event is not None else []
        self._lock = threading.RLock()
        self._conns: dict[int, _Connection] = {}
        self._ids = itertools.count(1)
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._log = RateLimitedLog(logger)

    def add_listener(self, callback: Callable) -> None:
        """Also call ``callback(kind, client, data)`` for every event (several plugins may share)."""
        if callback not in self._listeners:
            self._listeners.append(callback)

    def remove_listener(self, callback: Callable) -> None:
        if callback in self._listeners:
            self._listeners.remove(callback)

    def on_event(self, kind: str, client, data) -> None:
        for cb in list(self._listeners):
            try:
                cb(kind, client, data)
            except Exception:  # a listener's bug must not break the connection threads
                logger.exception("bridge: an event listener failed on %s", kind)

    # ------------------------------------------------------------------ life cycle
    def start(self) -> "BridgeServer":
        """Bind and listen (raises OSError naming the address if the port is taken)."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            apply_options(sock, listener_options(platform_name(), family))
            sock.bind((self.host, self.requested_port))
        except OSError as e:
            sock.close()
            raise OSError(e.errno, f"cannot listen on {self.host}:{self.requested_port}: "
                                   f"{e.strerror or e}") from None
        sock.listen(LISTEN_BACKLOG)
        self._listener = sock
        self._stopping.clear()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True, name="bridge-accept")
        self._thread.start()
        logger.info("bridge server listening on %s:%d%s", self.host, self.port,
                    " (shared secret required)" if self.secret else "")
        return self

    @property
    def port(self) -> int:
        return self._listener.getsockname()[1] if self._listener else self.requested_port

    @property
    def running(self) -> bool:
        return self._listener is not None

    def stop(self) -> None:
        """Close the listening socket and every connection (pending requests fail at once).

        Clients are not told to quit: they reconnect when a server listens again (a restart).
        """
        self._stopping.set()
        listener, self._listener = self._listener, None
        close_quietly(listener)
        with self._lock:
            conns = list(self._conns.values())
        for c in conns:
            self._drop(c, "server stopped")
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def set_allowed(self, allowed) -> None:
        """Change the allowed clients (same forms as ``allowed``) and drop the connected peers that
        are no longer allowed. Raises ValueError naming a bad entry (nothing is changed then)."""
        nets = parse_allowed(allowed)
        with self._lock:
            self.allowed = nets
            gone = [c for c in self._conns.values() if not self._is_allowed(c.info.address)]
        for c in gone:
            logger.warning("bridge: dropping %s: no longer in the allowed clients", c.info.label)
            self._drop(c, f"{c.info.address} is no longer an allowed client")

    # ------------------------------------------------------------------ queries and requests
    def clients(self) -> list[ClientInfo]:
        with self._lock:
            return [c.info for c in self._conns.values() if c.info.client_type]

    def request(self, dim: str = "1D", client_id: int | None = None, timeout: float = 10.0):
        """Ask a GRABBER for data (``Send Data <dim>``) and return its DataToExport (codec model).

        ``client_id``: which client (None: the longest-connected GRABBER). Raises NoClient,
        ClientLeft, RequestTimeout, ReplyMismatch or ClientReportedError with a message naming the
        client. A request that times out drops the connection (the client reconnects): replies carry
        no request id, so a late reply could otherwise be taken for the answer to a later request.

        The calling thread reads the reply itself when the connection's thread is not reading (no hand-over
        between threads on the way back); what it reads is handled exactly as that thread would.
        """
        _check_dim(dim)
        deadline = time.monotonic() + timeout
        conn = self._pick(client_id)
        conn.hold_thread()
        try:
            pending = self._submit_to(conn, dim, None, timeout)
            sent, spin_s = time.monotonic(), conn.spin_s()
            while not pending.event.is_set():
                left = deadline - time.monotonic()
                if left <= 0 or not conn.read_lock.acquire(timeout=left):
                    break
                try:
                    if not (pending.event.is_set() or conn.closed.is_set()) \
                            and not self._read_one(conn, deadline - time.monotonic(), spin_s):
                        break  # nothing came in time
                    # what came with the reply is handled here: the connection's thread, waiting on the socket,
                    # does not see bytes already taken from it
                    while conn.reader.buffered() and not conn.closed.is_set():
                        self._read_one(conn, None)
                except Exception as e:
                    self._drop(conn, self._failure(conn, e))
                finally:
                    conn.read_lock.release()
            conn.answer_s = time.monotonic() - sent
        finally:
            conn.release_thread()
        if not pending.event.is_set() and self.expire(pending, timeout):
            raise pending.error
        pending.event.wait()
        if pending.error is not None:
            raise pending.error
        return pending.result

    def submit(self, dim: str = "1D", client_id: int | None = None, on_done: Callable | None = None,
               timeout: float = 10.0, read_within_s: float = 0.0) -> _Pending:
        """Send ``Send Data <dim>`` to a GRABBER (see :meth:`request`) and return the request.

        The reply settles it in the connection's thread: ``on_done(request)`` is then called there (or in the
        thread that drops the connection, or a :meth:`request` reading its own reply behind it), once, with
        ``request.result`` or ``request.error`` set. A request must be settled or given up: call :meth:`expire`
        when its time is over. ``timeout`` bounds the send. Raises NoClient, ClientLeft or RequestTimeout (the
        send was stuck) at once.

        ``read_within_s``: a reply that is all here within that time is read in the calling thread, which then
        calls ``on_done`` before this returns (no hand-over between threads). The calling thread never waits
        longer, whatever the peer does: a message is read here only once all of it has come
        (:meth:`SocketReader.without_waiting`); anything else is left to the connection's thread.
        """
        _check_dim(dim)
        conn = self._pick(client_id)
        if read_within_s <= 0:
            conn.call_thread()  # its reply is read by the connection's thread: not parked then
            return self._submit_to(conn, dim, on_done, timeout)
        conn.hold_thread()
        try:
            pending = self._submit_to(conn, dim, on_done, timeout)
            sent = time.monotonic()
            self._read_here(conn, pending, sent + read_within_s, conn.spin_s())
            # not answered within the window: the next request sleeps at once (no polling for a slow client)
            conn.answer_s = time.monotonic() - sent if pending.event.is_set() else float("inf")
        finally:
            conn.release_thread()
        if not pending.event.is_set():
            conn.call_thread()
        return pending

    def _read_here(self, conn: _Connection, pending: _Pending, until: float, spin_s: float) -> None:
        """Read whole messages, never waiting for the rest of one, until ``pending`` is settled or ``until``
        (monotonic) has passed (the connection's thread may be reading: its lock is waited for as long)."""
        if not conn.read_lock.acquire(timeout=max(until - time.monotonic(), 0.0)):
            return
        try:
            while not (pending.event.is_set() or conn.closed.is_set()):
                left = until - time.monotonic()
                if left <= 0 or not conn.reader.wait_readable(left, spin_s):
                    return
                try:
                    cmd = conn.reader.without_waiting(lambda: self._handle(conn, conn.wire.read_command()))
                except WouldWait as e:  # the rest of the message is on its way (or it is long: not read here)
                    if e.too_long or not conn.reader.wait_readable(max(until - time.monotonic(), 0.0), spin_s,
                                                                    more=True):
                        return
                    continue
                conn.last_active = time.monotonic()
                if cmd == "Quit":
                    raise _ClientQuit()
        except Exception as e:
            self._drop(conn, self._failure(conn, e))
        finally:
            conn.read_lock.release()

    def _submit_to(self, conn: _Connection, dim: str, on_done: Callable | None, timeout: float) -> _Pending:
        deadline = time.monotonic() + timeout
        pending = _Pending(dim, conn, on_done)
        command = SEND_DATA[dim]
        if not conn.send_lock.acquire(timeout=max(timeout, 0.0)):
            raise RequestTimeout(f"client {conn.info.label}: could not send '{command}' within "
                                 f"{timeout:g} s (an earlier send to it is stuck)")
        try:
            with self._lock:
                if conn.closed.is_set():
                    raise ClientLeft(f"client {conn.info.label} left before the request")
                conn.pending.append(pending)
            try:
                conn.send(conn.wire.message(command), deadline - time.monotonic())
            except OSError as e:  # socket.timeout included: the peer does not read
                self._drop(conn, f"sending '{command}' failed: {e or 'timed out'}")
        finally:
            conn.send_lock.release()
        return pending

    def expire(self, pending: _Pending, timeout: float) -> bool:
        """Give up ``pending`` (its time, ``timeout`` s, is over): if no reply settled it yet, it is settled
        with RequestTimeout and its connection dropped (so that no late reply can answer a later request; the
        client reconnects). True if it was still waiting."""
        conn = pending.conn
        with self._lock:
            timed_out = pending in conn.pending
            if timed_out:
                conn.pending.remove(pending)
        if not timed_out:
            return False
        command = SEND_DATA[pending.dim]
        self._drop(conn, f"no answer to '{command}' within {timeout:g} s (dropped so that no late reply can "
                         f"answer a later request; the client reconnects)")
        pending.error = RequestTimeout(f"client {conn.info.label} did not answer '{command}' within {timeout:g} s "
                                       f"(connection dropped: it reconnects)")
        pending.settle()
        return True

    def send_quit(self, client_id: int | None = None) -> None:
        """Ask a client (None: every client) to end itself (``Quit``)."""
        with self._lock:
            conns = [c for c in self._conns.values() if c.wire is not None
                     and (client_id is None or c.info.id == client_id)]
        for c in conns:
            try:
                self._send(c, c.wire.message("Quit"))
            except BridgeError as e:
                logger.info("bridge: Quit to %s failed: %s", c.info.label, e)

    def send_set_info(self, client_id: int, path: list[str], xml: str) -> None:
        """Forward a setting edited on the server side to the client (``set_info``)."""
        conn = self._pick(client_id)
        self._send(conn, conn.wire.message("set_info", list(path), xml))

    def _send(self, conn: _Connection, data: bytes) -> None:
        """Send one message within message_timeout; a peer that does not take it is dropped."""
        timeout = self.message_timeout
        if not conn.send_lock.acquire(timeout=timeout):
            raise BridgeError(f"client {conn.info.label}: an earlier send is stuck for {timeout:g} s")
        try:
            conn.send(data, timeout)
        except OSError as e:
            self._drop(conn, f"sending failed: {e or 'timed out'}")
            raise ClientLeft(f"client {conn.info.label}: sending failed ({e or 'timed out'}); "
                             f"connection dropped") from None
        finally:
            conn.send_lock.release()

    def _pick(self, client_id: int | None) -> _Connection:
        with self._lock:
            grabbers = [c for c in self._conns.values() if c.info.client_type == "GRABBER"
                        and not c.closed.is_set()]
            if client_id is not None:
                for c in grabbers:
                    if c.info.id == client_id:
                        return c
                raise NoClient(f"client #{client_id} is not connected (connected: "
                               f"{', '.join(c.info.label for c in grabbers) or 'none'})")
            if not grabbers:
                where = f"{self.host}:{self.port}" if self._listener else "nowhere (server stopped)"
                raise NoClient(f"no client connected: start the Time Tagger client on the remote PC "
                               f"(listening on {where})")
            return min(grabbers, key=lambda c: c.info.id)

    # ------------------------------------------------------------------ threads
    def _accept_loop(self) -> None:
        listener = self._listener
        delay = ACCEPT_BACKOFF_FIRST_S
        while not self._stopping.is_set():
            try:
                sock, addr = listener.accept()
            except OSError as e:
                if self._stopping.is_set() or self._listener is not listener or listener.fileno() < 0:
                    break  # the listener was closed: the only way out
                # EMFILE, ENFILE, ENOBUFS, ENOMEM, ECONNABORTED...: transient, wait and go on
                self._log.log(logging.WARNING, ("accept", e.errno),
                              "bridge: accepting a connection failed (%s); retrying in %.2f s", e, delay)
                self._stopping.wait(delay)
                delay = min(delay * 2, ACCEPT_BACKOFF_MAX_S)
                continue
            delay = ACCEPT_BACKOFF_FIRST_S
            try:
                self._admit(sock, addr)
            except OSError as e:  # e.g. EMFILE again for the connection's second descriptor
                self._log.log(logging.WARNING, ("admit", e.errno),
                              "bridge: admitting a connection from %s failed: %s", addr[0], e)
                close_quietly(sock)
            except Exception:  # never let one connection end the accept loop
                logger.exception("bridge: admitting a connection failed")
                close_quietly(sock)
            del sock, addr  # keep nothing of a client here once it has been handed over

    def _admit(self, sock: socket.socket, addr) -> None:
        host, port = addr[0], addr[1]
        if not self._is_allowed(host):
            self._log.log(logging.WARNING, ("refused", host),
                          "bridge: refused a connection from %s (not in the allowed clients)", host)
            self.on_event("dropped", None, f"{host} is not an allowed client")
            close_quietly(sock)
            return
        with self._lock:
            same_host = [c for c in self._conns.values() if c.info.address == host]
            victim = None
            if len(same_host) >= self.max_per_host:
                victim, why = self._evictable(same_host), f"{self.max_per_host} connections from {host}"
            elif len(self._conns) >= self.max_clients:
                victim, why = self._evictable(self._conns.values()), f"{self.max_clients} connections"
            else:
                why = ""
            if why and victim is None:
                self._log.log(logging.WARNING, ("full", host),
                              "bridge: refused %s:%s: already %s, all of them busy", host, port, why)
                self.on_event("dropped", None, f"too many connections ({why}, all busy)")
                close_quietly(sock)
                return
            info = ClientInfo(next(self._ids), host, port)
            conn = _Connection(self, sock, info)
            self._conns[info.id] = conn
        if victim is not None:
            self._log.log(logging.WARNING, ("evict", host), "bridge: %s: evicted %s to admit %s:%s",
                          why, victim.info.label, host, port)
            self._drop(victim, f"evicted to admit a new connection ({why})")
        tune(sock)
        threading.Thread(target=self._serve, args=(conn,), daemon=True,
                         name=f"bridge-client-{info.id}").start()

    @staticmethod
    def _evictable(conns) -> "_Connection | None":
        """The connection to give up for a newcomer: the oldest one that has not identified itself,
        else the identified one idle the longest; never one with a request in flight."""
        conns = [c for c in conns if not c.closed.is_set()]
        unidentified = [c for c in conns if not c.info.client_type]
        if unidentified:
            return min(unidentified, key=lambda c: c.info.id)
        idle = [c for c in conns if not c.pending]
        return min(idle, key=lambda c: c.last_active) if idle else None

    def _serve(self, conn: _Connection) -> None:
        reason = "closed by the client"
        try:
            with conn.read_lock:  # a request picks this client once it has identified itself: not before
                self._handshake(conn)
            self.on_event("connected", conn.info, None)
            while not self._stopping.is_set() and not conn.closed.is_set():
                conn.park()  # while requests read their own replies
                # wait for bytes without reading them: a request may be reading its own reply meanwhile
                if not conn.readable(None):
                    continue  # woken by a request that reads its own reply
                with conn.read_lock:
                    if conn.closed.is_set() or not conn.readable(0):
                        continue  # what woke us was read by a request (or the connection was dropped)
                    self._read_one(conn, None)
        except _ClientQuit:
            reason = "the client said Quit"
        except Exception as e:
            reason = self._failure(conn, e)
        finally:
            conn.reader.release()
            self._drop(conn, reason)

    def _handshake(self, conn: _Connection) -> None:
        conn.reader.set_deadline(self.handshake_timeout)  # the whole handshake, not each recv
        started = time.monotonic()
        if self.secret is not None:
            auth.challenge_peer(conn.sock, self.secret, self.handshake_timeout)
            left = max(self.handshake_timeout - (time.monotonic() - started), 1e-3)
        else:
            left = self.handshake_timeout
        dialect = detect(conn.reader, left)
        conn.info.dialect = dialect
        conn.wire = Wire.for_dialect(dialect, conn.reader, self.max_frame)
        identity = conn.wire.read_command()
        if identity not in CLIENT_TYPES:
            raise ProtocolError(f"first message {identity!r:.60} is not a client type "
                                f"{CLIENT_TYPES}")
        conn.info.client_type = identity
        logger.info("bridge: %s connected as %s", conn.info.label, identity)

    def _read_one(self, conn: _Connection, idle_timeout: float | None, spin_s: float = 0.0) -> bool:
        """Read and handle one message (hold ``conn.read_lock``); False if none began within ``idle_timeout``
        s (None: wait for it). Raises _ClientQuit after a Quit; any other exception means the connection is
        unusable (see :meth:`_failure`)."""
        try:
            conn.reader.wait_message(idle_timeout, spin_s)
        except socket.timeout:
            if idle_timeout is None:
                raise
            return False
        try:
            cmd = conn.wire.read_command()
            self._handle(conn, cmd)
        finally:
            conn.reader.release()
        conn.last_active = time.monotonic()
        if cmd == "Quit":
            raise _ClientQuit()
        return True

    def _failure(self, conn: _Connection, e: BaseException) -> str:
        """Why ``e`` (raised while reading ``conn``) ends the connection; logged as it deserves."""
        if isinstance(e, _ClientQuit):
            return "the client said Quit"
        if isinstance(e, auth.AuthError):
            self._log.log(logging.WARNING, ("auth", conn.info.address), "bridge: refused %s: %s",
                          conn.info.label, e)
            return f"refused: {e}"
        if isinstance(e, ProtocolError):
            reason = f"protocol error: {e}"
        elif isinstance(e, (TimeoutError, socket.timeout)):
            reason = f"timeout: {e}"
        elif isinstance(e, EOFError):
            return str(e)
        elif isinstance(e, OSError):
            return f"connection error: {e}"
        else:  # a bug must not take the server down: drop this client, log it
            logger.error("bridge: dropped %s", conn.info.label, exc_info=e)
            return f"unexpected error: {e!r}"
        logger.warning("bridge: dropped %s: %s", conn.info.label, reason)
        return reason

    def _handle(self, conn: _Connection, cmd: str) -> str:
        """Read the rest of the message ``cmd`` and act on it (every read before any action: see
        :meth:`_read_here`); returns ``cmd``."""
        w = conn.wire
        info = conn.info
        if cmd == "Done":
            payload = w.read_done()
            conn.info.dialect = w.name  # an untyped client is classic or PyMoDAQ 4: its first 'Done' tells
            self._deliver(conn, payload)
        elif cmd == "Infos":
            xml = w.read_string(self.max_settings_xml)
            info.settings_xml = xml
            try:
                info.settings = from_xml_string(xml)
            except ValueError as e:
                info.settings = None
                self._log.log(logging.WARNING, ("settings", info.id),
                              "bridge: %s sent settings that cannot be read: %s", info.label, str(e)[:300])
            self.on_event("settings", info, info.settings)
        elif cmd == "Info":
            name, value = w.read_string(MAX_INFO_NAME_BYTES), w.read_string(self.max_info_bytes)
            old = info.infos.get(name)
            total = info.infos_bytes + len(value) + (len(name) if old is None else -len(old))
            if (old is not None or len(info.infos) < self.max_infos) and total <= self.max_infos_total:
                info.infos[name] = value
                info.infos_bytes = total
            else:
                self._log.log(logging.WARNING, ("infos", info.id),
                              "bridge: %s: Info %r ignored (at most %d Info names and %d bytes of them "
                              "per client)", info.label, name[:60], self.max_infos, self.max_infos_total)
            self.on_event("info", info, (name, value))
            if name == ERROR_INFO and value:
                info.last_error = value
                self._fail_first(conn, ClientReportedError(f"client {info.label}: {value}"))
            elif name == SET_INFO_ERROR_INFO and value:
                # a refused setting: reported, and never taken as the answer to a grab
                info.last_error = value
                logger.warning("bridge: %s refused a setting: %s", info.label, value[:200])
        elif cmd == "Info_xml":
            path, xml = w.read_path(), w.read_string(self.max_settings_xml)
            self.on_event("info_xml", info, (path, xml))
        elif cmd in ("x_axis", "y_axis") and w.name == CLASSIC:
            axis = w.read_axis()
            setattr(info, cmd, axis)
        elif cmd == "Quit":
            pass
        else:
            self._log.log(logging.INFO, ("unknown", info.id, cmd[:60]),
                          "bridge: %s sent the unknown command %r (ignored)", info.label, cmd[:60])
        return cmd

    def _deliver(self, conn: _Connection, payload) -> None:
        with self._lock:
            if not conn.pending:
                self._log.log(logging.WARNING, ("unasked", conn.info.id),
                              "bridge: %s sent data nobody asked for (dropped)", conn.info.label)
                return
            pending = conn.pending.pop(0)
        try:
            if isinstance(payload, list):
                pending.result = classic_to_dte(payload, pending.dim, conn.info)
            else:
                check_reply_dim(payload, pending.dim)
                pending.result = payload
            conn.info.requests_served += 1
        except ReplyMismatch as e:
            pending.error = ReplyMismatch(f"client {conn.info.label}: {e}")
            logger.error("bridge: %s", pending.error)
        except ProtocolError as e:
            pending.error = ClientReportedError(f"client {conn.info.label} sent unusable data: {e}")
        pending.settle()

    def _fail_first(self, conn: _Connection, error: BridgeError) -> None:
        """The client reported an error instead of data: fail its oldest pending request now."""
        with self._lock:
            if not conn.pending:
                self._log.log(logging.INFO, ("unasked-error", conn.info.id),
                              "bridge: %s reported an error while no request was waiting: %s",
                              conn.info.label, str(error)[:200])
                return
            pending = conn.pending.pop(0)  # no 'Done' will come for it: nothing is owed
        pending.error = error
        pending.settle()

    def _drop(self, conn: _Connection, reason: str) -> None:
        with self._lock:
            if conn.closed.is_set():
                return
            conn.closed.set()
            self._conns.pop(conn.info.id, None)
            pending, conn.pending = conn.pending, []
        close_quietly(conn.sock)
        close_quietly(conn.send_sock)
        conn.close_wake()
        for p in pending:
            p.error = ClientLeft(f"client {conn.info.label} left before answering: {reason}")
            p.settle()
        if conn.info.client_type:
            logger.info("bridge: %s disconnected: %s", conn.info.label, reason)
            self.on_event("disconnected", conn.info, reason)
        else:
            self.on_event("dropped", conn.info, reason)
        # release what the client sent (the ClientInfo may be kept by a listener: keep it small)
        info = conn.info
        info.settings_xml, info.settings, info.infos, info.infos_bytes = "", None, {}, 0
        info.x_axis = info.y_axis = None

    def _is_allowed(self, host: str) -> bool:
        if not self.allowed:
            return True
        try:
            ip = ipaddress.ip_address(host.split("%")[0])
        except ValueError:
            return False
        if ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in net for net in self.allowed)


def _check_dim(dim: str) -> None:
    if dim not in SEND_DATA:
        raise ValueError(f"dim must be one of {list(SEND_DATA)}, got {dim!r}")


def check_reply_dim(dte: data_model.DataToExport, dim: str) -> None:
    """A reply to 'Send Data <dim>' must lead with data of that dim (a 1D reply may carry 0D
    companions after it, never the other way round); raise ReplyMismatch otherwise."""
    if dim == "ND" or not dte.data:
        return
    first = dte.data[0].dim
    if first != f"Data{dim}":
        raise ReplyMismatch(f"'{SEND_DATA[dim]}' was answered with {first} data: refused (a reply "
                            f"must match its request: use a TimeTaggerTCPServer viewer of the client's dimension, or "
                            f"let the client serve a {dim} measurement too)")


def parse_allowed(allowed) -> list:
    """'192.168.1.20, 10.0.0.0/24' (or a list) -> networks; raise ValueError naming a bad entry."""
    if not allowed:
        return []
    if isinstance(allowed, str):
        allowed = [a for a in allowed.replace(";", ",").split(",")]
    nets = []
    for a in allowed:
        a = a.strip()
        if not a:
            continue
        try:
            net = ipaddress.ip_network(a, strict=False)
        except ValueError:
            raise ValueError(f"allowed client {a!r} is not an IP address or network (e.g. 192.168.1.20 "
                             f"or 192.168.1.0/24)") from None
        mapped = net.network_address.ipv4_mapped if net.version == 6 else None
        if mapped is not None and net.prefixlen >= 96:  # ::ffff:a.b.c.d[/n]: the IPv4 peer itself
            net = ipaddress.ip_network(f"{mapped}/{net.prefixlen - 96}", strict=False)
        nets.append(net)
    return nets


def classic_to_dte(arrays: list[np.ndarray], dim: str, info: ClientInfo) -> data_model.DataToExport:
    """Classic 'Done' payload (one array per channel) + the latest axes -> a DataToExport."""
    if not arrays:
        raise ProtocolError("'Done' carried no array")
    labels = [f"CH{i:02d}" for i in range(len(arrays))]
    name = info.infos.get("name", "TCP client")
    if dim == "0D":
        if any(np.size(a) != 1 for a in arrays):
            raise ReplyMismatch(f"'{SEND_DATA[dim]}' was answered with arrays of sizes "
                                f"{[int(np.size(a)) for a in arrays]}: refused (a reply must match its "
                                f"request)")
        data = [np.atleast_1d(a).ravel()[:1] for a in arrays]
        dwa = data_model.DataWithAxes(name=name, data=data, dim="Data0D", labels=labels)
    elif dim == "1D":
        if any(np.squeeze(a).ndim > 1 for a in arrays):
            raise ReplyMismatch(f"'{SEND_DATA[dim]}' was answered with arrays of shapes "
                                f"{[a.shape for a in arrays]}: refused (a reply must match its request)")
        data = [np.ravel(a) for a in arrays]
        if len({a.size for a in data}) != 1:
            raise ProtocolError(f"channels of different lengths {[a.size for a in data]}")
        axes = []
        if info.x_axis is not None and info.x_axis[0].size == data[0].size:
            x, label, units = info.x_axis
            axes = [data_model.Axis(label=label, units=units, data=np.asarray(x, dtype=float), index=0)]
        dwa = data_model.DataWithAxes(name=name, data=data, dim="Data1D", labels=labels, axes=axes)
    else:
        data = [np.atleast_2d(a) for a in arrays]
        if len({a.shape for a in data}) != 1:
            raise ProtocolError(f"channels of different shapes {[a.shape for a in data]}")
        axes = []
        ny, nx = data[0].shape
        if info.y_axis is not None and info.y_axis[0].size == ny:
            y, label, units = info.y_axis
            axes.append(data_model.Axis(label=label, units=units, data=np.asarray(y, dtype=float), index=0))
        if info.x_axis is not None and info.x_axis[0].size == nx:
            x, label, units = info.x_axis
            axes.append(data_model.Axis(label=label, units=units, data=np.asarray(x, dtype=float), index=1))
        dwa = data_model.DataWithAxes(name=name, data=data, dim="Data2D", labels=labels, axes=axes)
    return data_model.DataToExport(name=name, data=[dwa])
