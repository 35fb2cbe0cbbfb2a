"""Socket helpers shared by the bridge's server and client: exact reads with whole-message deadlines,
socket options chosen per platform, a server-wide memory budget for frames in flight."""
from __future__ import annotations

import errno
import logging
import math
import os
import select
import socket
import sys
import threading
import time
from typing import Callable

_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


#: reads of at least this many bytes not yet buffered go straight into their final buffer (a bytearray)
DIRECT_READ_BYTES = 1 << 16

#: an idle wait without timeout is made of waits of this length
_IDLE_SLICE_S = 3600.0

#: POSIX: a socket in timeout (or non-blocking) mode has O_NONBLOCK set on its file, so reads and writes go
#: straight to read(2)/readv(2)/write(2) after our own poll(2), with our own deadlines. CPython's timeout mode
#: costs an ioctl (``settimeout``) and a poll of its own per call, each releasing and taking back the
#: interpreter lock: ~3 system calls more per message, measured (benchmarks/) as part of issue 15's core
#: round trip. Elsewhere (Windows: no read(2) on sockets) the socket's own timeout mode is used.
FD_IO = os.name == "posix" and hasattr(os, "readv") and hasattr(select, "poll")

#: TCP keep-alive: first probe after this many idle seconds, then every KEEPALIVE_INTERVAL_S,
#: the peer is declared dead after KEEPALIVE_COUNT unanswered probes (about 25 s in all)
KEEPALIVE_IDLE_S = 10
KEEPALIVE_INTERVAL_S = 5
KEEPALIVE_COUNT = 3


#: a message read without waiting (:meth:`SocketReader.without_waiting`) is at most this long; a longer one is
#: left to a reader that may wait (the memory budget's reservations are for those), at once: an incomplete message
#: is decoded again from its start when more bytes come, cheap only for short ones (a 4096-bin reply is 64 KiB)
NOWAIT_MAX_BYTES = 1 << 18


class WouldWait(Exception):
    """(:meth:`SocketReader.without_waiting`) the message is not all here yet, or ``too_long`` to be read so;
    nothing of it was consumed."""

    def __init__(self, too_long: bool = False):
        super().__init__("too long to be read without waiting" if too_long else "not all here yet")
        self.too_long = too_long


