"""Socket helpers shared by the bridge's server and link: plain socket calls with timeouts (a whole message
sent within one deadline), socket options chosen per platform, a server-wide memory budget for messages in
flight, rate-limited log lines and the one reconnection backoff."""
from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time

#: TCP keep-alive: first probe after this many idle seconds, then every KEEPALIVE_INTERVAL_S,
#: the peer is declared dead after KEEPALIVE_COUNT unanswered probes (about 25 s in all)
KEEPALIVE_IDLE_S = 10
KEEPALIVE_INTERVAL_S = 5
KEEPALIVE_COUNT = 3
#: a blocking read with nothing due waits in slices this long (a socket in timeout mode never blocks for ever)
IDLE_WAIT_S = 3600.0
#: one receive takes at most this many bytes (more than a 4096-bin reply, less than a large one)
RECV_MAX_BYTES = 1 << 20
#: reconnection delays: from the first, doubling up to the maximum (s)
BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 5.0
#: buffers one sendmsg takes at most (POSIX IOV_MAX)
_IOV_MAX = os.sysconf("SC_IOV_MAX") if "SC_IOV_MAX" in getattr(os, "sysconf_names", {}) else 16


def _set_timeout(sock: socket.socket, seconds: float) -> None:
    seconds = max(seconds, 1e-3)
    if sock.gettimeout() != seconds:  # each change is a system call
        sock.settimeout(seconds)


def recv_some(sock: socket.socket, wanted: int, timeout: float) -> bytes:
    """What the socket has, at most ``max(wanted, 64 KiB)`` (and RECV_MAX_BYTES) bytes, waiting up to ``timeout`` s
    (socket.timeout then); b"" when the peer closed."""
    _set_timeout(sock, timeout)
    return sock.recv(min(max(wanted, 1 << 16), RECV_MAX_BYTES))


#: parts of a message shorter than this are joined before a gathering send (one buffer of the kernel's each)
_GATHER_MIN_BYTES = 1 << 14


def send_parts(sock: socket.socket, parts: list, timeout: float) -> None:
    """Send every buffer of ``parts`` within ``timeout`` s in all (socket.timeout otherwise); gathered with
    sendmsg where there is one, so a large reply's arrays are not copied once more."""
    deadline = time.monotonic() + timeout
    views, small = [], []
    for p in parts:
        if len(p) >= _GATHER_MIN_BYTES:
            if small:
                views.append(b"".join(small))
                small = []
            views.append(memoryview(p).cast("B"))
        elif len(p):
            small.append(p)
    if small:
        views.append(b"".join(small))
    _set_timeout(sock, timeout)
    if not hasattr(sock, "sendmsg"):  # Windows
        sock.sendall(b"".join(views))
        return
    while views:
        sent = sock.sendmsg(views[:_IOV_MAX])
        while sent and views:
            if sent >= len(views[0]):
                sent -= len(views.pop(0))
            else:
                views[0] = memoryview(views[0])[sent:]
                sent = 0
        if views:
            if time.monotonic() > deadline:
                raise socket.timeout(f"sending timed out after {timeout:g} s")
            _set_timeout(sock, deadline - time.monotonic())


class Backoff:
    """Reconnection delays: each :meth:`wait_s` is twice the one before, up to ``max_s``; :meth:`reset` (call it
    after a successful exchange of data, not on any byte received) starts again from ``first_s``."""

    def __init__(self, max_s: float = BACKOFF_MAX_S, first_s: float = BACKOFF_FIRST_S):
        self.first_s, self.max_s = first_s, max_s
        self._next = first_s

    def wait_s(self) -> float:
        delay, self._next = self._next, min(self._next * 2, self.max_s)
        return min(delay, self.max_s)

    def reset(self) -> None:
        self._next = self.first_s


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

    def allow(self, key) -> int | None:
        """None if a line of ``key`` was let through within ``period_s``; else how many were held back since
        (the caller reports it, e.g. as a status message)."""
        now = time.monotonic()
        with self._lock:
            entry = self._seen.get(key)
            if entry is not None and now - entry[0] < self.period_s:
                entry[1] += 1
                return None
            if entry is None and len(self._seen) >= self.max_keys:
                self._seen.clear()
            self._seen[key] = [now, 0]
            return entry[1] if entry is not None else 0
