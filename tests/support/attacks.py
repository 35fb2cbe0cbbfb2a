"""Hostile peers on loopback, shared by the bridge's trust tests and benchmarks/trust.py."""
import socket
import threading

from pymodaq_plugins_timetagger.protocol import pymodaq5

#: a valid start of a first message (a 4000-character command) that a slowloris peer never finishes
SLOW_HELLO = pymodaq5.encode_frames("G" * 4000)


def slowloris(port, n, stop):
    """n peers on loopback, each dripping a valid start of its first message, a byte per 0.5 s (a new
    byte every time: no per-recv timeout ever fires). Returns the sockets."""
    attackers = []

    def drip():
        sent = {}
        while not stop.wait(0.5):
            for a in list(attackers):
                i = sent.get(a, 1)
                try:
                    a.send(SLOW_HELLO[i:i + 1])
                except OSError:
                    pass
                sent[a] = i + 1

    threading.Thread(target=drip, daemon=True).start()
    for _ in range(n):
        try:
            a = socket.create_connection(("127.0.0.1", port), timeout=2)
            a.send(SLOW_HELLO[:1])
            attackers.append(a)
        except OSError:
            pass
    return attackers