class SocketReader:
    """``read(n)`` returns exactly n bytes from a socket, or raises EOFError when the peer closed.

    The first byte of a message may be awaited with ``idle_timeout`` (None: wait for ever, an idle peer
    is fine); once a message has begun, the whole of it must come within ``message_timeout`` seconds
    (one deadline for the message, not one per ``recv``: a peer dripping a byte now and then is dropped
    as surely as a silent one). :meth:`set_deadline` sets the deadline explicitly (the handshake).

    ``budget`` (a :class:`MemoryBudget`, optional): reads of ``budget.min_bytes`` or more reserve
    memory from it first (waiting, within the deadline, for other connections to release theirs); the
    reservations are held until :meth:`release` (call it once the message has been handled).
    """

    def __init__(self, sock: socket.socket, message_timeout: float | None = 30.0,
                 budget: "MemoryBudget | None" = None, nowait_limit: bool = True):
        self.sock = sock
        self.message_timeout = message_timeout
        self.budget = budget
        # False: a message of any size is read without waiting once it is all here (a reader with nobody to leave a
        # long one to: the client during an answer)
        self.nowait_limit = nowait_limit
        if sock.gettimeout() is None:
            # never a blocking socket: a blocking read would ignore every deadline. The server sends through a
            # dup() of this socket with its own timeout, and both share the file's O_NONBLOCK flag
            sock.settimeout(_IDLE_SLICE_S)
        self._buf = bytearray()
        self._deadline: float | None = None
        self._reserved = 0
        self._nowait: int | None = None    # while reading without waiting: where the next read starts in _buf

    def without_waiting(self, read_message: Callable[[], object]):
        """``read_message()`` (which reads through this reader) run on the bytes already here or in the socket's
        buffer, never waiting for more: its value, or WouldWait if the message is not complete yet, the reader
        then being exactly as before (nothing is taken from the buffer until the message has been read whole).
        Messages of ``NOWAIT_MAX_BYTES`` or more are WouldWait too, unless the reader was made with
        ``nowait_limit=False``. What ``read_message`` does must be undone by nothing: it may only read."""
        self._nowait = 0
        try:
            self._fill_now(1)  # all that is here: a command already whole is recognised at once (read_command)
            value = read_message()
            del self._buf[:self._nowait]
            return value
        finally:
            self._nowait = None

    def _fill_now(self, n: int) -> None:
        """(without_waiting) at least ``n`` bytes after the read position, from the socket as far as it goes
        without waiting; WouldWait if they are not there."""
        while len(self._buf) - self._nowait < n:
            fd = self._fd()  # looked up before every read (see _recv)
            try:
                # what is missing, at least 64 KiB, at most 1 MiB a read (os.read allocates all it may read first:
                # 1 MiB costs ~40 us)
                want = min(max(n - len(self._buf) + self._nowait, 1 << 16), 1 << 20)
                chunk = os.read(fd, want) if fd >= 0 else self._recv_now(want)
            except BlockingIOError:
                raise WouldWait() from None
            if not chunk:
                raise EOFError(f"the peer closed the connection in the middle of a message "
                               f"({len(self._buf) - self._nowait} of {n} bytes)")
            self._buf += chunk

    def _take_now(self, n: int):
        """(without_waiting) the next n bytes."""
        limit = NOWAIT_MAX_BYTES if self.nowait_limit else None
        if self.budget is not None:
            limit = self.budget.min_bytes if limit is None else min(limit, self.budget.min_bytes)
        start = self._nowait
        if limit is not None and start + n >= limit:  # this message is too long to be read so
            raise WouldWait(too_long=True)
        self._fill_now(n)
        self._nowait = start + n
        out = self._buf[start:start + n]  # one copy (a bytearray, as large direct reads are)
        return out if n >= DIRECT_READ_BYTES else bytes(out)

    def _recv_now(self, n: int) -> bytes:
        self.sock.settimeout(0.0)
        try:
            return self.sock.recv(n)
        finally:
            self.sock.settimeout(_IDLE_SLICE_S)

    def buffered(self) -> int:
        """Bytes received and not read yet."""
        return len(self._buf) - (self._nowait or 0)

    def unread(self, data: bytes) -> None:
        """Put back bytes just read (they are read again next)."""
        if self._nowait is not None:  # still in the buffer: step back
            self._nowait -= len(data)
            return
        self._buf[:0] = data

    def peek(self, n: int) -> bytes:
        """Up to ``n`` bytes already received and not yet read (read-only: nothing is consumed, the socket is
        not read)."""
        start = self._nowait or 0
        return bytes(self._buf[start:start + n])

    def set_deadline(self, seconds: float | None) -> None:
        """Everything read until the next :meth:`wait_message` must arrive within ``seconds``."""
        self._deadline = None if seconds is None else time.monotonic() + seconds

    def _left(self, have: int, n: int) -> float | None:
        if self._deadline is None:
            return self.message_timeout if self.message_timeout is not None else _IDLE_SLICE_S
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"the peer did not finish its message in time ({have} of {n} bytes "
                               f"received)")
        return left

    def _quickack(self) -> None:
        # Peers that write a message in several small sends (PyMoDAQ 5.0/5.1 clients send 'Done' and the
        # data apart, without TCP_NODELAY) otherwise wait ~40 ms for our delayed ACK (Linux only: other
        # systems have no TCP_QUICKACK, our own sends never wait since TCP_NODELAY is set everywhere)
        if _QUICKACK is not None:
            try:
                self.sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
            except OSError:
                pass

    def wait_message(self, idle_timeout: float | None = None, spin_s: float = 0.0) -> None:
        """Block until at least one byte of a new message is available (socket.timeout on timeout);
        the message's deadline starts then. ``spin_s``: first poll without sleeping for that long (see
        :func:`wait_fd`)."""
        if not self._buf:
            self._quickack()
            while True:
                chunk = self._recv(65536, idle_timeout if idle_timeout is not None else _IDLE_SLICE_S, spin_s=spin_s)
                if chunk is not None:
                    break
                if idle_timeout is not None:
                    raise socket.timeout("timed out")
            if not chunk:
                raise EOFError("the peer closed the connection")
            self._buf += chunk
        self.set_deadline(self.message_timeout)

    def wait_readable(self, timeout: float, spin_s: float = 0.0, more: bool = False) -> bool:
        """True if bytes are buffered (``more``: not counted), or the socket has some (or failed) within
        ``timeout`` s; nothing is read. ``spin_s``: see :func:`wait_fd`."""
        if self._buf and not more:
            return True
        fd = self._fd()
        if fd >= 0:
            return wait_fd(fd, select.POLLIN | select.POLLPRI, timeout, spin_s)
        return spin_until(self._selected, min(spin_s, timeout)) or self._selected(max(timeout, 0.0))

    def _selected(self, wait: float = 0.0) -> bool:
        """(no read(2) on this socket) select(2) says it has bytes (or failed) within ``wait`` s. OSError if the socket
        is closed (by another thread: select would raise ValueError)."""
        try:
            got, _, failed = select.select([self.sock], [], [self.sock], wait)
        except ValueError:  # its descriptor is -1 now
            raise _closed() from None
        return bool(got or failed)

    def _fd(self) -> int:
        """The socket's descriptor for read(2), or -1 to use the socket's own calls (see ``FD_IO``). Looked up again
        before every read: a socket closed by another thread during a wait has -1 (OSError here), and its old
        number may already belong to another socket."""
        if not FD_IO or self.sock.gettimeout() is None:
            return -1
        return _fileno(self.sock)

    def _recv(self, n: int, timeout: float, into=None, spin_s: float = 0.0):
        """Up to ``n`` bytes (or ``recv_into(into)``'s count) within ``timeout`` s; None if nothing came."""
        fd = self._fd()
        if fd < 0:
            if spin_s > 0:
                spin_until(self._selected, min(spin_s, timeout))
            self.sock.settimeout(max(timeout, 1e-6))
            try:
                return self.sock.recv(n) if into is None else self.sock.recv_into(into)
            except socket.timeout:
                return None
        deadline = time.monotonic() + timeout
        while True:
            if not wait_fd(fd, select.POLLIN | select.POLLPRI, timeout, spin_s):
                return None
            # the socket may have been closed meanwhile and its number given to another: look it up again
            fd = self._fd()
            try:
                return os.read(fd, n) if into is None else os.readv(fd, [into])
            except BlockingIOError:  # woken for nothing: wait again, same deadline
                timeout = deadline - time.monotonic()
                if timeout <= 0:
                    return None

    def read(self, n: int) -> bytes:
        if n < 0:
            raise ValueError(f"cannot read {n} bytes")
        if self._nowait is not None:
            return self._take_now(n)
        if len(self._buf) >= n:
            out = self._buf[:n]  # one copy (a bytearray, as large direct reads are)
            del self._buf[:n]
            return out if n >= DIRECT_READ_BYTES else bytes(out)
        if self.budget is not None and n >= self.budget.min_bytes:
            self._reserved += self.budget.acquire(n, self._left(0, n))
        have = len(self._buf)
        if n >= DIRECT_READ_BYTES:
            return self._read_into(n, have)
        parts = [bytes(self._buf)]
        self._buf.clear()
        while have < n:
            chunk = self._receive(have, n)
            parts.append(chunk)
            have += len(chunk)
        return b"".join(parts)

    def _receive(self, have: int, n: int, into=None):
        """One read of a message of ``n`` bytes (``have`` so far) within its deadline: bytes (at most
        ``min(n - have, 1 MiB)``), or the count read into ``into``; TimeoutError past the deadline, EOFError if
        the peer closed the connection."""
        self._quickack()
        got = self._recv(min(n - have, 1 << 20), self._left(have, n), into)
        if got is None:
            raise TimeoutError(f"the peer did not finish its message in time ({have} of {n} bytes "
                               f"received; at most {self.message_timeout} s per message)")
        if not got:
            raise EOFError(f"the peer closed the connection in the middle of a message "
                           f"({have} of {n} bytes)")
        return got

    def _read_into(self, n: int, have: int) -> bytearray:
        """The rest of a large read received straight into its final buffer: one copy of the payload
        (the kernel's), not a chunk per recv and a join. Same deadline and errors as :meth:`read`."""
        out = bytearray(n)
        with memoryview(out) as view:
            view[:have] = self._buf
            self._buf.clear()
            while have < n:
                have += self._receive(have, n, view[have:])
        return out

    def release(self) -> None:
        """Give back the memory reserved for the message just handled."""
        if self._reserved and self.budget is not None:
            self.budget.release(self._reserved)
        self._reserved = 0


