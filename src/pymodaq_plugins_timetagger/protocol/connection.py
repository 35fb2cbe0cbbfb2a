"""One connection of PyMoDAQ's TCP protocol, sans I/O (as h11 and wsproto are): bytes in, events out, messages
to bytes. No sockets, threads or clocks: the server (:mod:`.server`) and the dial-out link
(:mod:`pymodaq_plugins_timetagger.bridge.link`) feed it what they receive and send what it gives.

``receive_data(data)`` takes the bytes received (``b""``: the peer closed); ``next_event()`` returns the next
event (:data:`NEED_DATA` when none is whole yet); ``send(command, *args)`` returns the bytes of one message, as a
list of buffers (arrays are not copied). Every bound is kept here, the same in every dialect: the size of one
message, of a frame, of each string argument, the decoder's object/memory/depth/count bounds (:mod:`.codec`), and
the events received but not taken yet (a count and their bytes: a peer cannot make us hold more).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from ..data_model import ProtocolError
from . import classic, codec, dialect4, pymodaq5
from .codec import Cursor, DEFAULT_MAX_FRAME, NeedData
from .dialects import CLASSIC, DIALECTS, PYMODAQ4, PYMODAQ5, detect_dialect

SEND_DATA = {"0D": "Send Data 0D", "1D": "Send Data 1D", "2D": "Send Data 2D", "ND": "Send Data ND"}
CLIENT_TYPES = ("GRABBER", "ACTUATOR")
QUIT_COMMANDS = ("Quit", "Server Closed")
#: Info names with a meaning: a grab failed (it answers the oldest request), a setting was refused (it answers none)
ERROR_INFO = "error"
SET_INFO_ERROR_INFO = "set_info_error"

#: which side of the connection we are: the SERVER reads a client's messages, the CLIENT a server's commands
SERVER, CLIENT = "server", "client"
#: events received and not taken yet, at most (count, bytes; the bytes beyond wait undecoded, up to one message
#: more): a client keeps the server's commands that come during an answer; a server takes a client's messages as
#: they come (one receive may hold a client's whole hello)
MAX_QUEUED = {CLIENT: (64, 4 << 20), SERVER: (4096, 0)}
#: largest string argument a server may send a client (one set_info's XML is a few hundred bytes)
MAX_SET_INFO_BYTES = 1 << 20
#: a message is its command, its arguments and this much more than its largest frame
_MESSAGE_SLACK = 64 << 10


# ------------------------------------------------------------------------------- events
class _NeedData:
    def __repr__(self):
        return "NEED_DATA"


NEED_DATA = _NeedData()


@dataclass(frozen=True)
class Command:
    """A command and its arguments: from a server ('Send Data 1D', 'set_info' (path, xml), 'Quit'), or from a
    client one that has no event of its own (its identity, 'Quit', an unknown command)."""
    name: str
    args: tuple = ()


@dataclass(frozen=True)
class DataReply:
    """'Done' and its data: a DataToExport (pymodaq5, pymodaq4) or a list of arrays (classic)."""
    data: object = field(repr=False)


@dataclass(frozen=True)
class Info:
    """'Info' (name, value), 'Infos' (name None: the settings tree's XML) or 'Info_xml' (path: a setting's XML)."""
    name: str | None
    value: str
    path: tuple = ()


@dataclass(frozen=True)
class ReplyError:
    """An 'Info' named 'error': the client could not answer its oldest request."""
    text: str


@dataclass(frozen=True)
class Axis:
    """(classic) 'x_axis' / 'y_axis': the axis of the data that follows."""
    name: str
    data: np.ndarray = field(repr=False)
    label: str = ""
    units: str = ""


@dataclass(frozen=True)
class Closed:
    """The peer closed the connection (after whole messages)."""


# ------------------------------------------------------------------------------- the connection
class Connection:
    """One connection's protocol state, for ``role`` (:data:`SERVER` or :data:`CLIENT`) in ``dialect`` (None, on
    a server: detected from the first bytes). ``limits``: command -> the byte limit of each string argument."""

    def __init__(self, role: str, dialect: str | None = None, *, max_frame: int = DEFAULT_MAX_FRAME,
                 limits: dict | None = None):
        if role not in (SERVER, CLIENT):
            raise ValueError(f"role must be {SERVER!r} or {CLIENT!r}")
        if dialect is not None and dialect not in DIALECTS:
            raise ValueError(f"unknown protocol dialect {dialect!r}; use one of {DIALECTS}")
        self.role = role
        self.dialect = dialect
        self.untyped_decided = dialect != CLASSIC  # classic or PyMoDAQ 4: the first 'Done' tells
        self.max_frame = max_frame
        self.limits = dict(limits or {})
        if role == CLIENT:  # nothing a server sends a client needs a larger message
            self.max_frame = min(max_frame, MAX_SET_INFO_BYTES + _MESSAGE_SLACK)
            self.limits.setdefault("set_info", (None, MAX_SET_INFO_BYTES))
        self.max_message = self.max_frame + _MESSAGE_SLACK
        self.max_queued, queued_bytes = MAX_QUEUED[role]
        self.max_queued_bytes = max(queued_bytes, self.max_message)
        self.identified = role == CLIENT
        self.closed = False
        self._data = b""          # received bytes not consumed yet, from _pos on, then _chunks
        self._pos = 0
        self._chunks: list = []
        self._size = 0            # bytes received and not consumed
        self._needed = 1          # no message can be whole before this many bytes are here
        self._events: deque = deque()
        self._queued_bytes = 0
        self._error: ProtocolError | None = None

    # ------------------------------------------------------------------ receiving
    @property
    def in_message(self) -> bool:
        """Bytes of a message not whole yet are here (its deadline runs)."""
        return self._size > 0

    @property
    def needed(self) -> int:
        """Bytes still missing, at least, before the message being received can be whole (0: none begun)."""
        return max(self._needed - self._size, 0) if self._size else 0

    @property
    def full(self) -> bool:
        """As many events as may be queued are queued: take some before giving more bytes (the bytes given
        meanwhile wait, up to one more message's worth)."""
        return len(self._events) >= self.max_queued or self._queued_bytes >= self.max_queued_bytes

    def receive_data(self, data: bytes) -> None:
        """Bytes received (``b""``: the peer closed). Raises ProtocolError for anything malformed or past a bound
        (the connection is then unusable: every later call raises it again)."""
        if self._error is not None:
            raise self._error
        if not data:
            self.closed = True
            return
        if self.full and self._size + len(data) > self.max_message + (1 << 20):
            self._fail(ProtocolError(f"the peer sent more than {self.max_queued} messages or "
                                     f"{self.max_queued_bytes} bytes that were not taken yet"))
        self._chunks.append(data)
        self._size += len(data)
        self._parse()

    def _parse(self) -> None:
        try:
            while not self.full and self._size >= self._needed and self._parse_one():
                pass
        except ProtocolError as e:
            self._error = e
            raise

    def queued(self) -> list:
        """The events received and not taken yet (a look: they stay queued)."""
        return [event for event, _ in self._events]

    def next_event(self):
        """The next event, :data:`NEED_DATA`, or a :class:`Closed` once the peer closed and every event is taken."""
        if self._error is not None:
            raise self._error
        if self._events:
            event, size = self._events.popleft()
            self._queued_bytes -= size
            if self._size:
                self._parse()
            return event
        if self.closed:
            if self._size:
                return self._fail(ProtocolError(f"the peer closed the connection in the middle of a message "
                                                f"({self._size} bytes of it received)"))
            return Closed()
        return NEED_DATA

    def _fail(self, error: ProtocolError):
        self._error = error
        raise error

    def _parse_one(self) -> bool:
        """Decode the message at the start of the received bytes, if whole: True (its event is queued), else
        False (``_needed`` says when to try again)."""
        if self._chunks:
            self._data = b"".join([memoryview(self._data)[self._pos:], *self._chunks])
            self._pos, self._chunks = 0, []
        view = memoryview(self._data)[self._pos:]
        if self.dialect is None:
            self.dialect = detect_dialect(view[:16])
            if self.dialect is None:
                self._needed = self._size + 1
                return False
            self.untyped_decided = self.dialect != CLASSIC
        cur = Cursor(view, self.max_message, partial=True)
        try:
            event = self._read_message(cur)
        except NeedData as e:
            self._needed = max(e.needed, self._size + 1)
            return False
        self._pos += cur.pos
        self._size -= cur.pos
        self._needed = 1
        self._events.append((event, cur.pos))
        self._queued_bytes += cur.pos
        return True

    # ------------------------------------------------------------------ one message
    def _frame(self, cur: Cursor, expect, limit: int | None = None):
        """(pymodaq5) one frame's object; its length and type name checked before the rest is awaited."""
        (n,) = codec.U32.unpack(cur.take(4))
        pymodaq5.check_frame_length(n, self.max_frame if limit is None else min(self.max_frame, limit + 11))
        pymodaq5.check_head(cur.buf[cur.pos:cur.pos + 4 + 16], expect)
        return pymodaq5.decode_frame(cur.take(n), n, expect)

    def _string(self, cur: Cursor, limit: int | None = None, what: str = "a string argument") -> str:
        if limit is None:
            return self._read_string(cur, None)
        try:
            return self._read_string(cur, limit)
        except ProtocolError as e:  # the reason a peer is dropped names the argument and its cap
            raise ProtocolError(f"{what} (at most {limit} bytes): {e}") from None

    def _read_string(self, cur: Cursor, limit: int | None) -> str:
        if self.dialect == PYMODAQ5:
            value = self._frame(cur, ("str", "bytes"), limit)
            if isinstance(value, bytes):  # some PyMoDAQ versions send XML as bytes
                try:
                    return value.decode("utf-8")
                except UnicodeDecodeError:
                    raise ProtocolError("a bytes argument that is not UTF-8 text") from None
            return value
        return codec.read_text(cur, limit)

    def _path(self, cur: Cursor) -> list:
        items = self._frame(cur, ("list", "tuple")) if self.dialect == PYMODAQ5 else classic.read_classic_list(cur)
        if not all(isinstance(v, str) for v in items):
            raise ProtocolError(f"expected a list of strings (a parameter path), got {items!r:.80}")
        return list(items)

    def _done(self, cur: Cursor):
        if self.dialect == PYMODAQ5:
            return self._frame(cur, pymodaq5.DTE_TYPE_NAMES)
        if not self.untyped_decided:  # classic or PyMoDAQ 4.1-4.4: a 4.4 DataToExport starts with its class name
            head = bytes(cur.buf[cur.pos:cur.pos + len(dialect4.DTE_START)])
            if len(head) < len(dialect4.DTE_START) and dialect4.DTE_START.startswith(head):
                raise NeedData(cur.pos + len(dialect4.DTE_START))
            self.dialect = PYMODAQ4 if head == dialect4.DTE_START else CLASSIC
            self.untyped_decided = True
        if self.dialect == PYMODAQ4:
            return dialect4.read_dte(cur)
        arrays = []
        for v in classic.read_classic_list(cur):
            if isinstance(v, np.ndarray):
                arrays.append(v)
            elif isinstance(v, (int, float, complex, bool)):
                arrays.append(np.array([v]))
            else:
                raise ProtocolError(f"expected arrays after 'Done', got {type(v).__name__}")
        return arrays

    def _limit(self, command: str, i: int):
        limits = self.limits.get(command)
        return limits[i] if limits is not None and i < len(limits) else None

    def _read_message(self, cur: Cursor):
        command = self._frame(cur, ("str",)) if self.dialect == PYMODAQ5 else codec.read_text(cur)
        if not isinstance(command, str):
            raise ProtocolError(f"expected a command string, got {type(command).__name__}")
        if not self.identified:
            if command not in CLIENT_TYPES:
                raise ProtocolError(f"first message {command!r:.60} is not a client type {CLIENT_TYPES}")
            self.identified = True
            return Command(command)
        if self.role == CLIENT:
            if command == "set_info":
                path = self._path(cur)
                return Command(command, (path, self._string(cur, self._limit(command, 1), "a set_info XML")))
            return Command(command)
        if command == "Done":
            return DataReply(self._done(cur))
        if command == "Infos":
            return Info(None, self._string(cur, self._limit(command, 0), "the settings XML (Infos)"))
        if command == "Info":
            name = self._string(cur, self._limit(command, 0), "an Info name")
            value = self._string(cur, self._limit(command, 1), "an Info value")
            return ReplyError(value) if name == ERROR_INFO and value else Info(name, value)
        if command == "Info_xml":
            path = self._path(cur)
            return Info(None, self._string(cur, self._limit(command, 1), "an Info_xml XML"), tuple(path))
        if command in ("x_axis", "y_axis") and self.dialect == CLASSIC:
            data = classic.read_classic_array(cur)
            return Axis(command, data, self._string(cur), self._string(cur))
        return Command(command)

    # ------------------------------------------------------------------ sending
    def send(self, command: str, *args) -> list:
        """The bytes of one message in this connection's dialect, as a list of buffers."""
        if self.dialect == PYMODAQ5:
            return pymodaq5.encode_frame_parts(command, *args)
        if self.dialect == PYMODAQ4:
            return [dialect4.message(command, *args)]
        parts = [classic.classic_string(command)]
        for a in args:
            if isinstance(a, (str, bytes)):
                parts.append(classic.classic_string(a))
            elif isinstance(a, np.ndarray):
                parts.append(classic.classic_array(a))
            elif isinstance(a, (list, tuple)):
                parts.append(classic.classic_list(list(a)))
            else:
                parts.append(classic.classic_scalar(a))
        return parts

    def send_reply(self, dte) -> list:
        """The answer to 'Send Data xD' holding ``dte``: 'Done' and the DataToExport, or in the classic dialect the
        first dataset's axis ('x_axis') and arrays ('Done')."""
        if self.dialect != CLASSIC:
            return self.send("Done", dte)
        d = dte.data[0]
        parts = []
        if d.axes:
            a = d.axes[0]
            parts += self.send("x_axis", np.asarray(a.data, dtype=float), a.label, a.units)
        return parts + self.send("Done", [np.asarray(x, dtype=float) for x in d.data])
