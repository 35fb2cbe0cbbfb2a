"""The legs on older PyMoDAQ releases (README "PyMoDAQ versions"): each runs in its own venv, built once and
cached by tests/interop/venvs.py, as subprocesses.

* PyMoDAQ 5.0.18, 5.1.13 (PyQt5, pymodaq-plugins-mock 5.0.12 installed beside us) and 5.2.12 (PyQt5): our
  plugins, TimeTaggerTCPServer included, in a real headless DAQ_Viewer (tests/interop/viewer_check.py), and
  on 5.1.13 the Qt-free suites; the TCPServer and the remote DAQ_Viewer of 5.0.18 with our client and server;
* PyMoDAQ 4.4.11 (PyQt5, pyqtgraph 0.13.7): interop of the pymodaq4 dialect both ways, with 4.4.11's own
  TCPServer plugin and its own remote DAQ_Viewer (the scripts of tests/interop/, shared with the 5.1.13 leg).
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.interop.scenarios import our_client_feeds_pymodaq_tcpserver, pymodaq_remote_viewer_is_served
from tests.interop.venvs import LEG_44, LEG_50, LEG_51, LEG_52, leg_env, python_or_skip

HERE = Path(__file__).parent
REPO = HERE.parent
pytestmark = pytest.mark.timeout(600)

#: the Qt-free suites (no Qt, no PyMoDAQ control module), run again on PyMoDAQ 5.1.13's packages
QT_FREE_SUITES = ["tests/test_codec.py", "tests/test_codec_properties.py", "tests/test_dialect4.py", "tests/test_connection.py",
                  "tests/test_runs.py", "tests/test_conventions.py", "tests/test_simulator_api.py",
                  "tests/test_simulator_physics.py", "tests/test_access.py"]
#: oracles that are PyMoDAQ 5.3 objects, not wire facts: 5.1.13's DataFromPlugins adds the extra attribute
#: do_save (the bytes of everything both write are compared in the other tests of the file)
DESELECT_51 = ["tests/test_codec.py::test_data_to_export_matches_pymodaq_both_ways"]


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("leg", [LEG_50, LEG_51, LEG_52], ids=lambda leg: leg.name)
def test_our_plugins_in_a_daq_viewer_of_older_pymodaq(leg):
    py = python_or_skip(leg)
    res = subprocess.run([str(py), str(HERE / "interop" / "viewer_check.py")], capture_output=True, text=True,
                         timeout=180, env=leg_env())
    events = {e["event"]: e for e in json_lines(res.stdout)}
    assert res.returncode == 0 and "end" in events, (res.stdout[-3000:], res.stderr[-3000:])
    assert events["versions"]["pymodaq"] == leg.versions[0] and events["versions"]["qt"] == "PyQt5"
    # discovery: every plugin name once; ours and mock's TCP servers side by side, each under its own name
    for kind, plugins in events["discovery"]["plugins"].items():
        names = [name for name, _ in plugins]
        assert len(names) == len(set(names)), (kind, plugins)
        assert ["TimeTaggerTCPServer", "pymodaq_plugins_timetagger"] in plugins, (kind, plugins)
        if "pymodaq-plugins-mock==5.0.12" in leg.requirements:
            assert ["TCPServer", "pymodaq_plugins_mock"] in plugins, (kind, plugins)
    assert "SIMULATED" in events["init"]["device"]
    assert events["snap"]["names"] == ["Countrate"] and events["snap"]["capture_duration_s"] == 0.05
    assert events["readback"]["deadtime_ps"] == 2000  # 777 asked, the Ultra's minimum applied
    assert events["live"]["frames"] >= 3
    # a failed grab stops the live grab (ThreadStatus 'stop' through compat.py) and nothing crashes
    assert events["failure"] == {**events["failure"], "stopped": True, "frames_after": 0}
    assert events["recovered"]["names"] == ["Countrate"]
    # our TimeTaggerTCPServer in that release's DAQ_Viewer, fed by our client
    assert events["tcpserver"] == {**events["tcpserver"], "names": ["Countrate"], "client": "pymodaq5"}
    assert "Traceback" not in res.stderr, res.stderr[-3000:]


def test_qt_free_suites_on_pymodaq_5113():
    py = python_or_skip(LEG_51)
    cmd = [str(py), "-m", "pytest", "-q", "-p", "no:cacheprovider", *QT_FREE_SUITES,
           *(f"--deselect={d}" for d in DESELECT_51)]
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=560, env=leg_env())
    tail = res.stdout[-3000:] + res.stderr[-2000:]
    assert res.returncode == 0, tail
    assert " passed" in res.stdout.splitlines()[-1], tail


LEGACY_SERVERS = [(LEG_44, "pymodaq4"), (LEG_50, "pymodaq5")]  # 5.1.13: tests/test_interop_513.py (PySide6)
LEGACY_IDS = ["pymodaq-4.4.11", "pymodaq-5.0.18"]


@pytest.mark.parametrize("leg,protocol", LEGACY_SERVERS, ids=LEGACY_IDS)
def test_our_client_feeds_the_tcpserver_of_older_pymodaq(leg, protocol, tmp_path):
    lines = our_client_feeds_pymodaq_tcpserver(python_or_skip(leg), protocol, tmp_path)
    # that server read our DataToExport whole: three DataRaw (the correlation, g2(0) and its interval), the delay
    # axis, the metadata
    grabs = [line for line in lines if line["event"] == "grab"]
    # (classes as the viewer shows them: what the plugin emitted is not always recorded before the grab is done)
    assert all([d["class"] for d in g["dte"]["data"]] == ["DataRaw"] * 3 for g in grabs)
    assert grabs[-1]["dte"]["data"][0]["extra_attributes"]["binwidth_ps"] == 1000


@pytest.mark.parametrize("leg,protocol", LEGACY_SERVERS, ids=LEGACY_IDS)
def test_remote_viewer_of_older_pymodaq_is_served_by_our_tcpserver(leg, protocol):
    (info,) = pymodaq_remote_viewer_is_served(python_or_skip(leg))
    # 4.4 identifies itself as a classic client does: its first 'Done' tells the dialect
    assert info.dialect == protocol


def test_client_cli_takes_pymodaq4():
    res = subprocess.run([sys.executable, "-m", "pymodaq_plugins_timetagger.bridge", "--protocol", "pymodaq9"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "pymodaq4" in res.stderr
