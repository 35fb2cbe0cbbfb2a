"""Server core of the bridge (Qt-free): listen, accept clients, ask them for data, mirror their settings.

One thread accepts connections; one thread per client reads its messages (blocking reads: nothing
polls, nothing sleeps). A request sends ``Send Data xD`` to one client in one ``sendall`` and waits for
its ``Done`` with a timeout. Replies carry no request id in this protocol, so a reply that comes after
its request timed out is recognised (the client owes one reply per request, in order) and dropped:
a request never returns the data of an earlier one.

Safety: clients may be restricted to a list of addresses/networks; a client must identify itself
within ``handshake_timeout`` and finish every message it starts within ``message_timeout``; frames
above ``max_frame`` bytes are refused before any allocation. A misbehaving client is dropped with a log
line saying why; the others are not affected.
"""
from __future__ import annotations

import ipaddress
import itertools
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import codec
from .codec import ProtocolError
from .net import SocketReader, close_quietly, tune
from .paramxml import Param, from_xml_string
from .wire import CLASSIC, CLIENT_TYPES, SEND_DATA, Wire, detect

logger = logging.getLogger(__name__)

#: the classic TCP server port of PyMoDAQ (config network.tcp-server.port)
DEFAULT_PORT = 6341
DEFAULT_HOST = "127.0.0.1"


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
    x_axis: tuple | None = None    # classic: (array, label, units)
    y_axis: tuple | None = None
    requests_served: int = 0
    last_error: str = ""

    @property
    def label(self) -> str:
        return f"#{self.id} {self.address}:{self.port} ({self.dialect or '?'})"


class _Pending:
    def __init__(self, dim: str):
        self.dim = dim
        self.event = threading.Event()
        self.result = None
        self.error: BridgeError | None = None


class _Connection:
    def __init__(self, server: "BridgeServer", sock: socket.socket, info: ClientInfo):
        self.server = server
        self.sock = sock
        self.info = info
        self.reader = SocketReader(sock, server.message_timeout)
        self.wire: Wire | None = None
        self.send_lock = threading.Lock()
        self.pending: list[_Pending] = []   # in request order
        self.abandoned = 0                  # requests that timed out and whose reply is still owed
        self.closed = threading.Event()

    def send(self, data: bytes) -> None:
        with self.send_lock:
            self.sock.sendall(data)


