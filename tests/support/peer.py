"""A test's own end of a bridge connection: a socket and the sans-I/O Connection, read in the calling thread."""
from __future__ import annotations

import socket
import time

from pymodaq_plugins_timetagger.protocol import connection as C


class Peer:
    """``role``: C.SERVER to read what a client sends, C.CLIENT to read a server's commands."""

    def __init__(self, sock: socket.socket, role: str, dialect: str | None = None):
        self.sock = sock
        self.proto = C.Connection(role, dialect)
        if role == C.SERVER and dialect is not None:
            self.proto.identified = False

    def message(self, command, *args) -> bytes:
        return b"".join(bytes(p) for p in self.proto.send(command, *args))

    def send(self, command, *args) -> None:
        self.sock.sendall(self.message(command, *args))

    def read_event(self, timeout: float | None = 30.0):
        """The next event; socket.timeout if none within ``timeout``; EOFError once the peer closed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            event = self.proto.next_event()
            if isinstance(event, C.Closed):
                raise EOFError("the peer closed the connection")
            if event is not C.NEED_DATA:
                return event
            self.sock.settimeout(None if deadline is None else max(deadline - time.monotonic(), 1e-3))
            self.proto.receive_data(self.sock.recv(1 << 20))

    def read(self, timeout: float | None = 30.0):
        """The next message as (command, args)."""
        e = self.read_event(timeout)
        if isinstance(e, C.Command):
            return e.name, tuple(e.args)
        if isinstance(e, C.DataReply):
            return "Done", (e.data,)
        if isinstance(e, C.ReplyError):
            return "Info", (C.ERROR_INFO, e.text)
        if isinstance(e, C.Axis):
            return e.name, (e.data, e.label, e.units)
        if e.name is not None:
            return "Info", (e.name, e.value)
        return ("Info_xml", (list(e.path), e.value)) if e.path else ("Infos", (e.value,))