#: a thread that waits for a peer's next message polls without sleeping for up to this long first, but only when the
#: peer's previous one came within this time (:func:`spin_for`): on virtual machines whose idle CPUs halt, a thread
#: that sleeps is woken ~45 us later than one that polls (measured: benchmarks/, issue 15; a raw socket's round trip
#: there is 16 us when the peer is back within 10 us, 62 us when it is away 20 us or more). A peer slower than this
#: is waited for asleep at once: a scan's grabs, seconds apart, cost no CPU.
SPIN_MAX_S = 500e-6


def spin_for(last_s: float) -> float:
    """How long to poll before sleeping for a peer's next message, when its previous one took ``last_s`` s."""
    return SPIN_MAX_S if last_s < SPIN_MAX_S else 0.0


def spin_until(ready: Callable[[], bool], spin_s: float) -> bool:
    """Call ``ready()`` (a poll with no timeout) again and again for up to ``spin_s`` s: True as soon as it says
    so (why: see SPIN_MAX_S)."""
    if spin_s <= 0:
        return False
    end = time.perf_counter() + spin_s
    while True:
        if ready():
            return True
        if time.perf_counter() >= end:
            return False


def _closed() -> OSError:
    return OSError(errno.EBADF, "the socket is closed")


def _fileno(sock: socket.socket) -> int:
    """``sock``'s descriptor; OSError once it is closed (by another thread, maybe during a wait)."""
    fd = sock.fileno()
    if fd < 0:
        raise _closed()
    return fd


