#!/usr/bin/env python3
"""Benchmark peers (run as subprocesses by benchmarks/bridge.py): they answer requests with N float64.

    bench_client.py bridge PORT N   # our Time Tagger client (bridge.link.Link, PyMoDAQ 5 dialect),
                                    # serving a responder that answers 'Send Data 1D' with a DataToExport
                                    # of N float64 and an N-point axis, built per answer as the measurement
                                    # service builds its own
    bench_client.py raw PORT N      # the floor: a 4-byte request in, a u32 length + the same N-point data
                                    # and N-point axis as raw float64 bytes out

The data are a fixed ramp (what is measured is the transport, not a Time Tagger: the real client's
measurement time is the integration time the user sets).
"""
import socket
import struct
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]  # the package, and tests/support


def bridge(port: int, n: int) -> None:
    from pymodaq_plugins_timetagger.bridge.link import Link
    from pymodaq_plugins_timetagger import data_model
    from tests.support.responders import BareResponder

    data = np.linspace(0.0, 1.0, n)
    axis = np.arange(n, dtype=float) * 1e-12

    class Ramp(BareResponder):
        """The fixed frame, in new objects per answer."""

        def answer(self, dim, stop):
            dwa = data_model.DataWithAxes(name="bench", data=[data], dim="Data1D", units="counts", labels=["ch"],
                                          axes=[data_model.Axis(label="delay", units="s", data=axis, index=0)])
            return data_model.DataToExport(name="bench", data=[dwa])

    Link("127.0.0.1", port, responder=Ramp(), backoff_max_s=0.2).serve_forever()


def raw(port: int, n: int) -> None:
    payload = (struct.pack(">I", 2 * n * 8) + np.linspace(0.0, 1.0, n).tobytes()
               + (np.arange(n, dtype=float) * 1e-12).tobytes())  # the same bytes: data and axis
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        got = b""
        while len(got) < 4:
            chunk = sock.recv(4 - len(got))
            if not chunk:
                return
            got += chunk
        sock.sendall(payload)


if __name__ == "__main__":
    mode, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    {"bridge": bridge, "raw": raw}[mode](port, n)
