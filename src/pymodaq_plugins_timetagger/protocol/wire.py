"""The two dialects as message readers/writers over a socket, used alike by the server and the client.

A message is a command string followed by its arguments (docs/protocol.rst):

=============  =============================  ===============================================
command        PyMoDAQ 5 (typed frames)       classic (untyped)
=============  =============================  ===============================================
GRABBER        (identity, first message)      same
Infos          str xml                        string xml
Info           str name, str value            string name, string value
Info_xml       list[str] path, str xml        list path, string xml
set_info       list[str] path, str xml        list path, string xml
Done           DataToExport                   list of arrays (one per channel)
x_axis/y_axis  (not used)                     array, string label, string units
Send Data xD   -                              -
Quit           -                              -
=============  =============================  ===============================================
"""
from __future__ import annotations

import abc

import numpy as np

from . import classic as classic_dialect, codec, dialect4, dialects, pymodaq5
from .. import data_model
from ..data_model import ProtocolError
from .dialects import CLASSIC, DIALECTS, PYMODAQ4, PYMODAQ5
from .net import SocketReader


SEND_DATA = {"0D": "Send Data 0D", "1D": "Send Data 1D", "2D": "Send Data 2D", "ND": "Send Data ND"}
CLIENT_TYPES = ("GRABBER", "ACTUATOR")


class Wire(abc.ABC):
    """Read and write messages of one dialect on one connection."""

    name = ""

    def __init__(self, reader: SocketReader, max_frame: int = codec.DEFAULT_MAX_FRAME):
        self.reader = reader
        self.max_frame = max_frame

    @staticmethod
    def for_dialect(name: str, reader: SocketReader, max_frame: int = codec.DEFAULT_MAX_FRAME) -> "Wire":
        if name == PYMODAQ5:
            return Pymodaq5Wire(reader, max_frame)
        if name in (CLASSIC, PYMODAQ4):
            # untyped identity: classic, or PyMoDAQ 4.1-4.4, told apart at the first 'Done'
            return (UntypedWire if name == CLASSIC else Pymodaq4Wire)(reader, max_frame)
        raise ValueError(f"unknown protocol dialect {name!r}; use one of {DIALECTS}")

    # reading ------------------------------------------------------------------------------------
    @abc.abstractmethod
    def read_command(self) -> str:
        """The next command string."""

    @abc.abstractmethod
    def read_string(self, limit: int | None = None) -> str:
        """A string argument (at most about ``limit`` bytes: longer is a ProtocolError, refused
        before it is read)."""

    @abc.abstractmethod
    def read_path(self) -> list[str]:
        """A parameter path argument (list of names)."""

    @abc.abstractmethod
    def read_done(self):
        """The argument of 'Done': a data_model.DataToExport (PyMoDAQ 5) or a list of arrays (classic)."""

    # writing ------------------------------------------------------------------------------------
    @abc.abstractmethod
    def message(self, command: str, *args) -> bytes:
        """The bytes of one whole message (send them with one sendall)."""

    def message_parts(self, command: str, *args) -> list:
        """The bytes of :meth:`message` as a list of buffers, arrays not copied (send them with net.send_all)."""
        return [self.message(command, *args)]


class Pymodaq5Wire(Wire):
    name = PYMODAQ5

    #: frame bytes around a string of n bytes: type name 'str' (4 + 3) and the length (4)
    _STR_OVERHEAD = 11

    def _read(self, expect=None, limit: int | None = None):
        max_size = self.max_frame if limit is None else min(self.max_frame, limit + self._STR_OVERHEAD)
        return pymodaq5.read_frame(self.reader.read, max_size, expect)

    def read_command(self) -> str:
        cmd = self._read(("str",))
        if not isinstance(cmd, str):
            raise ProtocolError(f"expected a command string, got {type(cmd).__name__}")
        return cmd

    def read_string(self, limit: int | None = None) -> str:
        value = self._read(("str", "bytes"), limit)
        if isinstance(value, bytes):  # some PyMoDAQ versions send XML as bytes
            try:
                return value.decode("utf-8")
            except UnicodeDecodeError:
                raise ProtocolError("a bytes argument that is not UTF-8 text") from None
        if not isinstance(value, str):
            raise ProtocolError(f"expected a string argument, got {type(value).__name__}")
        return value

    def read_path(self) -> list[str]:
        value = self._read(("list", "tuple"))
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ProtocolError(f"expected a list of strings (a parameter path), got {value!r:.80}")
        return list(value)

    def read_done(self):
        value = self._read(data_model.DTE_TYPE_NAMES)
        if not isinstance(value, data_model.DataToExport):
            raise ProtocolError(f"expected a DataToExport after 'Done', got {type(value).__name__}")
        return value

    def message(self, command: str, *args) -> bytes:
        return pymodaq5.encode_frames(command, *args)

    def message_parts(self, command: str, *args) -> list:
        return pymodaq5.encode_frame_parts(command, *args)


