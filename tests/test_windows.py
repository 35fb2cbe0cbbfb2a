"""One window for all: runs of one tagger grabbed together are captured on the same window (SynchronizedMeasurements),
so the singles that Coincidences uses are those Countrate reports for the same grab."""
import threading
import time

import pytest

from pymodaq_plugins_timetagger.hardware.access import open_tagger
from pymodaq_plugins_timetagger.runs import make_run
from pymodaq_plugins_timetagger import windows


def _grab_together(runs):
    results, errors = {}, []

    def grab(run):
        try:
            results[run.kind] = run.acquire()
        except Exception as e:  # reported below
            errors.append(e)
    threads = [threading.Thread(target=grab, args=(r,)) for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


@pytest.fixture
def generous_join(monkeypatch):
    # the two threads of a test always both ask; on a loaded machine the second may come late: wait for it
    monkeypatch.setattr(windows, "JOIN_S", 10.0)


def test_coincidences_and_countrate_grabbed_together_share_one_window(generous_join):
    with open_tagger("sim:pairs", sim_seed=3) as h:      # the wall clock, as in the lab
        rates = make_run(h, "countrate", channels=(1, 2), integration_s=0.05)
        coinc = make_run(h, "coincidences", groups="1,2", window_ps=1000, integration_s=0.05)
        rates.shares_window = coinc.shares_window = True
        for _ in range(3):
            res = _grab_together([rates, coinc])
            r, c = res["countrate"], res["coincidences"]
            assert r.metadata["window_id"] == c.metadata["window_id"]
            assert r.metadata["window_shared_with"] == ["coincidences"]
            assert c.metadata["window_shared_with"] == ["countrate"]
            assert r.metadata["counts"] == [c.metadata["singles_counts"]["ch1"], c.metadata["singles_counts"]["ch2"]]
            assert r.metadata["capture_duration_s"] == c.metadata["capture_duration_s"] == 0.05
        rates.close()
        coinc.close()


def test_without_sharing_the_windows_differ():
    """What the sharing prevents: two runs started one after the other count different singles."""
    with open_tagger("sim:pairs", sim_seed=3) as h:
        rates = make_run(h, "countrate", channels=(1, 2), integration_s=0.05)
        coinc = make_run(h, "coincidences", groups="1,2", window_ps=1000, integration_s=0.05)
        res = _grab_together([rates, coinc])
        assert "window_id" not in res["countrate"].metadata
        assert res["countrate"].metadata["counts"] != [res["coincidences"].metadata["singles_counts"][k]
                                                       for k in ("ch1", "ch2")]


def test_a_run_grabbed_alone_does_not_wait_for_an_accumulating_one():
    with open_tagger("sim:pairs", sim_seed=3) as h:
        live = make_run(h, "countrate", channels=(1,), integration_s=0.05)
        coinc = make_run(h, "coincidences", groups="1,2", integration_s=0.05)
        live.shares_window = coinc.shares_window = True
        live.start_accumulating()
        res = coinc.acquire()           # nobody else asks: it starts alone
        assert res.metadata["window_shared_with"] == []
        live.close()
        coinc.close()


def test_master_and_slave_viewers_grabbed_together_report_the_same_singles(generous_join):
    """The viewer plugins (what DAQ_Scan grabs at each step): a Countrate Master and a Coincidences Slave."""
    from pymodaq.utils.plugin_testing import make_detector, wait_for_signal
    from qtpy import QtWidgets
    from pymodaq_plugins_timetagger.daq_viewer_plugins.plugins_0D.daq_0Dviewer_TimeTaggerCountrate import \
        DAQ_0DViewer_TimeTaggerCountrate
    from pymodaq_plugins_timetagger.daq_viewer_plugins.plugins_0D.daq_0Dviewer_TimeTaggerCoincidences import \
        DAQ_0DViewer_TimeTaggerCoincidences
    master = make_detector(DAQ_0DViewer_TimeTaggerCountrate, address="sim:pairs", integration_s=0.05)
    slave = make_detector(DAQ_0DViewer_TimeTaggerCoincidences, controller=master.controller, integration_s=0.05)
    try:
        got = {}
        master.dte_signal.connect(lambda dte: got.setdefault("rates", dte))
        slave.dte_signal.connect(lambda dte: got.setdefault("coinc", dte))

        def both():
            master.grab_data(1)
            slave.grab_data(1)
        wait_for_signal(slave.dte_signal, both, timeout_ms=30_000)
        deadline = time.monotonic() + 30
        while "rates" not in got and time.monotonic() < deadline:
            QtWidgets.QApplication.processEvents()
            time.sleep(0.01)
        rates = got["rates"].get_data_from_name("Countrate")
        singles = got["coinc"].get_data_from_name("Singles")
        assert rates.window_id == singles.window_id
        assert [d[0] for d in rates.data] == [singles.data[singles.labels.index(f"ch{c}")][0] for c in (1, 2)]
    finally:
        slave.close()
        master.close()
