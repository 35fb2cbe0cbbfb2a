"""Helpers of the LECO tests: child processes, a Coordinator on 127.0.0.1, who is signed in."""
import os
import subprocess
import sys
import time

from .processes import GROUP, free_port, pump, stop_process

HOST = "127.0.0.1"
NAMESPACE = "ttest"

#: the child ends when the test process does: its stdin is a pipe from the parent, at EOF the parent is gone
#: (on every OS; a changing getppid() is POSIX-only and not even there when a subreaper adopts the child)
WATCH_PARENT = """
import os, threading
def _watch():  # os.read: no buffered reader's lock, which a daemon thread must not hold at exit
    while os.read(0, 4096):
        pass
    os._exit(0)
threading.Thread(target=_watch, daemon=True).start()
"""

COORDINATOR = WATCH_PARENT + """
import sys
from pyleco.coordinators.coordinator import Coordinator
from pyleco.utils.coordinator_utils import ZmqMultiSocket

class LoopbackSocket(ZmqMultiSocket):  # the command line coordinator binds every interface
    def bind(self, host='127.0.0.1', port=0):
        self._sock.bind(f'tcp://127.0.0.1:{port}')

with Coordinator(namespace=sys.argv[2], host='127.0.0.1', port=int(sys.argv[1]),
                 multi_socket=LoopbackSocket()) as coordinator:
    print('READY', flush=True)
    coordinator.routing()
"""

class Child:
    """A child process whose output goes to a file (shown when an assertion fails)."""

    def __init__(self, tmp, name, code, *args):
        self.log = tmp / f"{name}.log"
        self.name = name
        self._out = open(self.log, "ab")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([sys.executable, "-c", code, *map(str, args)], stdout=self._out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.PIPE, env=env, **GROUP)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_line(self, text: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            assert self.proc.poll() is None, f"{self.name} exited:\n{self.output()[-3000:]}"
            assert time.monotonic() < deadline, f"no {text!r} from {self.name}:\n{self.output()[-3000:]}"
            time.sleep(0.02)

    def stop(self, sig=None) -> int:
        """Ctrl-C / Ctrl-Break (default) or ``sig``; killed if it does not end."""
        code = stop_process(self.proc, sig)
        self._out.close()
        if self.proc.stdin:
            self.proc.stdin.close()
        return code

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)
        self._out.close()
        if self.proc.stdin:
            self.proc.stdin.close()


def start_coordinator(tmp, port, tag="coordinator") -> Child:
    c = Child(tmp, tag, COORDINATOR, port, NAMESPACE)
    c.wait_line("READY")
    return c


def components(port) -> list:
    """Names signed in at the Coordinator (asked with a plain pyleco Communicator)."""
    from pyleco.utils.communicator import Communicator
    try:
        with Communicator(name=f"probe{os.getpid()}_{time.monotonic_ns() % 10**6}", host=HOST, port=port,
                          timeout=1) as comm:
            return comm.ask_rpc("COORDINATOR", "send_local_components", timeout=1)
    except (TimeoutError, ConnectionRefusedError, Exception):
        return []


def wait_signed_in(port, name, actor: Child, timeout=10) -> float:
    t0 = time.monotonic()
    while name not in components(port):
        assert actor.proc.poll() is None, f"actor exited:\n{actor.output()[-3000:]}"
        assert time.monotonic() - t0 < timeout, f"{name} not signed in:\n{actor.output()[-3000:]}"
        time.sleep(0.1)
    return time.monotonic() - t0


def directors():
    """PyMoDAQ's (1D, 0D) LECODirector plugin modules, or skip the calling test module."""
    import pytest
    reason = "the LECODirector viewers come with pymodaq_plugins_mock >= 5.0.13"
    return (pytest.importorskip("pymodaq_plugins_mock.daq_viewer_plugins.plugins_1D.daq_1Dviewer_LECODirector",
                                reason=reason),
            pytest.importorskip("pymodaq_plugins_mock.daq_viewer_plugins.plugins_0D.daq_0Dviewer_LECODirector",
                                reason=reason))


__all__ = ["HOST", "NAMESPACE", "WATCH_PARENT", "COORDINATOR", "Child", "start_coordinator", "components",
           "wait_signed_in", "directors", "free_port", "pump", "stop_process"]
