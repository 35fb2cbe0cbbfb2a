"""Server core of the bridge (Qt-free): listen, accept clients, ask them for data, mirror their settings.

One thread accepts connections; one reader thread per connection does every read of it, with blocking reads and
deadlines, and feeds a sans-I/O :class:`~.connection.Connection`. A request (:meth:`BridgeServer.submit`) is a
future: it is recorded and its ``Send Data xD`` written under one per-connection lock (so the wire order of
requests is their order in the connection's list), and the reader settles it. Replies carry no request id in this
protocol, so the server keeps them in order by construction:

* every reply settles exactly one request of its own kind: ``Done`` the oldest request, if its data has the
  requested dimensionality (otherwise an error for that request, never data); an ``Info`` named ``error`` the oldest
  request (as its error); an ``Info`` named ``set_info_error`` (a refused setting) none;
* a request not answered by its deadline drops the connection (one thread of the server keeps the deadlines; the
  client reconnects): a late reply can never be taken for the answer to a later request.

Safety (anything from the wire is hostile): clients may be restricted to addresses/networks (changed at run time
with :meth:`BridgeServer.set_allowed`, which drops peers no longer allowed); an optional shared secret is checked
before anything else is read (:mod:`.auth`); a client must identify itself within ``handshake_timeout`` and finish
every message it starts within ``message_timeout`` (whole-message deadlines, not per ``recv``); at most
``max_clients`` connections and ``max_per_host`` per address, a newcomer evicting an unidentified or idle peer that
was not served recently rather than being refused (a client being served is never evicted); every bound of a
message is the connection's (:mod:`.connection`), and all messages in flight share one memory budget; Infos are
capped in count and size; sends have deadlines (a peer that does not read is dropped); repeated log lines and
events are rate-limited. Transient ``accept`` errors (EMFILE...) back off and go on. A misbehaving client is
dropped with a log line saying why; the others are not affected.
"""
from __future__ import annotations

import concurrent.futures
import heapq
import ipaddress
import itertools
import logging
import socket
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import auth
from .. import data_model
from ..data_model import ProtocolError
from .codec import DEFAULT_MAX_FRAME
from .connection import (Axis, Closed, Command, Connection, DataReply, ERROR_INFO, Info, NEED_DATA, ReplyError,
                         SEND_DATA, SERVER, SET_INFO_ERROR_INFO)
from .net import (IDLE_WAIT_S, MemoryBudget, RateLimitedLog, apply_options, close_quietly, listener_options,
                  platform_name, recv_some, send_parts, tune)
from .paramxml import Param, from_xml_string

logger = logging.getLogger(__name__)

#: the classic TCP server port of PyMoDAQ (config network.tcp-server.port)
DEFAULT_PORT = 6341
DEFAULT_HOST = "127.0.0.1"
#: per-client limits on what a client may make the server keep
MAX_INFOS = 1024
MAX_INFOS_TOTAL_BYTES = 1024 * 1024   # names and values of one client's Infos together
MAX_INFO_NAME_BYTES = 256
MAX_INFO_BYTES = 64 * 1024
MAX_SETTINGS_XML = 4 * 1024 * 1024
#: memory for messages being read by all connections together (at least 3 max. frames)
DEFAULT_INFLIGHT = 256 * 1024 * 1024
LISTEN_BACKLOG = 64
ACCEPT_BACKOFF_FIRST_S = 0.01
ACCEPT_BACKOFF_MAX_S = 1.0
#: deadlines kept before those of settled requests are cleared out
_MAX_DEADLINES = 256
#: a client served within this long is never evicted for a newcomer, s
SERVED_RECENTLY_S = 60.0


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


class Request(concurrent.futures.Future):
    """One 'Send Data xD': a future settled once (a DataToExport, or a BridgeError) by the connection's reader, by
    its deadline, or by whoever drops the connection. ``add_done_callback`` callbacks run in that thread."""

    def __init__(self, dim: str, conn: "_Connection", timeout: float):
        super().__init__()
        self.dim, self.conn, self.timeout = dim, conn, timeout
        self.deadline = time.monotonic() + timeout