def wait_fd(fd: int, events: int, timeout: float | None, spin_s: float = 0.0) -> bool:
    """poll(2) one descriptor for ``events`` within ``timeout`` s (None: for ever); True if it is ready (or
    failed: the next read or write says how). ``spin_s``: poll without sleeping for up to that long first
    (:func:`spin_until`)."""
    poller = select.poll()
    poller.register(fd, events)
    if spin_s > 0 and spin_until(lambda: bool(poller.poll(0)), spin_s if timeout is None else min(spin_s, timeout)):
        return True
    ms = None if timeout is None else max(0, math.ceil(timeout * 1000.0))
    return bool(poller.poll(ms))


#: a message given as parts (Wire.message_parts) smaller than this is joined and written at once; a larger one is
#: written from its parts (writev(2)): its arrays are not copied once more on their way to the kernel
GATHER_BYTES = 1 << 16


def send_all(sock: socket.socket, data, timeout: float) -> None:
    """Send all of ``data`` (a bytes-like object, or a list of them: one message in parts) within ``timeout`` s
    (socket.timeout otherwise, OSError if the peer is gone). POSIX sockets in timeout mode are written with
    write(2)/writev(2) and our own poll (see ``FD_IO``); others with ``settimeout`` + ``sendall``."""
    fd_io = FD_IO and sock.gettimeout() is not None
    if isinstance(data, list):
        if not fd_io or sum(memoryview(p).nbytes for p in data) < GATHER_BYTES:
            data = b"".join(data)
    if not fd_io:
        sock.settimeout(max(timeout, 1e-3))
        sock.sendall(data)
        return
    _write_parts(sock, data if isinstance(data, list) else [data], timeout)


