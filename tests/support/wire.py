"""Byte-level helpers of the protocol tests: big-endian lengths, typed names, a bounded reader."""
import struct


def u32(n):
    return struct.pack(">I", n)


def lp(b):
    """``b`` prefixed with its length (the protocol's length-prefixed bytes)."""
    return u32(len(b)) + b


def typed(name, body=b""):
    return lp(name.encode()) + body


class Reader:
    """read(n) over bytes: exactly n bytes, or EOFError once they run out; ``calls`` lists the sizes asked."""

    def __init__(self, data):
        self.data = bytes(data)
        self.pos = 0
        self.calls = []

    def __call__(self, n):
        self.calls.append(n)
        if self.pos + n > len(self.data):
            self.pos = len(self.data)
            raise EOFError(f"need {n}")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    @property
    def left(self):
        return len(self.data) - self.pos
