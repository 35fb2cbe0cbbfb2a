"""The dialects' names, and telling them apart from the first bytes a client sends."""
from __future__ import annotations

from typing import Optional

from ..data_model import ProtocolError
from .codec import U32 as _U32
from .pymodaq5 import MIN_OBJECT_SIZE


PYMODAQ5 = "pymodaq5"
CLASSIC = "classic"
PYMODAQ4 = "pymodaq4"  # PyMoDAQ 4.1-4.4: dialect4.py

DIALECTS = (PYMODAQ5, CLASSIC, PYMODAQ4)

#: bytes needed to tell the two dialects apart (u32 length + u32 length + 'str', or u32 7 + 'GRABBER')
DIALECT_PROBE_BYTES = 11

# ---------------------------------------------------------------------------------------------
# Dialect detection
# ---------------------------------------------------------------------------------------------

_P5_START = _U32.pack(3) + b"str"
_CLASSIC_IDS = {7: b"GRABBER", 8: b"ACTUATOR"}


def detect_dialect(first_bytes: bytes) -> Optional[str]:
    """Tell the dialect from the first bytes a client sends.

    ``'pymodaq5'``: ``[u32 N >= 11][00 00 00 03 'str']``; ``'classic'``: ``[u32 7]['GRABBER']`` or
    ``[u32 8]['ACTUATOR']``; ``None`` if more bytes are needed; :class:`ProtocolError` if the bytes
    can be neither.
    """
    data = bytes(first_bytes)
    if len(data) < 4:
        return None
    (n,) = _U32.unpack_from(data, 0)
    rest = data[4:]
    if n in _CLASSIC_IDS:
        ident = _CLASSIC_IDS[n]
        if not ident.startswith(rest[:len(ident)]):
            raise ProtocolError(f"classic client must identify as GRABBER or ACTUATOR, "
                                f"got {rest[:len(ident)]!r}")
        return CLASSIC if len(rest) >= len(ident) else None
    if n >= MIN_OBJECT_SIZE:
        if not _P5_START.startswith(rest[:len(_P5_START)]):
            raise ProtocolError(f"first frame must hold a str, got {rest[:len(_P5_START)]!r}")
        return PYMODAQ5 if len(rest) >= len(_P5_START) else None
    raise ProtocolError(f"first message length {n} fits neither dialect")