class _Deadlines:
    """One thread that gives up the requests whose deadline has passed (``expire(request)``), at their deadline."""

    def __init__(self, expire: Callable):
        self._expire = expire
        self._heap: list = []
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, daemon=True, name="bridge-deadlines")
        self._thread.start()

    def add(self, req: "Request") -> None:
        with self._cond:
            if len(self._heap) >= _MAX_DEADLINES:  # those settled meanwhile go
                self._heap = [e for e in self._heap if (r := e[2]()) is not None and not r.done()]
                heapq.heapify(self._heap)
            heapq.heappush(self._heap, (req.deadline, next(self._seq), weakref.ref(req)))
            if self._heap[0][2]() is req:
                self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._heap.clear()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    self._cond.wait(self._heap[0][0] - time.monotonic() if self._heap else None)
                if self._stopped:
                    return
                req = heapq.heappop(self._heap)[2]()
            if req is not None and not req.done():
                self._expire(req)


class _Connection:
    def __init__(self, server: "BridgeServer", sock: socket.socket, info: ClientInfo):
        self.sock = sock
        # sends go through their own socket object: its timeout (a send deadline) is not the reader's
        self.send_sock = sock.dup()
        self.info = info
        self.proto = Connection(SERVER, max_frame=server.max_frame, limits={
            "Infos": (server.max_settings_xml,), "Info": (MAX_INFO_NAME_BYTES, server.max_info_bytes),
            "Info_xml": (None, server.max_settings_xml)})
        self.send_lock = threading.Lock()  # held from a request's recording until its bytes are on the wire
        self.pending: deque[Request] = deque()  # in wire order
        self.closed = threading.Event()
        self.accepted_at = time.monotonic()
        self.last_served = float("-inf")
        self.message_started: float | None = None
        self.reserved = 0  # bytes of the server's memory budget held for the message being received

    def send(self, parts: list, timeout: float) -> None:
        """Send one whole message within ``timeout`` s (socket.timeout otherwise); hold send_lock."""
        send_parts(self.send_sock, parts, timeout)


