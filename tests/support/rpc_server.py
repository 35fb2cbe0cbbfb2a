"""Serve this package's simulator through the REAL TimeTaggerRPC server (for tests/test_rpc_backend.py).

    python tests/support/rpc_server.py --port P [--host 127.0.0.1] [--exit-on-stdin-eof] [--lifetime-s 600]

Prints one JSON line ``{"event": "listening", "port": P}`` on stdout once the server accepts connections
(``--port 0`` lets the OS pick a free port and reports it), then serves until killed. Everything else
the server prints goes to stderr. With ``--exit-on-stdin-eof`` it also exits when its stdin closes (its
parent died), and it never outlives ``--lifetime-s`` seconds: no orphan servers after a crashed test run.

TimeTaggerRPC's server does ``import TimeTagger as TT`` and builds its adapters by introspecting that
module, so a shim module named ``TimeTagger`` made of the simulator's public API is put in
``sys.modules`` first. TimeTaggerRPC's code itself is used unchanged (``start_server``). The shim is
needed for two reasons (TimeTaggerRPC 0.0.6 / 0.0.6.post1, ``TimeTaggerRPC/server.py``):

* line 359, ``elif issubclass(Cls, TT.SynchronizedMeasurements):`` is evaluated for every class that is
  neither an ``IteratorBase`` nor a ``TimeTaggerBase`` subclass (the enums ``ChannelEdge`` and
  ``Resolution`` get there first), and the simulator has no ``SynchronizedMeasurements``: AttributeError.
  The shim adds a placeholder class of that name whose construction raises NotImplementedError.
* lines 357-358 and 310, ``attributes['create'+name] = make_tagger_constructor(name)`` then
  ``getattr(TT, 'create'+class_name)``: every ``TimeTaggerBase`` subclass found under any name needs a
  matching ``create<Name>`` function; the simulator module also exposes its class as ``SimTimeTagger``
  (aliased as ``TimeTagger`` and ``TimeTaggerBase``), so ``createSimTimeTagger`` is looked up:
  AttributeError. The shim exports only the simulator's ``__all__`` (which has no ``SimTimeTagger``).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import threading
import types

_URI_RE = re.compile(r"PYRO:TimeTaggerRPC@(?P<host>.+):(?P<port>\d+)\s*$")


def build_shim() -> types.ModuleType:
    """A module named ``TimeTagger`` exposing the simulator the way TimeTaggerRPC's server expects."""
    from pymodaq_plugins_timetagger.hardware import simulator

    shim = types.ModuleType("TimeTagger", "the pymodaq_plugins_timetagger simulator as 'TimeTagger' "
                                          "(for TimeTaggerRPC's server)")
    for name in simulator.__all__:
        setattr(shim, name, getattr(simulator, name))

    class SynchronizedMeasurements:
        """Placeholder: the simulator has none (TimeTaggerRPC's server needs the name)."""

        def __init__(self, tagger):
            raise NotImplementedError("SynchronizedMeasurements is not simulated")

    shim.SynchronizedMeasurements = SynchronizedMeasurements
    return shim


class _Announcer:
    """Stands in for stdout: turns the server's 'Server URI= PYRO:...' line into the JSON event line."""

    def __init__(self, out, err):
        self._out, self._err, self._buf = out, err, ""

    def write(self, text: str) -> int:
        self._buf += text
        while "\n" in self._buf:
            line, self._buf = self._buf.split("\n", 1)
            m = _URI_RE.search(line)
            if m:
                self._out.write(json.dumps({"event": "listening", "port": int(m.group("port")),
                                            "uri": line.split("=", 1)[-1].strip()}) + "\n")
                self._out.flush()
            self._err.write(line + "\n")
            self._err.flush()
        return len(text)

    def flush(self) -> None:
        self._out.flush()
        self._err.flush()


def _watchdog(lifetime_s: float, stdin_eof: bool) -> None:
    if stdin_eof:
        def wait_eof():
            try:
                while sys.stdin.buffer.read(4096):
                    pass
            finally:
                os._exit(0)
        threading.Thread(target=wait_eof, daemon=True, name="stdin-eof").start()
    if lifetime_s > 0:
        t = threading.Timer(lifetime_s, os._exit, args=(0,))
        t.daemon = True
        t.start()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0: any free port (reported on stdout)")
    p.add_argument("--exit-on-stdin-eof", action="store_true")
    p.add_argument("--lifetime-s", type=float, default=600.0, help="exit after this long (0: never)")
    args = p.parse_args(argv)
    _watchdog(args.lifetime_s, args.exit_on_stdin_eof)

    sys.modules["TimeTagger"] = build_shim()
    try:
        import TimeTaggerRPC
        from TimeTaggerRPC import server
    except ImportError as e:
        print(json.dumps({"event": "error", "error": f"TimeTaggerRPC not importable: {e}"}), flush=True)
        return 2
    sys.stderr.write(f"TimeTaggerRPC {TimeTaggerRPC.__version__} serving the simulator\n")
    sys.stdout = _Announcer(sys.__stdout__, sys.__stderr__)
    try:
        server.start_server(host=args.host, port=args.port)   # the package's own entry point, unchanged
    except Exception as e:
        sys.__stdout__.write(json.dumps({"event": "error", "error": f"{type(e).__name__}: {e}"}) + "\n")
        sys.__stdout__.flush()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