class ClassicWire(Wire):
    name = CLASSIC

    def read_command(self) -> str:
        return classic_dialect.read_classic_string(self.reader.read, self.max_frame)

    def read_string(self, limit: int | None = None) -> str:
        max_size = self.max_frame if limit is None else min(self.max_frame, limit + 4)
        return classic_dialect.read_classic_string(self.reader.read, max_size)

    def read_path(self) -> list[str]:
        items = classic_dialect.read_classic_list(self.reader.read, self.max_frame)
        if not all(isinstance(v, str) for v in items):
            raise ProtocolError("expected a list of strings (a parameter path)")
        return list(items)

    def read_done(self) -> list[np.ndarray]:
        items = classic_dialect.read_classic_list(self.reader.read, self.max_frame)
        arrays = []
        for v in items:
            if isinstance(v, np.ndarray):
                arrays.append(v)
            elif isinstance(v, (int, float, complex, bool)):
                arrays.append(np.array([v]))
            else:
                raise ProtocolError(f"expected arrays after 'Done', got {type(v).__name__}")
        return arrays

    def read_axis(self) -> tuple[np.ndarray, str, str]:
        data = classic_dialect.read_classic_array(self.reader.read, self.max_frame)
        label = classic_dialect.read_classic_string(self.reader.read, self.max_frame)
        units = classic_dialect.read_classic_string(self.reader.read, self.max_frame)
        return data, label, units

    def message(self, command: str, *args) -> bytes:
        parts = [classic_dialect.classic_string(command)]
        for a in args:
            if isinstance(a, (str, bytes)):
                parts.append(classic_dialect.classic_string(a))
            elif isinstance(a, np.ndarray):
                parts.append(classic_dialect.classic_array(a))
            elif isinstance(a, (list, tuple)):
                parts.append(classic_dialect.classic_list(list(a)))
            else:
                parts.append(classic_dialect.classic_scalar(a))
        return b"".join(parts)


class Pymodaq4Wire(ClassicWire):
    """The 4.4 dialect on one connection: classic commands, 4.4 DataToExport after 'Done'."""

    name = PYMODAQ4

    def read_done(self) -> data_model.DataToExport:
        return dialect4.read_dte(self.reader.read, self.max_frame)

    def message(self, command: str, *args) -> bytes:
        return dialect4.message(command, *args)


class UntypedWire(ClassicWire):
    """A connection that identified itself with untyped bytes: classic or PyMoDAQ 4.1-4.4, told apart by the
    first 'Done' (dialect4's docstring); from then on :attr:`name` is the dialect found."""

    name = CLASSIC
    decided = False

    def read_done(self):
        if self.decided:
            return dialect4.read_dte(self.reader.read, self.max_frame) if self.name == PYMODAQ4 else super().read_done()
        head = self.reader.read(4)
        rest = b""
        if head == dialect4.DTE_START[:4]:  # 12: a classic list of 12 items or the string 'DataToExport'
            rest = self.reader.read(len(dialect4.DTE_START) - 4)
        self.reader.unread(head + rest)
        self.decided = True
        if head + rest == dialect4.DTE_START:
            self.name = PYMODAQ4
            return dialect4.read_dte(self.reader.read, self.max_frame)
        return super().read_done()


def detect(reader: SocketReader, timeout: float) -> str:
    """Read the first bytes of a connection (within ``timeout`` s) and return its dialect.

    The bytes are pushed back into the reader. Raises ProtocolError if they fit neither dialect,
    EOFError/TimeoutError if the peer closes or says nothing.
    """
    import socket
    import time
    from .dialects import DIALECT_PROBE_BYTES
    got = b""
    deadline = time.monotonic() + timeout
    while True:
        try:
            # one deadline for the whole probe: a peer dripping a byte now and then gets no longer
            reader.sock.settimeout(max(deadline - time.monotonic(), 1e-3))
            chunk = reader.sock.recv(DIALECT_PROBE_BYTES - len(got))
        except socket.timeout:
            raise TimeoutError(f"the client sent {len(got)} bytes and then nothing for {timeout} s "
                               f"(expected its identity, e.g. 'GRABBER')") from None
        if not chunk:
            raise EOFError("the client closed the connection before identifying itself")
        got += chunk
        dialect = dialects.detect_dialect(got)
        if dialect is not None:
            reader.unread(got)
            return dialect
        if len(got) >= DIALECT_PROBE_BYTES:
            raise ProtocolError(f"the first bytes {got[:DIALECT_PROBE_BYTES]!r} are neither PyMoDAQ 5 "
                                f"frames nor the classic protocol")
