"""Socket helpers shared by the bridge's server and client: exact reads with timeouts, socket options."""
from __future__ import annotations

import socket

_QUICKACK = getattr(socket, "TCP_QUICKACK", None)

#: bytes needed to tell the two dialects apart (u32 length + u32 length + 'str', or u32 7 + 'GRABBER')
DIALECT_PROBE_BYTES = 11


class SocketReader:
    """``read(n)`` returns exactly n bytes from a socket, or raises EOFError when the peer closed.

    The first byte of a message may be awaited with ``idle_timeout`` (None: wait for ever, an idle peer
    is fine); once a message has begun, the rest must come within ``message_timeout`` seconds, so a
    peer that stops in the middle of a message is dropped instead of holding its thread for ever.
    """

    def __init__(self, sock: socket.socket, message_timeout: float | None = 30.0):
        self.sock = sock
        self.message_timeout = message_timeout
        self._buf = bytearray()

    def unread(self, data: bytes) -> None:
        self._buf[:0] = data

    def _quickack(self) -> None:
        # Peers that write a message in several small sends (PyMoDAQ 5.0/5.1 clients send 'Done' and the
        # data apart, without TCP_NODELAY) otherwise wait ~40 ms for our delayed ACK (Linux only)
        if _QUICKACK is not None:
            try:
                self.sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
            except OSError:
                pass

    def wait_message(self, idle_timeout: float | None = None) -> None:
        """Block until at least one byte of a new message is available (socket.timeout on timeout)."""
        if self._buf:
            return
        self._quickack()
        self.sock.settimeout(idle_timeout)
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("the peer closed the connection")
        self._buf += chunk

    def read(self, n: int) -> bytes:
        if n < 0:
            raise ValueError(f"cannot read {n} bytes")
        if len(self._buf) >= n:
            out = bytes(self._buf[:n])
            del self._buf[:n]
            return out
        self.sock.settimeout(self.message_timeout)
        parts = [bytes(self._buf)]
        have = len(self._buf)
        self._buf.clear()
        while have < n:
            self._quickack()
            try:
                chunk = self.sock.recv(min(n - have, 1 << 20))
            except socket.timeout:
                raise TimeoutError(f"the peer stopped in the middle of a message ({have} of {n} bytes "
                                   f"received within {self.message_timeout} s)") from None
            if not chunk:
                raise EOFError(f"the peer closed the connection in the middle of a message "
                               f"({have} of {n} bytes)")
            parts.append(chunk)
            have += len(chunk)
        return b"".join(parts)


def tune(sock: socket.socket) -> None:
    """Low latency and dead-peer detection: no Nagle (replies go out at once), TCP keep-alive."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (("TCP_KEEPIDLE", 10), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 3)):
        if hasattr(socket, name):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)
            except OSError:
                pass


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