class BridgeServer:
    """Listening side of PyMoDAQ's TCP/IP command protocol (every dialect, detected per connection).

    ``on_event(kind, client, data)`` is called from the server's threads for: ``connected``, ``disconnected``
    (data: reason), ``settings`` (the client's Infos tree), ``info`` ((name, value)), ``info_xml`` ((path, xml)),
    ``served`` (a reply delivered), ``dropped`` (a refused or misbehaving connection; data: reason; connections
    closed before identifying themselves are reported at most once per 10 s per address, with the count).

    Limits (all per server unless said): ``max_clients`` connections, ``max_per_host`` of them from one address;
    ``max_infos`` Info names of at most ``max_info_bytes`` each and ``max_infos_total`` bytes in all per client;
    settings XML of at most ``max_settings_xml`` bytes; ``max_inflight`` bytes for the messages being read by all
    connections. ``secret``: a shared secret the peers must prove first (:mod:`.auth`); None: PyMoDAQ's protocol
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
        self._deadlines: _Deadlines | None = None

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
            sock.listen(LISTEN_BACKLOG)
        except OSError as e:
            sock.close()
            raise OSError(e.errno, f"cannot listen on {self.host}:{self.requested_port}: "
                                   f"{e.strerror or e}") from None
        self._listener = sock
        self._stopping.clear()
        self._deadlines = _Deadlines(self.expire)
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
        if self._deadlines is not None:
            self._deadlines.stop()
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
        """Ask a GRABBER for data (``Send Data <dim>``) and return its DataToExport.

        ``client_id``: which client (None: the longest-connected GRABBER). Raises NoClient, ClientLeft,
        RequestTimeout, ReplyMismatch or ClientReportedError with a message naming the client. A request that times
        out drops the connection (the client reconnects): replies carry no request id, so a late reply could
        otherwise be taken for the answer to a later request.
        """
        req = self.submit(dim, client_id, timeout=timeout)
        try:
            return req.result(timeout + 1.0)  # the reader settles it by its deadline
        except concurrent.futures.TimeoutError:
            self.expire(req)
            return req.result()

    def submit(self, dim: str = "1D", client_id: int | None = None, on_done: Callable | None = None,
               timeout: float = 10.0) -> Request:
        """Send ``Send Data <dim>`` to a GRABBER (see :meth:`request`) and return the :class:`Request` (a future);
        ``on_done(request)`` is called once it is settled, in the thread that settles it. The connection's reader
        gives it up after ``timeout`` s (RequestTimeout, the connection dropped). Raises NoClient or ClientLeft at
        once; a send that is stuck settles it with RequestTimeout."""
        if dim not in SEND_DATA:
            raise ValueError(f"dim must be one of {list(SEND_DATA)}, got {dim!r}")
        conn = self._pick(client_id)
        req = Request(dim, conn, timeout)
        if on_done is not None:
            req.add_done_callback(on_done)
        command = SEND_DATA[dim]
        if not conn.send_lock.acquire(timeout=max(timeout, 0.0)):
            self._settle(req, RequestTimeout(f"client {conn.info.label}: could not send '{command}' within "
                                             f"{timeout:g} s (an earlier send to it is stuck)"))
            return req
        try:
            with self._lock:
                if conn.closed.is_set():
                    raise ClientLeft(f"client {conn.info.label} left before the request")
                conn.pending.append(req)
            if self._deadlines is not None:
                self._deadlines.add(req)
            try:
                conn.send(conn.proto.send(command), timeout)
            except OSError as e:  # socket.timeout included: the peer does not read
                self._drop(conn, f"sending '{command}' failed: {e or 'timed out'}")
        finally:
            conn.send_lock.release()
        return req

    def expire(self, req: Request, timeout: float | None = None) -> bool:
        """Give ``req`` up now if no reply settled it yet: it is settled with RequestTimeout and its connection
        dropped (so that no late reply can answer a later request; the client reconnects). True if it was still
        waiting."""
        conn = req.conn
        with self._lock:
            waiting = req in conn.pending
            if waiting:
                conn.pending.remove(req)
        if not waiting:
            return False
        timeout = req.timeout if timeout is None else timeout
        command = SEND_DATA[req.dim]
        self._drop(conn, f"no answer to '{command}' within {timeout:g} s (dropped so that no late reply can "
                         f"answer a later request; the client reconnects)")
        self._settle(req, RequestTimeout(f"client {conn.info.label} did not answer '{command}' within "
                                         f"{timeout:g} s (connection dropped: it reconnects)"))
        return True

    @staticmethod
    def _settle(req: Request, outcome) -> None:
        if isinstance(outcome, BaseException):
            req.set_exception(outcome)
        else:
            req.set_result(outcome)

    def send_quit(self, client_id: int | None = None) -> None:
        """Ask a client (None: every client) to end itself (``Quit``)."""
        with self._lock:
            conns = [c for c in self._conns.values() if c.proto.dialect is not None
                     and (client_id is None or c.info.id == client_id)]
        for c in conns:
            try:
                self._send(c, c.proto.send("Quit"))
            except BridgeError as e:
                logger.info("bridge: Quit to %s failed: %s", c.info.label, e)

    def send_set_info(self, client_id: int, path: list[str], xml: str) -> None:
        """Forward a setting edited on the server side to the client (``set_info``)."""
        conn = self._pick(client_id)
        self._send(conn, conn.proto.send("set_info", list(path), xml))

    def _send(self, conn: _Connection, parts: list) -> None:
        """Send one message within message_timeout; a peer that does not take it is dropped."""
        timeout = self.message_timeout
        if not conn.send_lock.acquire(timeout=timeout):
            raise BridgeError(f"client {conn.info.label}: an earlier send is stuck for {timeout:g} s")
        try:
            conn.send(parts, timeout)
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

    # ------------------------------------------------------------------ accepting
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
            self._dropped_event(None, host, f"{host} is not an allowed client")
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
                self._dropped_event(None, host, f"too many connections ({why}, all busy or served recently)")
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
        """The connection to give up for a newcomer: the oldest one that has not identified itself, else the
        identified one accepted longest ago among those never served, else the one served longest ago; never one
        with a request in flight or served within SERVED_RECENTLY_S."""
        now = time.monotonic()
        conns = [c for c in conns if not c.closed.is_set() and not c.pending
                 and now - c.last_served > SERVED_RECENTLY_S]
        if not conns:
            return None
        return min(conns, key=lambda c: (bool(c.info.client_type), c.last_served, c.accepted_at))

    # ------------------------------------------------------------------ the connection's reader
    def _serve(self, conn: _Connection) -> None:
        reason = "closed by the client"
        try:
            if self.secret is not None:
                auth.challenge_peer(conn.sock, self.secret, self.handshake_timeout)
            while not conn.closed.is_set():
                timeout = self._wait_s(conn)
                try:
                    data = recv_some(conn.sock, conn.proto.needed, timeout)
                except socket.timeout:
                    self._deadline_passed(conn)
                    continue
                self._reserve(conn)
                conn.proto.receive_data(data)
                if conn.proto.in_message:
                    if conn.message_started is None:
                        conn.message_started = time.monotonic()
                else:
                    conn.message_started = None
                    self._release(conn)
                while True:
                    event = conn.proto.next_event()
                    if event is NEED_DATA:
                        break
                    if isinstance(event, Closed):
                        return
                    self._handle(conn, event)
        except _ClientQuit:
            reason = "the client said Quit"
        except Exception as e:
            reason = self._failure(conn, e)
        finally:
            self._release(conn)
            self._drop(conn, reason)

    def _wait_s(self, conn: _Connection) -> float:
        """How long the reader may wait for bytes: until the first deadline due (handshake, message, request)."""
        now = time.monotonic()
        due = [now + IDLE_WAIT_S]
        if not conn.info.client_type:
            due.append(conn.accepted_at + self.handshake_timeout)
        if conn.message_started is not None:
            due.append(conn.message_started + self.message_timeout)
        return max(min(due) - now, 0.0)

    def _deadline_passed(self, conn: _Connection) -> None:
        now = time.monotonic()
        if not conn.info.client_type and now >= conn.accepted_at + self.handshake_timeout:
            raise TimeoutError(f"the client did not identify itself within {self.handshake_timeout:g} s "
                               f"(expected e.g. 'GRABBER')")
        if conn.message_started is not None and now >= conn.message_started + self.message_timeout:
            raise TimeoutError(f"the client did not finish its message in time (within {self.message_timeout:g} s)")

    def _reserve(self, conn: _Connection) -> None:
        """A large message being received holds its share of the server's memory budget until it is whole."""
        needed = conn.proto.needed
        if not conn.reserved and needed >= self.budget.min_bytes:
            left = self.message_timeout - (time.monotonic() - (conn.message_started or time.monotonic()))
            conn.reserved = self.budget.acquire(needed, max(left, 0.0))

    def _release(self, conn: _Connection) -> None:
        if conn.reserved:
            self.budget.release(conn.reserved)
            conn.reserved = 0

    def _failure(self, conn: _Connection, e: BaseException) -> str:
        """Why ``e`` (raised while reading ``conn``) ends the connection; logged as it deserves."""
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
        self._log.log(logging.WARNING, ("dropped", conn.info.address), "bridge: dropped %s: %s",
                      conn.info.label, reason)
        return reason

    def _handle(self, conn: _Connection, event) -> None:
        info = conn.info
        if isinstance(event, DataReply):
            info.dialect = conn.proto.dialect  # an untyped client is classic or PyMoDAQ 4: its first 'Done' tells
            self._deliver(conn, event.data)
        elif isinstance(event, ReplyError):
            info.last_error = event.text
            self._keep_info(info, ERROR_INFO, event.text)
            self._fail_first(conn, ClientReportedError(f"client {info.label}: {event.text}"))
        elif isinstance(event, Info) and event.name is None and not event.path:  # Infos: the settings tree
            info.settings_xml = event.value
            try:
                info.settings = from_xml_string(event.value)
            except ValueError as e:
                info.settings = None
                self._log.log(logging.WARNING, ("settings", info.id),
                              "bridge: %s sent settings that cannot be read: %s", info.label, str(e)[:300])
            self.on_event("settings", info, info.settings)
        elif isinstance(event, Info) and event.name is None:
            self.on_event("info_xml", info, (list(event.path), event.value))
        elif isinstance(event, Info):
            self._keep_info(info, event.name, event.value)
        elif isinstance(event, Axis):
            setattr(info, event.name, (event.data, event.label, event.units))
        elif event.name in ("GRABBER", "ACTUATOR") and not info.client_type:
            info.client_type = event.name
            info.dialect = conn.proto.dialect
            logger.info("bridge: %s connected as %s", info.label, event.name)
            self.on_event("connected", info, None)
        elif event.name == "Quit":
            raise _ClientQuit()
        else:
            self._log.log(logging.INFO, ("unknown", info.id), "bridge: %s sent the unknown command %r (ignored)",
                          info.label, event.name[:60])

    def _keep_info(self, info: ClientInfo, name: str, value: str) -> None:
        old = info.infos.get(name)
        total = info.infos_bytes + len(value) + (len(name) if old is None else -len(old))
        if (old is not None or len(info.infos) < self.max_infos) and total <= self.max_infos_total:
            info.infos[name] = value
            info.infos_bytes = total
        else:
            self._log.log(logging.WARNING, ("infos", info.id),
                          "bridge: %s: Info %r ignored (at most %d Info names and %d bytes of them per client)",
                          info.label, name[:60], self.max_infos, self.max_infos_total)
        self.on_event("info", info, (name, value))
        if name == SET_INFO_ERROR_INFO and value:  # a refused setting: reported, never an answer to a grab
            info.last_error = value
            self._log.log(logging.WARNING, ("set_info_error", info.id), "bridge: %s refused a setting: %s",
                          info.label, value[:200])

    def _deliver(self, conn: _Connection, payload) -> None:
        with self._lock:
            if not conn.pending:
                self._log.log(logging.WARNING, ("unasked", conn.info.id),
                              "bridge: %s sent data nobody asked for (dropped)", conn.info.label)
                return
            req = conn.pending.popleft()
        try:
            if isinstance(payload, list):
                result = classic_to_dte(payload, req.dim, conn.info)
            else:
                check_reply_dim(payload, req.dim)
                result = payload
            conn.info.requests_served += 1
            conn.last_served = time.monotonic()
        except ReplyMismatch as e:
            result = ReplyMismatch(f"client {conn.info.label}: {e}")
            logger.error("bridge: %s", result)
        except ProtocolError as e:
            result = ClientReportedError(f"client {conn.info.label} sent unusable data: {e}")
        self._settle(req, result)
        if not isinstance(result, BaseException):
            self.on_event("served", conn.info, req.dim)

    def _fail_first(self, conn: _Connection, error: BridgeError) -> None:
        """The client reported an error instead of data: fail its oldest pending request now."""
        with self._lock:
            if not conn.pending:
                self._log.log(logging.INFO, ("unasked-error", conn.info.id),
                              "bridge: %s reported an error while no request was waiting: %s",
                              conn.info.label, str(error)[:200])
                return
            req = conn.pending.popleft()  # no 'Done' will come for it: nothing is owed
        self._settle(req, error)

    def _drop(self, conn: _Connection, reason: str) -> None:
        with self._lock:
            if conn.closed.is_set():
                return
            conn.closed.set()
            self._conns.pop(conn.info.id, None)
            pending, conn.pending = list(conn.pending), deque()
        close_quietly(conn.sock)
        close_quietly(conn.send_sock)
        for req in pending:
            self._settle(req, ClientLeft(f"client {conn.info.label} left before answering: {reason}"))
        if conn.info.client_type:
            logger.info("bridge: %s disconnected: %s", conn.info.label, reason)
            self.on_event("disconnected", conn.info, reason)
        else:
            self._dropped_event(conn.info, conn.info.address, reason)
        # release what the client sent (the ClientInfo may be kept by a listener: keep it small)
        info = conn.info
        info.settings_xml, info.settings, info.infos, info.infos_bytes = "", None, {}, 0
        info.x_axis = info.y_axis = None

    def _dropped_event(self, info, host: str, reason: str) -> None:
        """A connection refused or closed before it identified itself: at most one event per address and kind of
        reason per 10 s (a port scanner or a bare connect + close in a loop is not a flood of warnings)."""
        held_back = self._log.allow(("dropped-event", host, reason.partition(":")[0]))
        if held_back is not None:
            self.on_event("dropped", info, reason + (f" ({held_back} more from {host} not shown)" if held_back
                                                     else ""))

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

