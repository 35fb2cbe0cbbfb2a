"""One tagger, several main PCs: the headless client dials two TimeTaggerTCPServer viewers, each in a process of its
own, which grab at once; every request is answered, to its requester, one measurement at a time."""
from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from pymodaq_plugins_timetagger.bridge.link import LinkGroup, _Turns, host_port
from pymodaq_plugins_timetagger.hardware.errors import AcquisitionAborted
from tests.support.processes import CLIENT, GROUP, stop_process, wait_for

pytestmark = pytest.mark.timeout(240)
GRABS = 4


def _line(proc) -> list[str]:
    """The next line of the viewer's own (``@...``), the harness's prints skipped."""
    while True:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError("the viewer process ended")
        if line.startswith("@"):
            return line[1:].split()


def _viewer():
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.tcpserver_viewer"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, bufsize=1)
    line = _line(proc)
    assert line[:1] == ["port"], line
    return proc, int(line[1])


def _say(proc, text):
    proc.stdin.write(text + "\n")
    proc.stdin.flush()


def test_two_tcpserver_viewers_in_two_processes_grab_from_one_tagger_at_once(tmp_path):
    viewers = [_viewer(), _viewer()]
    log = open(tmp_path / "client.log", "w")
    client = subprocess.Popen([*CLIENT, *sum((["--host", f"127.0.0.1:{port}"] for _, port in viewers), []),
                               "--address", "sim", "--measurement", "correlation", "--channel-1", "1",
                               "--channel-2", "2", "--test-signal", "1,2", "--integration-s", "0.02",
                               "--backoff-max-s", "0.3"], stdout=log, stderr=subprocess.STDOUT, **GROUP)
    try:
        for proc, _ in viewers:
            _say(proc, "wait")
        for proc, _ in viewers:
            assert _line(proc) == ["client", "1"], (tmp_path / "client.log").read_text()
        for proc, _ in viewers:  # both at once
            _say(proc, f"grab {GRABS}")
        results = [[_line(proc) for _ in range(GRABS)] for proc, _ in viewers]
        for lines in results:
            assert all(line[0] == "got" for line in lines), lines
            assert all(int(line[1]) > 1 and float(line[2]) > 0 for line in lines), lines
    finally:
        for proc, _ in viewers:
            try:
                _say(proc, "quit")
                proc.wait(30)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
        assert stop_process(client) == 0, (tmp_path / "client.log").read_text()
        log.close()


def test_turns_are_taken_in_arrival_order_and_a_stopped_waiter_gives_its_turn_up():
    turns = _Turns()
    order, release = [], threading.Event()
    never = threading.Event()
    first = threading.Thread(target=turns.run, args=(never, lambda: (release.wait(10), order.append(1))))
    first.start()
    wait_for(lambda: turns._next == 1, 10, "the first turn taken")
    stopped = threading.Event()
    gave_up = []

    def waiter():
        try:
            turns.run(stopped, lambda: order.append("stopped"))
        except AcquisitionAborted:
            gave_up.append(True)
    second = threading.Thread(target=waiter)
    second.start()
    third = threading.Thread(target=turns.run, args=(never, lambda: order.append(3)))
    wait_for(lambda: turns._next == 2, 10, "the second waiting")
    third.start()
    wait_for(lambda: turns._next == 3, 10, "the third waiting")
    stopped.set()
    turns.wake()
    second.join(10)
    release.set()
    for t in (first, third):
        t.join(10)
    assert order == [1, 3] and gave_up == [True]


def test_host_port():
    assert host_port("pc", 6341) == ("pc", 6341) and host_port("pc:7000", 6341) == ("pc", 7000)
    assert host_port("[::1]:7000", 6341) == ("::1", 7000) and host_port("::1", 6341) == ("::1", 6341)
    with pytest.raises(ValueError, match="between 1 and 65535"):
        host_port("pc:0", 6341)
    assert LinkGroup  # the group the client makes for several --host
