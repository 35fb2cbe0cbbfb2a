"""Figures of issue 9 (the bridge under hostile or broken peers), for the closing note; loopback only.

    python benchmarks/trust.py [--src PATH] [--only NAME ...]

``--src``: the source tree to measure (default: this checkout's src; give an older checkout's src to
measure "before"). Prints one JSON object:

* ``swaps``: a 0D and a 1D requester hammering one real client (countrate + correlation, simulated
  tagger on the virtual clock) with 3000 requests each: replies of the other kind delivered as data
  (``swapped``), and replies refused as not matching their request (``refused``);
* ``amplification``: 4 peers each sending a 64 MiB command frame of ~2.2 M empty ndarrays: the peak RSS
  above the RSS before the attack, and a good client's grab latencies meanwhile;
* ``amplification_done``: the same arrays inside a well-typed ``Done`` (a DataToExport);
* ``slowloris``: 200 peers dripping a never-ending first message: seconds until a real client is
  admitted and served;
* ``hung_link``: a silent link hang longer than the grab timeout, then recovery: grabs that succeed of
  the next 20.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(f.read().split("VmRSS:")[1].split()[0])


def _client(port, **kw):
    from pymodaq_plugins_timetagger.bridge.link import Link
    from pymodaq_plugins_timetagger.runs import make_settings
    kw.setdefault("kind", "countrate")
    kw.setdefault("settings", make_settings("countrate", channels=(5,), integration_s=0.001))
    kw.setdefault("sim_options", {"sim_clock": "virtual", "sim_seed": 1})
    c = Link("127.0.0.1", port, address="sim", backoff_max_s=0.2, **kw)
    t = threading.Thread(target=c.serve_forever, daemon=True)
    t.start()
    return c, t


def _wait(cond, timeout):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def swaps(n_each=3000) -> dict:
    from pymodaq_plugins_timetagger.protocol.server import BridgeError, BridgeServer
    from pymodaq_plugins_timetagger.runs import make_settings
    out = {"requests": 2 * n_each, "swapped": 0, "refused": 0, "other_errors": 0}
    with BridgeServer("127.0.0.1", 0) as server:
        c, t = _client(server.port, kind=["countrate", "correlation"], settings={
            "countrate": make_settings("countrate", channels=(1,), integration_s=0.001),
            "correlation": make_settings("correlation", channel_1=1, channel_2=2, n_bins=8, binwidth_ps=100,
                                         integration_s=0.001)})
        _wait(lambda: any(x.infos for x in server.clients()), 10)
        lock = threading.Lock()

        def hammer(dim):
            for _ in range(n_each):
                try:
                    got = server.request(dim, timeout=10)
                    key = "swapped" if got.data[0].dim != f"Data{dim}" else None
                except BridgeError as e:
                    key = "refused" if "must match its request" in str(e) else "other_errors"
                if key:
                    with lock:
                        out[key] += 1

        ths = [threading.Thread(target=hammer, args=(d,)) for d in ("0D", "1D")]
        t0 = time.monotonic()
        for th in ths:
            th.start()
        for th in ths:
            th.join()
        out["seconds"] = round(time.monotonic() - t0, 2)
        c.shutdown()
        t.join(10)
    return out


def amplification(n_peers=4, n_arrays=2_200_000, kind="command") -> dict:
    """The server in this process (so that a good client's grabs can be timed); memory: this process's
    RSS sampled every 20 ms, above its value once the attack frames are built. ``kind``: ``command``
    (the list of arrays where a command string is expected) or ``done`` (a well-typed 'Done' whose
    DataWithAxes holds the arrays)."""
    import numpy as np
    from pymodaq_plugins_timetagger import data_model
    from pymodaq_plugins_timetagger.protocol import pymodaq5
    from pymodaq_plugins_timetagger.protocol.server import BridgeError, BridgeServer
    empty = pymodaq5.encode(np.zeros(0))
    arrays = pymodaq5.encode([])[:-4] + n_arrays.to_bytes(4, "big") + empty * n_arrays
    if kind == "command":
        payload = arrays
        attack = pymodaq5.encode_frames("GRABBER") + pymodaq5.frame(payload)
    else:
        one = pymodaq5.encode([np.array([1.0])])
        payload = pymodaq5.encode(data_model.DataToExport(name="x", data=[data_model.DataWithAxes(
            name="x", data=[np.array([1.0])], dim="Data0D")])).replace(one, arrays)
        attack = pymodaq5.encode_frames("GRABBER", "Done") + pymodaq5.frame(payload)
    del arrays
    with BridgeServer("127.0.0.1", 0) as server:
        c, t = _client(server.port)
        _wait(lambda: any(x.infos for x in server.clients()), 10)
        good = [x for x in server.clients() if x.infos][0].id
        base = _rss_kib(os.getpid())
        peak = [base]
        done = threading.Event()

        def attacker():
            try:
                s = socket.create_connection(("127.0.0.1", server.port), timeout=120)
                s.sendall(attack)
                s.settimeout(120)
                s.recv(1)
            except OSError:
                pass

        def sample():
            while not done.wait(0.02):
                peak[0] = max(peak[0], _rss_kib(os.getpid()))

        threading.Thread(target=sample, daemon=True).start()
        ths = [threading.Thread(target=attacker, daemon=True) for _ in range(n_peers)]
        t0 = time.monotonic()
        for th in ths:
            th.start()
        lat, errors = [], 0
        while any(th.is_alive() for th in ths) and time.monotonic() - t0 < 120:
            g0 = time.perf_counter()
            try:
                server.request("0D", good, timeout=10)
                lat.append(time.perf_counter() - g0)
            except BridgeError:
                errors += 1
            time.sleep(0.05)
        duration = time.monotonic() - t0
        done.set()
        c.shutdown()
        t.join(10)
    return {"frame_mib": round(len(payload) / 2 ** 20, 1), "peers": n_peers,
            "rss_peak_above_start_mib": round((peak[0] - base) / 1024, 1),
            "attack_seconds": round(duration, 2), "good_grabs": len(lat), "good_grab_errors": errors,
            "good_grab_median_ms": round(1000 * statistics.median(lat), 2) if lat else None,
            "good_grab_max_ms": round(1000 * max(lat), 2) if lat else None}


def slowloris(n=200) -> dict:
    from pymodaq_plugins_timetagger.protocol.server import BridgeServer
    from tests.support.attacks import slowloris as dripping_peers
    with BridgeServer("127.0.0.1", 0) as server:  # defaults: 32 clients, 5 s handshake
        stop = threading.Event()
        attackers = dripping_peers(server.port, n, stop)  # each a byte per 0.5 s of a start never ended
        t0 = time.monotonic()
        c, t = _client(server.port)
        admitted = _wait(lambda: any(x.infos for x in server.clients()), 60)
        seconds = time.monotonic() - t0
        c.shutdown()
        t.join(10)
        stop.set()
        for a in attackers:
            a.close()
    return {"peers": n, "attackers_connected": len(attackers),
            "seconds_to_get_in": round(seconds, 3) if admitted else None,
            "admitted_within_60_s": admitted}


def hung_link(n=20) -> dict:
    from pymodaq_plugins_timetagger.protocol.server import BridgeError, BridgeServer
    from pymodaq_plugins_timetagger.runs import make_settings
    with BridgeServer("127.0.0.1", 0) as server:
        c, t = _client(server.port, settings=make_settings("countrate", channels=(5,), integration_s=0.1),
                       sim_options={"sim_seed": 1})
        _wait(lambda: any(x.infos for x in server.clients()), 10)
        server.request("0D", timeout=5)
        c.handle.tagger.sim_unplug(silent=True)
        try:
            server.request("0D", timeout=1.0)
        except BridgeError:
            pass
        _wait(lambda: c.status.last_error, 15)
        c.handle.tagger.sim_replug()
        _wait(lambda: any(x.infos for x in server.clients()), 10)
        ok = 0
        for _ in range(n):
            try:
                server.request("0D", timeout=2)
                ok += 1
            except BridgeError:
                pass
        c.shutdown()
        t.join(10)
    return {"grabs_after_recovery": n, "succeeded": ok}


SCENARIOS = {"swaps": swaps, "amplification": amplification,
             "amplification_done": lambda: amplification(kind="done"), "slowloris": slowloris,
             "hung_link": hung_link}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--src", default=str(ROOT / "src"), help="source tree to measure (default: this checkout)")
    p.add_argument("--only", nargs="*", choices=sorted(SCENARIOS), help="scenarios to run (default: all)")
    args = p.parse_args(argv)
    sys.path[:0] = [args.src, str(ROOT)]  # the source measured; tests.support (shared hostile peers)
    import logging
    logging.basicConfig(level=logging.CRITICAL)
    out = {"src": args.src}
    for name in args.only or SCENARIOS:
        out[name] = SCENARIOS[name]()
        print(json.dumps({name: out[name]}), file=sys.stderr, flush=True)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
