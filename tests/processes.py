"""Small helpers of the tests that run real processes and sockets on loopback."""
import signal
import socket
import subprocess
import time

from qtpy import QtWidgets


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def pump(seconds: float) -> None:
    """Process Qt events for ``seconds`` (queued signals from helper threads are delivered)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        QtWidgets.QApplication.processEvents()
        time.sleep(0.005)


def stop_process(proc: subprocess.Popen, sig=signal.SIGTERM, timeout: float = 10) -> int:
    """Send ``sig`` (if still running), wait, kill after ``timeout`` s; return the exit code."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.returncode
