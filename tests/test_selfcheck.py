"""The hardware self-check: all pass on every simulated model (the simulator is held to the same
expectations as a real device), each check can fail, and the command line keeps its exit codes."""
import configparser
import json
import pathlib
import subprocess
import sys

import pytest

from pymodaq_plugins_timetagger import selfcheck
from pymodaq_plugins_timetagger.hardware import simulator as TT
from pymodaq_plugins_timetagger.hardware.simulator import measurements as sim_meas

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHECKS = ["model and channel list", "test-signal rate per input", "correlation sign",
          "bin labelling (our axis)", "Correlation.getIndex convention", "auto-correlation self-pairs",
          "dead-time read-back", "trigger-level clamp", "startFor capture duration",
          "waitUntilFinished semantics", "overflow counters"]


def _failed(report):
    return {c["check"]: c for c in report["checks"] if not c["passed"]}


@pytest.mark.parametrize("address", ["sim", "sim:tt20", "sim:x"])
def test_every_check_passes_on_every_simulated_model(address):
    report = selfcheck.run_selfcheck(address)
    assert [c["check"] for c in report["checks"]] == CHECKS
    assert report["passed"], _failed(report)
    assert report["simulated"] is True and report["vendor_version"] == "simulator"
    table = selfcheck.format_table(report)
    assert "11 passed, 0 failed" in table and "FAIL" not in table


def _centres(self):
    return sim_meas.correlation_vendor_index(self._binwidth, self._n_bins) + self._binwidth // 2


@pytest.mark.parametrize("patch,failing", [
    # a backend whose getIndex gives centres: only the convention check notices (the plugins do not care)
    (lambda mp: mp.setattr(sim_meas.Correlation, "getIndex", _centres), {"Correlation.getIndex convention"}),
    # a backend without auto-correlation self-pairs
    (lambda mp: mp.setattr(sim_meas, "AUTOCORRELATION_SELF_PAIRS", False), {"auto-correlation self-pairs"}),
    # the old simulator's waitUntilFinished on an indefinite run
    (lambda mp: mp.setattr(sim_meas, "WAIT_ON_INDEFINITE_RETURNS", False), {"waitUntilFinished semantics"}),
    # a trigger level refused instead of clamped
    (lambda mp: mp.setattr(TT.TimeTagger, "setTriggerLevel",
                           lambda self, c, v: (_ for _ in ()).throw(ValueError("outside"))),
     {"trigger-level clamp"}),
    # dead times rounded to 2 ns on an Ultra (what the simulator did before issue 10)
    (lambda mp: mp.setattr(TT.TimeTagger, "setDeadtime", _rounding_setdeadtime), {"dead-time read-back"}),
    # a sign error: the pairs histogrammed as t(channel_2) - t(channel_1)
    (lambda mp: mp.setattr(sim_meas.Correlation, "_process", _swapped_process),
     {"correlation sign", "bin labelling (our axis)"}),
])
def test_each_check_catches_the_behaviour_it_is_for(monkeypatch, patch, failing):
    patch(monkeypatch)
    report = selfcheck.run_selfcheck("sim")
    assert set(_failed(report)) == failing


_real_setdeadtime = TT.TimeTagger.setDeadtime


def _rounding_setdeadtime(self, channel, deadtime):
    return _real_setdeadtime(self, channel, max(2000, round(deadtime / 2000) * 2000))


_real_process = sim_meas.Correlation._process


def _swapped_process(self, tags, a, b):
    if self._ch1 == self._ch2:
        return _real_process(self, tags, a, b)
    swapped = dict(tags)
    swapped[self._ch1], swapped[self._ch2] = tags[self._ch2], tags[self._ch1]
    return _real_process(self, swapped, a, b)


def _cli(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "pymodaq_plugins_timetagger.selfcheck", *args],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def test_command_line_table_json_and_exit_codes(tmp_path):
    out = tmp_path / "report.json"
    r = _cli("--address", "sim", "--json", str(out))
    assert r.returncode == 0, r.stderr
    assert "check" in r.stdout and "expected" in r.stdout and "measured" in r.stdout and "pass" in r.stdout
    report = json.loads(out.read_text())
    assert report["passed"] is True and len(report["checks"]) == len(CHECKS)
    assert set(report["checks"][0]) == {"check", "expected", "measured", "passed", "detail"}
    for bad in (["--address", "no such!"], ["--window-s", "0"], ["--frobnicate"]):
        r = _cli(*bad)
        assert r.returncode == 2, (bad, r.stderr)
        assert "usage" in r.stderr


def test_a_tagger_that_cannot_be_opened_exits_1(tmp_path):
    out = tmp_path / "r.json"
    r = _cli("--address", "1740000ABC", "--json", str(out))   # no such device (or no vendor library)
    assert r.returncode == 1 and "1740000ABC" in r.stderr
    assert json.loads(out.read_text())["passed"] is False


def test_console_script_is_declared():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    scripts = cfg["options.entry_points"]["console_scripts"]
    assert "pymodaq-timetagger-selfcheck = pymodaq_plugins_timetagger.selfcheck:main" in scripts
