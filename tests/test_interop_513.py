"""Interoperability with PyMoDAQ 5.1.13 (the last release with its own TCP server and remote viewer).

PyMoDAQ 5.1.13 runs in its own virtual environment (tests/interop/venv513.py creates it once, from the
package index); its server and its remote DAQ_Viewer run as subprocesses (tests/interop/pmq513_*.py),
with the two workarounds 5.1.13's server needs (see those scripts). The scenarios are shared with the
PyMoDAQ 4.4.11 leg (tests/interop/scenarios.py, tests/test_versions.py). Loopback only.
"""
import pytest

from tests.interop.scenarios import our_client_feeds_pymodaq_tcpserver, pymodaq_remote_viewer_is_served
from tests.interop.venv513 import interop_python_or_skip

pytestmark = pytest.mark.timeout(300)


def test_our_client_feeds_pymodaq_513_tcpserver(tmp_path):
    our_client_feeds_pymodaq_tcpserver(interop_python_or_skip(), "pymodaq5", tmp_path)


def test_pymodaq_513_remote_viewer_is_served_by_our_tcpserver():
    (info,) = pymodaq_remote_viewer_is_served(interop_python_or_skip())
    assert info.dialect == "pymodaq5"
