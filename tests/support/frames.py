"""An incremental dialect-1 decoder (bytes in, completed objects out, errors as early as the bytes allow):
only the tests use it, to check that every prefix of a bad stream is refused at the first bad byte."""
from __future__ import annotations

from typing import Optional

from pymodaq_plugins_timetagger.data_model import ProtocolError
from pymodaq_plugins_timetagger.protocol.codec import DEFAULT_MAX_FRAME, U32 as _U32
from pymodaq_plugins_timetagger.protocol.pymodaq5 import TYPE_NAMES, check_frame_length as _check_frame_length, decode

_TYPE_NAMES_B = tuple(n.encode("ascii") for n in TYPE_NAMES)
_MAX_TYPE_NAME = max(map(len, _TYPE_NAMES_B))


def _check_payload_start(buf, start: int, avail: int):
    """Refuse, as early as possible, a payload whose type header cannot be valid."""
    if avail < 4:
        return
    (n,) = _U32.unpack_from(buf, start)
    if n > _MAX_TYPE_NAME or not any(len(t) == n for t in _TYPE_NAMES_B):
        raise ProtocolError(f"unknown type name (a name of {n} bytes)")
    prefix = bytes(buf[start + 4:start + 4 + min(n, avail - 4)])
    if not any(len(t) == n and t.startswith(prefix) for t in _TYPE_NAMES_B):
        if len(prefix) == n:
            raise ProtocolError(f"unknown type name {prefix!r}")
        raise ProtocolError(f"unknown type name starting with {prefix!r}")


class FrameDecoder:
    """Incremental dialect-1 decoder: feed it bytes, get back the completed objects.

    Raises :class:`ProtocolError` as soon as the data cannot be valid (the frame length as soon as
    its 4 bytes are known, the type name as soon as its bytes arrive). After an error the decoder is
    broken: every later :meth:`feed` raises again.
    """

    def __init__(self, max_size: int = DEFAULT_MAX_FRAME):
        self.max_size = max_size
        self._buf = bytearray()
        self._error: Optional[ProtocolError] = None

    @property
    def pending(self) -> int:
        """Bytes buffered (an incomplete frame)."""
        return len(self._buf)

    def feed(self, data: bytes) -> list:
        if self._error is not None:
            raise ProtocolError(f"decoder already failed: {self._error}")
        try:
            return self._feed(data)
        except ProtocolError as e:
            self._error = e
            raise

    def _feed(self, data: bytes) -> list:
        buf = self._buf
        buf += data
        out = []
        while len(buf) >= 4:
            (n,) = _U32.unpack_from(buf, 0)
            _check_frame_length(n, self.max_size)
            avail = len(buf) - 4
            if avail < n:
                _check_payload_start(buf, 4, avail)
                break
            payload = bytes(buf[4:4 + n])
            del buf[:4 + n]
            out.append(decode(payload, self.max_size))
        return out
