"""Test set-up: headless Qt, and helpers shared by the simulator tests."""
import os

# Qt must never look for a display in the tests (PyMoDAQ creates widgets even when nobody sees them)
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("MPLBACKEND", "Agg")
# The simulator's numpy kernels for the whole suite and its subprocesses (no numba import and compile
# in each); tests/test_simulator_kernels.py checks that the numba kernels give the same data bit for bit.
# PYMODAQ_TIMETAGGER_KERNELS=numba runs the suite on numba's.
os.environ.setdefault("PYMODAQ_TIMETAGGER_KERNELS", "numpy")

import gc  # noqa: E402

import pytest  # noqa: E402

from pymodaq_plugins_timetagger.hardware import simulator as TT  # noqa: E402


# Python's cycle collector runs in whichever thread allocates when it triggers: in this long process, often a
# non-Qt one (a grab job, a bridge connection, a DAQ_Viewer's hardware thread). The DAQ_Viewers, DAQ_Scans and
# Dashboards the tests close leave PyMoDAQ's Qt objects in reference cycles; deleted there, outside their own
# thread, a Qt object leaves its timers registered, and a later event loop fires them on freed memory (a segfault
# in QTimerInfoList::activateTimers, seen in 1 of 2 or 3 runs of test_remote_responder + test_remote_server).
# So the collector runs here only, in the main thread, between tests (pyqtgraph's GarbageCollector does the
# same for applications): the young generations after each test, all of them every FULL_COLLECT_EVERY tests (a
# full collection of this process's heap takes ~0.3 s: after every test it made the suite 2-4x slower). Our own
# plugins keep no cycle once closed: tests/test_plugin_lifetime.py.
FULL_COLLECT_EVERY = 25
_tests_since_full = 0


def pytest_configure(config):
    gc.disable()


@pytest.fixture(autouse=True)
def _collect_in_the_main_thread():
    global _tests_since_full
    yield
    _tests_since_full += 1
    if _tests_since_full >= FULL_COLLECT_EVERY:
        _tests_since_full = 0
        gc.collect()
    else:
        gc.collect(1)


@pytest.fixture
def make_tagger():
    """Open simulated taggers (virtual clock, seeded) and free them after the test."""
    opened = []

    def _make(serial="", *, seed=1234, sources=(), clock="virtual"):
        t = TT.createTimeTagger(serial, clock=clock, seed=seed,
                                sources=list(sources) if sources is not None else None)
        opened.append(t)
        return t

    yield _make
    for t in opened:
        TT.freeTimeTagger(t)

@pytest.fixture
def server(request):
    """Our BridgeServer on 127.0.0.1 (any port), short timeouts; a module may set ``BRIDGE_MESSAGE_TIMEOUT_S``.
    (test_bridge_e2e and test_rpc_backend have a ``server`` of their own: a TCPServer viewer, an RPC server.)"""
    from pymodaq_plugins_timetagger.protocol.server import BridgeServer
    s = BridgeServer("127.0.0.1", 0, handshake_timeout=1.0,
                     message_timeout=getattr(request.module, "BRIDGE_MESSAGE_TIMEOUT_S", 1.0)).start()
    yield s
    s.stop()


# Property-based tests: random exploration locally, a fixed sequence in CI (a submission must not
# fail on a draw that no one can reproduce); the suite stays the same size in both.
try:
    from hypothesis import settings as _hyp_settings
    _hyp_settings.register_profile("ci", derandomize=True, print_blob=True)
    if os.environ.get("CI"):
        _hyp_settings.load_profile("ci")
except ImportError:  # hypothesis is a test dependency; without it those tests are not collected
    pass


def pytest_addoption(parser):
    parser.addoption("--soak-grabs", type=int, default=2000,
                     help="grabs of the bridge soak test (default 2000; e.g. 100000 for a long run)")


# The suite's verdict is final once pytest has printed it. After that, the interpreter's own
# finalization tears down Qt (PySide6) and the QThreads of PyMoDAQ's Dashboard, DAQ_Scan and
# DAQ_Viewers in an order PySide6 does not always survive: once in a few full runs the process then
# died with a segmentation fault (exit code 245) although every test had passed. Leave at once with
# pytest's own exit status instead of running that finalization.
_exit_status = None


def pytest_sessionfinish(session, exitstatus):
    global _exit_status
    _exit_status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    if _exit_status is not None and os.environ.get("TT_TESTS_NORMAL_EXIT") != "1":
        import sys
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status)
