#!/usr/bin/env python3
"""Round-trip time of one 1D grab of N float64 bins through two alternative remote routes (LECO, Pyro5).

    /tmp/dev/bin/python benchmarks/routes.py [--bins 1024 65536] [--repeat 20] [--tolist-bins 65536]

Importable by the benchmark runner: ``leco_grab_times``, ``pyro5_array_times``, ``pyro5_tolist_times``,
``leco_raw_times`` (seconds per sample), ``RouteUnavailable``, ``LAST_RUN``.

Both routes run on 127.0.0.1 only, with their remote side in a child process of this one:

* LECO (PyMoDAQ >= 5.2): a pyleco Coordinator, a headless ``DAQ_Viewer`` *actor* (mock 1D detector ``Mock``
  of pymodaq_plugins_mock, ``x_axis/Npts`` = N, one channel) connected through ``main_settings/leco``, and in
  this process the ``DAQ_1DViewer_LECODirector`` plugin (``make_detector`` of PyMoDAQ's plugin harness). One
  sample = ``grab_data`` (snap, i.e. the ``send_data_snap`` RPC) until the ``DataToExport`` with N points is
  emitted by the director plugin. The actor's own snap time (the same grab without LECO) is also reported,
  and ``leco_raw_times`` gives the floor of the route: a bare pyleco RPC returning the N float64 as bytes.
* Pyro5 (what Swabian's TimeTaggerRPC uses): a Pyro5 daemon exposing a method that returns an N-point float64
  numpy array, called through a proxy. Arrays travel with the ``msgpack`` serializer as raw bytes
  (``register_class_to_dict``/``register_dict_to_class``: dtype, shape, bytes); ``pyro5_tolist_times`` does
  what the vendor tutorial does instead (``.tolist()`` with Pyro5's default serializer, serpent).

Functions return seconds per sample and raise ``RouteUnavailable`` (with the reason) when a route cannot be
set up; the set-up time and details of the last run of each route are left in ``LAST_RUN``. Children get
their stdout/stderr in files of a temporary directory, are killed in ``finally`` and exit by themselves
when this process disappears.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.util
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Optional

WARMUP = 2
"""Samples taken and discarded before timing (first grab carries the x axis; caches, sockets warm up)."""
LECO_ACTOR_NAME = "bench_leco_actor"
LECO_RAW_ACTOR_NAME = "bench_leco_raw_actor"
PYRO_OBJECT_ID = "bench.arrays"
NDARRAY_TAG = "numpy.ndarray"
"""``__class__`` tag of a numpy array in Pyro5 dicts."""

LAST_RUN: dict[str, dict] = {}
"""Per route ('leco', 'leco_raw', 'pyro5', 'pyro5_tolist'), details of the last call: ``setup_s`` (from the
start of the children until the route can take its first sample; for LECO without the actor's local check
snaps), ``first_s`` (the first, cold, sample) and route specific entries."""


class RouteUnavailable(Exception):
    """A route cannot be set up here (missing package, child that does not start...); the message says why."""


# ------------------------------------------------------------------------------------------------- children

class _Children:
    """Child processes of one measurement, with their output in files; all killed by ``close``."""

    def __init__(self, prefix: str):
        self.dir = Path(tempfile.mkdtemp(prefix=prefix))
        self.procs: list[tuple[str, subprocess.Popen, Path]] = []

    def start(self, role: str, *args: str, env: Optional[dict] = None) -> Path:
        """Start ``routes.py --child ROLE ARGS`` and return the file that receives its stdout + stderr."""
        log = self.dir / f"{role}.log"
        child_env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
        with open(log, "wb") as out:
            proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--child", role,
                                     "--parent-pid", str(os.getpid()), *args],
                                    stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT,
                                    env=child_env, cwd=str(self.dir))
        self.procs.append((role, proc, log))
        return log

    def wait_ready(self, log: Path, deadline: float) -> list[str]:
        """Wait for the line ``READY ...`` of a child and return its words after READY."""
        role, proc = next((r, p) for r, p, lg in self.procs if lg == log)
        while time.monotonic() < deadline:
            for line in log.read_text(errors="replace").splitlines():
                if line.startswith("READY"):
                    return line.split()[1:]
            if proc.poll() is not None:
                raise RouteUnavailable(f"{role} exited with code {proc.returncode}:\n{self.tail(log)}")
            time.sleep(0.02)
        raise TimeoutError(f"{role} not ready in time:\n{self.tail(log)}")

    @staticmethod
    def tail(log: Path, lines: int = 15) -> str:
        try:
            return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def close(self) -> None:
        for _role, proc, _log in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for _role, proc, _log in reversed(self.procs):
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=3)
            if proc.stdin:
                proc.stdin.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def _exit_with_parent(parent_pid: int) -> None:
    """In a child: leave at once when the measuring process is gone (no orphan servers). Its stdin is a pipe
    from the parent: end of file = the parent is gone, on every OS (getppid() is POSIX-only, and a
    subreaper may adopt the child)."""
    def watch():
        while os.read(0, 4096):  # os.read: no buffered reader's lock held by a daemon thread at exit
            pass
        os._exit(0)
    threading.Thread(target=watch, daemon=True).start()


def _wait_signal(signal, action, timeout_s: float):
    """Call ``action`` and return the first argument of the next emission of ``signal``, waiting in a Qt
    event loop (a signal emitted in another thread reaches a Python slot through the main thread's loop).

    Unlike ``plugin_testing.wait_for_signal``, which polls every 5 ms, the loop returns as soon as the
    signal is delivered, so the time measured is not rounded up to the polling period.
    """
    from qtpy.QtCore import QEventLoop, QTimer
    loop = QEventLoop()
    got: list = []

    def slot(*args):
        got.append(args[0] if args else None)
        loop.quit()

    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(loop.quit)
    signal.connect(slot)
    try:
        timer.start(max(1, int(timeout_s * 1000)))
        action()
        if not got:
            loop.exec()
    finally:
        timer.stop()
        signal.disconnect(slot)
    if not got:
        raise TimeoutError(f"no signal within {timeout_s:.1f} s")
    return got[0]


def _warm_then_time(call, repeat: int) -> tuple[float, list[float]]:
    """``call()`` returns the seconds of one exchange: WARMUP calls (the first one's time is kept), then
    ``repeat`` measured ones."""
    first_s = call()
    for _ in range(WARMUP - 1):
        call()
    return first_s, [call() for _ in range(repeat)]


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("route benchmark exceeded its timeout")
    return left


# ------------------------------------------------------------------------------------------------- LECO

def _require(*modules: str, hint: str) -> None:
    """Raise ``RouteUnavailable`` unless every top-level module is installed (found, not imported)."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise RouteUnavailable(f"{', '.join(missing)} not installed: {hint}")


def leco_grab_times(n_bins: int, repeat: int, timeout_s: float = 60) -> list[float]:
    """Seconds per 1D snap of ``n_bins`` points through LECO (director plugin here, DAQ_Viewer actor in a
    child process).

    Blocks; raises ``RouteUnavailable`` if the route cannot be set up, ``TimeoutError`` after ``timeout_s``
    (whole call: set-up, warm-up and measurement), ``AssertionError`` if a grab does not carry ``n_bins``
    points per channel. Creates a QApplication in this process if there is none (sets QT_QPA_PLATFORM to
    ``offscreen`` unless already set).
    """
    _require("pyleco", "pymodaq", "pymodaq_plugins_mock",
             hint="pip install 'pymodaq>=5.2' 'pymodaq_plugins_mock>=5.0.13' (pyleco comes with pymodaq)")
    deadline = time.monotonic() + timeout_s
    t_setup = time.perf_counter()
    kids = _Children("bench_leco_")
    director = None
    # a plugin without a parent module prints its status messages: keep them out of the caller's output
    status_out = io.StringIO()
    try:
        coord_log = kids.start("leco-coordinator")
        (port,) = kids.wait_ready(coord_log, deadline)
        actor_log = kids.start("leco-actor", "--port", port, "--bins", str(n_bins),
                               env={"QT_QPA_PLATFORM": "offscreen"})
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        # import the director stack while the actor starts (both take seconds)
        try:
            from pymodaq.utils.plugin_testing import make_detector  # pymodaq >= 5.3.2
            from pymodaq_plugins_mock.daq_viewer_plugins.plugins_1D.daq_1Dviewer_LECODirector import (
                DAQ_1DViewer_LECODirector)  # pymodaq_plugins_mock >= 5.0.13
        except ImportError as exc:
            raise RouteUnavailable(f"LECO director not available: {exc}") from exc
        local_snap_s, local_check_s = map(float, kids.wait_ready(actor_log, deadline))
        # host and port are read in the constructor: give them as keywords, not as settings
        with contextlib.redirect_stdout(status_out):
            director = make_detector(functools.partial(DAQ_1DViewer_LECODirector, host="127.0.0.1",
                                                       port=int(port)), actor_name=LECO_ACTOR_NAME)
        if not director.initialized:
            raise RouteUnavailable(f"LECO director not initialized: {director.init_info}")

        received: list = []

        def snap() -> float:
            t0 = time.perf_counter()
            try:
                dte = _wait_signal(director.dte_signal, lambda: director.grab_data(1), _remaining(deadline))
            except TimeoutError as exc:
                raise TimeoutError(f"no data from the LECO actor ({exc}):\n{kids.tail(actor_log)}") from None
            dt = time.perf_counter() - t0
            received[:] = [dte]
            sizes = [d.size for dwa in dte for d in dwa.data]
            assert sizes and all(s == n_bins for s in sizes), \
                f"expected {n_bins} points per channel, got {sizes}"
            return dt

        setup_s = time.perf_counter() - t_setup - local_check_s
        with contextlib.redirect_stdout(status_out):
            first_s, times = _warm_then_time(snap, repeat)
        LAST_RUN["leco"] = {"setup_s": setup_s, "first_s": first_s, "n_bins": n_bins,
                            "actor_local_snap_s": local_snap_s,
                            "channels": len(received[0][0].data) if received else 0}
        return times
    finally:
        if director is not None:
            with contextlib.suppress(Exception), contextlib.redirect_stdout(status_out):
                director.close()
        kids.close()


def _child_leco_coordinator(args) -> None:
    """A pyleco Coordinator bound to 127.0.0.1 on a port chosen by the system (the command line
    ``python -m pyleco.coordinators.coordinator -p PORT`` binds all interfaces)."""
    import zmq
    from pyleco.coordinators.coordinator import Coordinator
    from pyleco.utils.coordinator_utils import ZmqMultiSocket

    class LoopbackSocket(ZmqMultiSocket):
        def bind(self, host: str = "127.0.0.1", port=0) -> None:
            self._sock.bind("tcp://127.0.0.1:*")
            self.port = int(self._sock.getsockopt(zmq.LAST_ENDPOINT).decode().rsplit(":", 1)[1])

    sock = LoopbackSocket()
    with Coordinator(namespace="bench", host="127.0.0.1", port=0, multi_socket=sock) as coordinator:
        print("READY", sock.port, flush=True)
        coordinator.routing()


def _child_leco_actor(args) -> None:
    """A headless DAQ_Viewer with the mock 1D detector, N points, connected to LECO as an actor."""
    from pymodaq_gui.qt_utils import mkQApp
    app = mkQApp("leco_actor")
    from pymodaq.control_modules.daq_viewer import DAQ_Viewer
    from pymodaq.control_modules.daq_viewer_ui.viewer_selector import SelectedModule
    from pymodaq.control_modules.enums import DAQTypesEnum
    viewer = DAQ_Viewer(None, title=LECO_ACTOR_NAME, daq_type="DAQ1D")
    viewer.detector = SelectedModule(DAQTypesEnum.DAQ1D, "Mock")
    assert _wait_signal(viewer.init_signal, lambda: viewer.init_hardware(True), 30)
    det = viewer.settings.child("detector_settings")
    det.child("multi").setValue(False)  # one channel of N points (the mock's init sets two)
    det.child("x_axis", "Npts").setValue(args.bins)  # after init: the mock's init sets 512
    local = []
    t_check = time.perf_counter()
    for _ in range(WARMUP + 3):  # also checks that the setting reached the plugin in its thread
        t0 = time.perf_counter()
        dte = _wait_signal(viewer.grab_done_signal, viewer.snap, 30)
        local.append(time.perf_counter() - t0)
        sizes = [d.size for dwa in dte for d in dwa.data]
    assert sizes == [args.bins], f"mock detector gives {sizes} points, expected [{args.bins}]"

    leco = viewer.settings.child("main_settings", "leco")
    leco.child("host").setValue("127.0.0.1")
    leco.child("port").setValue(args.port)
    leco.child("leco_name").setValue(LECO_ACTOR_NAME)
    leco.child("connect_leco_server").setValue(True)
    deadline = time.monotonic() + 30
    while not leco["leco_connected"]:
        if time.monotonic() > deadline:
            raise TimeoutError("actor not signed in to the Coordinator")
        app.processEvents()
        time.sleep(0.01)
    local_check_s = time.perf_counter() - t_check
    print("READY", statistics.median(local[WARMUP:]), local_check_s, flush=True)
    app.exec()


def leco_raw_times(n_bins: int, repeat: int, timeout_s: float = 60) -> list[float]:
    """Seconds per pyleco RPC returning ``n_bins`` float64 as one raw binary frame, without PyMoDAQ: the floor
    of the LECO route (same Coordinator, a Qt-free ``pyleco.utils.listener.Listener`` actor in a child, a
    ``Communicator`` here). Blocks; raises ``RouteUnavailable``/``TimeoutError`` as ``leco_grab_times``."""
    _require("pyleco", hint="pip install pyleco")
    import numpy as np
    from pyleco.utils.communicator import Communicator
    deadline = time.monotonic() + timeout_s
    t_setup = time.perf_counter()
    kids = _Children("bench_lecoraw_")
    try:
        coord_log = kids.start("leco-coordinator")
        (port,) = kids.wait_ready(coord_log, deadline)
        actor_log = kids.start("leco-raw-actor", "--port", port)
        kids.wait_ready(actor_log, deadline)
        with Communicator(name=f"bench_raw_director_{os.getpid()}", host="127.0.0.1", port=int(port)) as comm:
            def call() -> float:
                t0 = time.perf_counter()
                _, frames = comm.ask_rpc(LECO_RAW_ACTOR_NAME, "get_array", n=n_bins,
                                         extract_additional_payload=True, timeout=_remaining(deadline))
                out = np.frombuffer(frames[0], dtype=np.float64)
                dt = time.perf_counter() - t0
                assert out.size == n_bins, f"expected {n_bins} points, got {out.size}"
                return dt

            setup_s = time.perf_counter() - t_setup
            first_s, times = _warm_then_time(call, repeat)
        LAST_RUN["leco_raw"] = {"setup_s": setup_s, "first_s": first_s, "n_bins": n_bins}
        return times
    finally:
        kids.close()


def _child_leco_raw_actor(args) -> None:
    import numpy as np
    from pyleco.utils.listener import Listener
    arrays: dict[int, np.ndarray] = {}

    def get_array(n: int):
        if n not in arrays:
            arrays[n] = np.random.default_rng(n).random(n)
        return None, [arrays[n].tobytes()]

    listener = Listener(LECO_RAW_ACTOR_NAME, host="127.0.0.1", port=args.port)
    listener.start_listen()
    listener.message_handler.register_binary_rpc_method(get_array, return_binary_output=True)
    deadline = time.monotonic() + 30
    while getattr(listener.message_handler, "namespace", None) is None:  # signed in
        if time.monotonic() > deadline:
            raise TimeoutError("raw actor not signed in to the Coordinator")
        time.sleep(0.01)
    print("READY", flush=True)
    threading.Event().wait()


# ------------------------------------------------------------------------------------------------- Pyro5

PYRO_SERIALIZERS = ("msgpack", "marshal", "serpent")


def _register_numpy_for_pyro5() -> None:
    """numpy arrays as {'__class__': 'numpy.ndarray', dtype, shape, data: raw bytes} (bytes travel raw with
    msgpack and marshal, base64 with serpent)."""
    import numpy as np
    from Pyro5.api import register_class_to_dict, register_dict_to_class

    def to_dict(a):
        a = np.ascontiguousarray(a)
        return {"__class__": NDARRAY_TAG, "dtype": a.dtype.str, "shape": list(a.shape), "data": a.tobytes()}

    def from_dict(_classname, d):
        data = d["data"]
        if isinstance(data, dict):  # serpent: {'data': base64, 'encoding': 'base64'}
            import serpent
            data = serpent.tobytes(data)
        return np.frombuffer(data, dtype=d["dtype"]).reshape(d["shape"])

    register_class_to_dict(np.ndarray, to_dict)
    register_dict_to_class(NDARRAY_TAG, from_dict)


def _pyro5_times(n_bins: int, repeat: int, timeout_s: float, method: str, serializer: str,
                 route: str) -> list[float]:
    _require("Pyro5", hint="pip install Pyro5")
    if serializer == "msgpack":
        _require("msgpack", hint="pip install msgpack")
    import numpy as np
    from Pyro5.api import Proxy
    _register_numpy_for_pyro5()
    deadline = time.monotonic() + timeout_s
    t_setup = time.perf_counter()
    kids = _Children("bench_pyro5_")
    try:
        log = kids.start("pyro5-server")
        (uri,) = kids.wait_ready(log, deadline)
        with Proxy(uri) as proxy:
            proxy._pyroSerializer = serializer
            proxy._pyroTimeout = max(1.0, min(30.0, deadline - time.monotonic()))

            def call() -> float:
                _remaining(deadline)
                t0 = time.perf_counter()
                out = getattr(proxy, method)(n_bins)
                if isinstance(out, list):
                    out = np.asarray(out, dtype=np.float64)  # what a client of .tolist() has to do
                dt = time.perf_counter() - t0
                assert isinstance(out, np.ndarray) and out.shape == (n_bins,) and out.dtype == np.float64, \
                    f"unexpected answer {type(out)} {getattr(out, 'shape', None)}"
                return dt

            setup_s = time.perf_counter() - t_setup
            first_s, times = _warm_then_time(call, repeat)
        LAST_RUN[route] = {"setup_s": setup_s, "first_s": first_s, "n_bins": n_bins, "serializer": serializer,
                           "method": method}
        return times
    finally:
        kids.close()


def pyro5_array_times(n_bins: int, repeat: int, timeout_s: float = 60,
                      serializer: str = "msgpack") -> list[float]:
    """Seconds per Pyro5 call returning an ``n_bins`` float64 numpy array (raw bytes, ``serializer``).

    Blocks; raises ``RouteUnavailable`` if Pyro5 (or msgpack) is missing, ``TimeoutError`` after
    ``timeout_s``.
    """
    if serializer not in PYRO_SERIALIZERS:
        raise ValueError(f"serializer must be one of {PYRO_SERIALIZERS}")
    return _pyro5_times(n_bins, repeat, timeout_s, "array", serializer, "pyro5")


def pyro5_tolist_times(n_bins: int, repeat: int, timeout_s: float = 60) -> list[float]:
    """Seconds per Pyro5 call returning ``array.tolist()`` with the default serializer (serpent), as in the
    vendor's TimeTaggerRPC tutorial; the time includes turning the list back into a float64 array."""
    return _pyro5_times(n_bins, repeat, timeout_s, "tolist", "serpent", "pyro5_tolist")


def _child_pyro5_server(args) -> None:
    import numpy as np
    from Pyro5.api import Daemon, expose
    _register_numpy_for_pyro5()

    @expose
    class Arrays:
        """Arrays are made once per size: the benchmark measures transport, not data generation."""

        def __init__(self):
            self._cache: dict[int, np.ndarray] = {}

        def _get(self, n: int) -> np.ndarray:
            if n not in self._cache:
                self._cache[n] = np.random.default_rng(n).random(n)
            return self._cache[n]

        def array(self, n: int) -> np.ndarray:
            return self._get(n)

        def tolist(self, n: int) -> list:
            return self._get(n).tolist()

    with Daemon(host="127.0.0.1", port=0) as daemon:
        uri = daemon.register(Arrays(), PYRO_OBJECT_ID)
        print("READY", uri, flush=True)
        daemon.requestLoop()


# ------------------------------------------------------------------------------------------------- CLI

ROUTES = {
    "LECO: DAQ_Viewer actor (mock 1D) -> LECODirector plugin": ("leco", leco_grab_times),
    "LECO floor: pyleco RPC, raw bytes, no PyMoDAQ": ("leco_raw", leco_raw_times),
    "Pyro5: numpy array, msgpack raw bytes": ("pyro5", pyro5_array_times),
}


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version
    out = [f"Python {sys.version.split()[0]}", f"{os.cpu_count()} CPUs"]
    for dist in ("pymodaq", "pyleco", "pyzmq", "Pyro5", "msgpack"):
        with contextlib.suppress(PackageNotFoundError):
            out.append(f"{dist} {version(dist)}")
    return ", ".join(out)


def _fmt_s(s: float) -> str:
    return f"{s * 1e3:.2f} ms" if s >= 1e-3 else f"{s * 1e6:.0f} µs"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bins", type=int, nargs="+", default=[1024, 65536])
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--tolist-bins", type=int, default=65536,
                   help="size for the .tolist() comparison (0: skip)")
    p.add_argument("--timeout", type=float, default=60, help="seconds per route and size")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        _exit_with_parent(args.parent_pid)
        child = {"leco-coordinator": _child_leco_coordinator, "leco-actor": _child_leco_actor,
                 "leco-raw-actor": _child_leco_raw_actor, "pyro5-server": _child_pyro5_server}[args.child]
        args.bins = args.bins[0]
        child(args)
        return 0

    cases = [(name, route, fn, n) for name, (route, fn) in ROUTES.items() for n in args.bins]
    if args.tolist_bins:
        cases.append(("Pyro5: .tolist(), serpent (vendor tutorial)", "pyro5_tolist", pyro5_tolist_times,
                      args.tolist_bins))
    print(f"\nRound trip of one 1D grab of N float64 bins on 127.0.0.1, {args.repeat} samples after {WARMUP} "
          f"warm-up; {_versions()}\n")
    print("| route | N | median | min | max | MB/s (median) | set-up | first sample |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, route, fn, n in cases:
        try:
            times = fn(n, args.repeat, timeout_s=args.timeout)
        except RouteUnavailable as exc:
            print(f"| {name} | {n} | unavailable: {str(exc).splitlines()[0]} | | | | | |", flush=True)
            continue
        except (TimeoutError, AssertionError) as exc:
            print(f"| {name} | {n} | FAILED: {str(exc).splitlines()[0]} | | | | | |", flush=True)
            continue
        med = statistics.median(times)
        run = LAST_RUN[route]
        extra = f" (actor's own snap: {_fmt_s(run['actor_local_snap_s'])})" if route == "leco" else ""
        print(f"| {name}{extra} | {n} | {_fmt_s(med)} | {_fmt_s(min(times))} | {_fmt_s(max(times))} | "
              f"{n * 8 / med / 1e6:.1f} | {run['setup_s']:.2f} s | {_fmt_s(run['first_s'])} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