class BridgeServer:
    """Listening side of PyMoDAQ's TCP/IP command protocol (both dialects, detected per connection).

    ``on_event(kind, client, data)`` is called from the server's threads for: ``connected``,
    ``disconnected`` (data: reason), ``settings`` (the client's Infos tree), ``info`` ((name, value)),
    ``info_xml`` ((path, xml)), ``dropped`` (a refused or misbehaving connection; data: reason).
    """

    def __init__(self, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *,
                 allowed: list[str] | None = None, max_frame: int = codec.DEFAULT_MAX_FRAME,
                 max_clients: int = 32, handshake_timeout: float = 5.0, message_timeout: float = 30.0,
                 on_event: Callable | None = None):
        self.host = host
        self.requested_port = int(port)
        self.allowed = parse_allowed(allowed)
        self.max_frame = int(max_frame)
        self.max_clients = int(max_clients)
        self.handshake_timeout = handshake_timeout
        self.message_timeout = message_timeout
        self._listeners: list[Callable] = [on_event] if on_event is not None else []
        self._lock = threading.RLock()
        self._conns: dict[int, _Connection] = {}
        self._ids = itertools.count(1)
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

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
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.requested_port))
        except OSError as e:
            sock.close()
            raise OSError(e.errno, f"cannot listen on {self.host}:{self.requested_port}: {e.strerror}") from None
        sock.listen(16)
        self._listener = sock
        self._stopping.clear()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True, name="bridge-accept")
        self._thread.start()
        logger.info("bridge server listening on %s:%d", self.host, self.port)
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

    # ------------------------------------------------------------------ queries and requests
    def clients(self) -> list[ClientInfo]:
        with self._lock:
            return [c.info for c in self._conns.values() if c.info.client_type]

    def request(self, dim: str = "1D", client_id: int | None = None, timeout: float = 10.0):
        """Ask a GRABBER for data (``Send Data <dim>``) and return its DataToExport (codec model).

        ``client_id``: which client (None: the longest-connected GRABBER). Raises NoClient,
        ClientLeft, RequestTimeout or ClientReportedError with a message naming the client.
        """
        if dim not in SEND_DATA:
            raise ValueError(f"dim must be one of {list(SEND_DATA)}, got {dim!r}")
        conn = self._pick(client_id)
        pending = _Pending(dim)
        with self._lock:
            if conn.closed.is_set():
                raise ClientLeft(f"client {conn.info.label} left before the request")
            conn.pending.append(pending)
        try:
            conn.send(conn.wire.message(SEND_DATA[dim]))
        except OSError as e:
            self._drop(conn, f"sending the request failed: {e}")
        if not pending.event.wait(timeout):
            with self._lock:
                if pending in conn.pending:
                    conn.pending.remove(pending)
                    conn.abandoned += 1
            if not pending.event.is_set():
                raise RequestTimeout(f"client {conn.info.label} did not answer '{SEND_DATA[dim]}' within "
                                     f"{timeout:g} s")
        if pending.error is not None:
            raise pending.error
        conn.info.requests_served += 1
        return pending.result

    def send_quit(self, client_id: int | None = None) -> None:
        """Ask a client (None: every client) to end itself (``Quit``)."""
        with self._lock:
            conns = [c for c in self._conns.values() if c.wire is not None
                     and (client_id is None or c.info.id == client_id)]
        for c in conns:
            try:
                c.send(c.wire.message("Quit"))
            except OSError as e:
                logger.info("bridge: Quit to %s failed: %s", c.info.label, e)

    def send_set_info(self, client_id: int, path: list[str], xml: str) -> None:
        """Forward a setting edited on the server side to the client (``set_info``)."""
        conn = self._pick(client_id)
        conn.send(conn.wire.message("set_info", list(path), xml))

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
        while not self._stopping.is_set():
            try:
                sock, addr = listener.accept()
            except OSError:
                break  # listener closed
            host, port = addr[0], addr[1]
            if not self._is_allowed(host):
                logger.warning("bridge: refused a connection from %s (not in the allowed clients)", host)
                self.on_event("dropped", None, f"{host} is not an allowed client")
                close_quietly(sock)
                continue
            with self._lock:
                if len(self._conns) >= self.max_clients:
                    logger.warning("bridge: refused %s:%s: already %d connections", host, port,
                                   self.max_clients)
                    self.on_event("dropped", None, f"too many connections ({self.max_clients})")
                    close_quietly(sock)
                    continue
                info = ClientInfo(next(self._ids), host, port)
                conn = _Connection(self, sock, info)
                self._conns[info.id] = conn
            tune(sock)
            threading.Thread(target=self._serve, args=(conn,), daemon=True,
                             name=f"bridge-client-{info.id}").start()

    def _serve(self, conn: _Connection) -> None:
        reason = "closed by the client"
        try:
            dialect = detect(conn.reader, self.handshake_timeout)
            conn.info.dialect = dialect
            conn.wire = Wire.for_dialect(dialect, conn.reader, self.max_frame)
            conn.sock.settimeout(self.handshake_timeout)
            identity = conn.wire.read_command()
            if identity not in CLIENT_TYPES:
                raise ProtocolError(f"first message {identity!r:.60} is not a client type "
                                    f"{CLIENT_TYPES}")
            conn.info.client_type = identity
            logger.info("bridge: %s connected as %s", conn.info.label, identity)
            self.on_event("connected", conn.info, None)
            while not self._stopping.is_set():
                conn.reader.wait_message(None)
                cmd = conn.wire.read_command()
                self._handle(conn, cmd)
                if cmd == "Quit":
                    reason = "the client said Quit"
                    break
        except ProtocolError as e:
            reason = f"protocol error: {e}"
            logger.warning("bridge: dropped %s: %s", conn.info.label, reason)
        except (TimeoutError, socket.timeout) as e:
            reason = f"timeout: {e}"
            logger.warning("bridge: dropped %s: %s", conn.info.label, reason)
        except EOFError as e:
            reason = str(e)
        except OSError as e:
            reason = f"connection error: {e}"
        except Exception as e:  # a bug must not take the server down: drop this client, log it
            reason = f"unexpected error: {e!r}"
            logger.exception("bridge: dropped %s", conn.info.label)
        finally:
            self._drop(conn, reason)

    def _handle(self, conn: _Connection, cmd: str) -> None:
        w = conn.wire
        if cmd == "Done":
            payload = w.read_done()
            self._deliver(conn, payload)
        elif cmd == "Infos":
            xml = w.read_string()
            conn.info.settings_xml = xml
            try:
                conn.info.settings = from_xml_string(xml)
            except ValueError as e:
                conn.info.settings = None
                logger.warning("bridge: %s sent settings that cannot be read: %s", conn.info.label, e)
            self.on_event("settings", conn.info, conn.info.settings)
        elif cmd == "Info":
            name, value = w.read_string(), w.read_string()
            conn.info.infos[name] = value
            self.on_event("info", conn.info, (name, value))
            if name == "error" and value:
                conn.info.last_error = value
                self._fail_first(conn, ClientReportedError(f"client {conn.info.label}: {value}"))
        elif cmd == "Info_xml":
            path, xml = w.read_path(), w.read_string()
            self.on_event("info_xml", conn.info, (path, xml))
        elif cmd in ("x_axis", "y_axis") and w.name == CLASSIC:
            axis = w.read_axis()
            setattr(conn.info, cmd, axis)
        elif cmd == "Quit":
            pass
        else:
            logger.info("bridge: %s sent the unknown command %r (ignored)", conn.info.label, cmd[:60])

    def _deliver(self, conn: _Connection, payload) -> None:
        with self._lock:
            if conn.abandoned:
                conn.abandoned -= 1
                logger.info("bridge: dropped a late reply of %s (its request had timed out)",
                            conn.info.label)
                return
            if not conn.pending:
                logger.warning("bridge: %s sent data nobody asked for (dropped)", conn.info.label)
                return
            pending = conn.pending.pop(0)
        try:
            pending.result = payload if not isinstance(payload, list) else \
                classic_to_dte(payload, pending.dim, conn.info)
        except ProtocolError as e:
            pending.error = ClientReportedError(f"client {conn.info.label} sent unusable data: {e}")
        pending.event.set()

    def _fail_first(self, conn: _Connection, error: BridgeError) -> None:
        """The client reported an error instead of data: fail its oldest pending request now."""
        with self._lock:
            if not conn.pending:
                return
            pending = conn.pending.pop(0)  # no 'Done' will come for it: nothing is owed
        pending.error = error
        pending.event.set()

    def _drop(self, conn: _Connection, reason: str) -> None:
        with self._lock:
            if conn.closed.is_set():
                return
            conn.closed.set()
            self._conns.pop(conn.info.id, None)
            pending, conn.pending = conn.pending, []
        close_quietly(conn.sock)
        for p in pending:
            p.error = ClientLeft(f"client {conn.info.label} left before answering: {reason}")
            p.event.set()
        if conn.info.client_type:
            logger.info("bridge: %s disconnected: %s", conn.info.label, reason)
            self.on_event("disconnected", conn.info, reason)
        else:
            self.on_event("dropped", conn.info, reason)

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
            nets.append(ipaddress.ip_network(a, strict=False))
        except ValueError:
            raise ValueError(f"allowed client {a!r} is not an IP address or network (e.g. 192.168.1.20 "
                             f"or 192.168.1.0/24)") from None
    return nets