def _write_parts(sock: socket.socket, parts: list, timeout: float) -> None:
    """(send_all) a message (one part or several) with writev(2), however much each call takes."""
    views = [memoryview(p).cast("B") for p in parts if len(p)]
    total = sum(len(v) for v in views)
    deadline = time.monotonic() + timeout
    sent = 0
    while views:
        fd = _fileno(sock)  # looked up before every write: after a wait it may have been closed (and reused)
        try:
            k = os.writev(fd, views[:_IOV_MAX])
        except BlockingIOError:
            left = deadline - time.monotonic()
            if left <= 0 or not wait_fd(fd, select.POLLOUT, left):
                raise socket.timeout(f"timed out sending ({sent} of {total} bytes sent in {timeout:g} s)") from None
            continue
        sent += k
        while views and k >= len(views[0]):
            k -= len(views.pop(0))
        if k:
            views[0] = views[0][k:]


_IOV_MAX = os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") and "SC_IOV_MAX" in getattr(os, "sysconf_names", {}) \
    else 16


class MemoryBudget:
    """Bytes of frames in flight for a whole server (all connections together).

    A read of ``n >= min_bytes`` bytes reserves ``factor * n`` (the payload, its assembly and what
    decoding it may allocate; at most ``total``) and waits for it; small messages never wait, so a
    good client's replies are not held up by large frames of others.
    """

    def __init__(self, total: int, min_bytes: int = 1 << 20, factor: int = 3):
        self.total = int(total)
        self.min_bytes = int(min_bytes)
        self.factor = int(factor)
        self.used = 0
        self.peak = 0
        self._cond = threading.Condition()

    def acquire(self, n: int, timeout: float | None) -> int:
        want = min(self.factor * n, self.total)
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self.used + want > self.total:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError(f"no memory for a frame of {n} bytes: {self.used} of {self.total} "
                                       f"bytes are held by frames of other connections")
                self._cond.wait(left)
            self.used += want
            self.peak = max(self.peak, self.used)
        return want

    def release(self, n: int) -> None:
        with self._cond:
            self.used -= n
            self._cond.notify_all()


# ------------------------------------------------------------------------------- socket options
def platform_name() -> str:
    """'windows', 'darwin' or 'linux' (any other POSIX system is treated as Linux-like)."""
    if os.name == "nt":
        return "windows"
    return "darwin" if sys.platform == "darwin" else "linux"


def listener_options(platform: str, family: int) -> list[tuple[str, str, int]]:
    """Socket options of a listening socket, as (level, option, value) names, chosen as CPython's
    ``socket.create_server`` does: exclusive binding on Windows (``SO_REUSEADDR`` there would let a
    second server bind a port already listening), ``SO_REUSEADDR`` on POSIX (a restart does not wait
    for TIME_WAIT); an IPv6 listener is explicitly dual-stack (``IPV6_V6ONLY=0``: Windows defaults to
    IPv6-only)."""
    opts = [("SOL_SOCKET", "SO_EXCLUSIVEADDRUSE", 1)] if platform == "windows" else \
        [("SOL_SOCKET", "SO_REUSEADDR", 1)]
    if family == socket.AF_INET6:
        opts.append(("IPPROTO_IPV6", "IPV6_V6ONLY", 0))
    return opts