def classic_to_dte(arrays: list[np.ndarray], dim: str, info: ClientInfo) -> codec.DataToExport:
    """Classic 'Done' payload (one array per channel) + the latest axes -> a DataToExport."""
    if not arrays:
        raise ProtocolError("'Done' carried no array")
    labels = [f"CH{i:02d}" for i in range(len(arrays))]
    name = info.infos.get("name", "TCP client")
    if dim == "0D":
        data = [np.atleast_1d(a).ravel()[:1] for a in arrays]
        dwa = codec.DataWithAxes(name=name, data=data, dim="Data0D", labels=labels)
    elif dim == "1D":
        data = [np.ravel(a) for a in arrays]
        if len({a.size for a in data}) != 1:
            raise ProtocolError(f"channels of different lengths {[a.size for a in data]}")
        axes = []
        if info.x_axis is not None and info.x_axis[0].size == data[0].size:
            x, label, units = info.x_axis
            axes = [codec.Axis(label=label, units=units, data=np.asarray(x, dtype=float), index=0)]
        dwa = codec.DataWithAxes(name=name, data=data, dim="Data1D", labels=labels, axes=axes)
    else:
        data = [np.atleast_2d(a) for a in arrays]
        if len({a.shape for a in data}) != 1:
            raise ProtocolError(f"channels of different shapes {[a.shape for a in data]}")
        axes = []
        ny, nx = data[0].shape
        if info.y_axis is not None and info.y_axis[0].size == ny:
            y, label, units = info.y_axis
            axes.append(codec.Axis(label=label, units=units, data=np.asarray(y, dtype=float), index=0))
        if info.x_axis is not None and info.x_axis[0].size == nx:
            x, label, units = info.x_axis
            axes.append(codec.Axis(label=label, units=units, data=np.asarray(x, dtype=float), index=1))
        dwa = codec.DataWithAxes(name=name, data=data, dim="Data2D", labels=labels, axes=axes)
    return codec.DataToExport(name=name, data=[dwa])