def connection_options(platform: str) -> list[tuple[str, str, object]]:
    """Options of a connected socket: no Nagle (replies go out at once), TCP keep-alive with the
    same timing on every system (Linux: TCP_KEEPIDLE; macOS: TCP_KEEPALIVE; Windows: the
    SIO_KEEPALIVE_VALS ioctl, in ms). ``("ioctl", name, value)`` entries are ``sock.ioctl`` calls."""
    opts: list = [("IPPROTO_TCP", "TCP_NODELAY", 1), ("SOL_SOCKET", "SO_KEEPALIVE", 1)]
    if platform == "windows":
        opts.append(("ioctl", "SIO_KEEPALIVE_VALS",
                     (1, KEEPALIVE_IDLE_S * 1000, KEEPALIVE_INTERVAL_S * 1000)))
        return opts
    opts.append(("IPPROTO_TCP", "TCP_KEEPALIVE" if platform == "darwin" else "TCP_KEEPIDLE",
                 KEEPALIVE_IDLE_S))
    opts += [("IPPROTO_TCP", "TCP_KEEPINTVL", KEEPALIVE_INTERVAL_S),
             ("IPPROTO_TCP", "TCP_KEEPCNT", KEEPALIVE_COUNT)]
    return opts


_TCP_KEEPALIVE_DARWIN = 0x10  # <netinet/tcp.h>; CPython exposes socket.TCP_KEEPALIVE from 3.10 on macOS


def apply_options(sock: socket.socket, options, required=("SO_EXCLUSIVEADDRUSE", "SO_REUSEADDR",
                                                          "TCP_NODELAY")) -> list[str]:
    """Set ``options`` (from :func:`listener_options` / :func:`connection_options`); return the names
    set. An option this Python/system does not have is skipped, unless it is in ``required``."""
    done = []
    for level, name, value in options:
        if level == "ioctl":
            code = getattr(socket, name, None)
            if code is None or not hasattr(sock, "ioctl"):
                continue
            sock.ioctl(code, value)
            done.append(name)
            continue
        opt = getattr(socket, name, None)
        if opt is None and name == "TCP_KEEPALIVE" and sys.platform == "darwin":
            opt = _TCP_KEEPALIVE_DARWIN
        if opt is None:
            if name in required:
                raise OSError(f"socket option {name} is not available on this system")
            continue
        try:
            sock.setsockopt(getattr(socket, level), opt, value)
        except OSError:
            if name in required:
                raise
            continue
        done.append(name)
    return done


def tune(sock: socket.socket) -> None:
    """Low latency and dead-peer detection on a connected socket, on every system."""
    apply_options(sock, connection_options(platform_name()))


def close_quietly(sock: socket.socket | None) -> None:
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class RateLimitedLog:
    """Log a repeated line at most once per ``period_s`` per key, saying how many were suppressed
    (100 000 unknown commands give a handful of lines, not 13 MB)."""

    def __init__(self, logger: logging.Logger, period_s: float = 10.0, max_keys: int = 256):
        self.logger = logger
        self.period_s = period_s
        self.max_keys = max_keys
        self._seen: dict = {}   # key -> [last time logged, suppressed since]
        self._lock = threading.Lock()

    def log(self, level: int, key, msg: str, *args) -> None:
        now = time.monotonic()
        with self._lock:
            entry = self._seen.get(key)
            if entry is not None and now - entry[0] < self.period_s:
                entry[1] += 1
                return
            suppressed = entry[1] if entry is not None else 0
            if entry is None and len(self._seen) >= self.max_keys:
                self._seen.clear()
            self._seen[key] = [now, 0]
        if suppressed:
            msg += f" ({suppressed} similar lines suppressed in the last {self.period_s:g} s)"
        self.logger.log(level, msg, *args)
