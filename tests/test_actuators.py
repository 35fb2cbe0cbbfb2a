"""The input-delay actuator and the simulated HOM delay stage, on the tagger a viewer opened (same controller)."""
import pytest
from pymodaq.utils.plugin_testing import make_actuator, make_detector, move_abs_and_wait, move_home_and_wait

from pymodaq_plugins_timetagger.daq_move_plugins.daq_move_TimeTaggerDelayStage import DAQ_Move_TimeTaggerDelayStage
from pymodaq_plugins_timetagger.daq_move_plugins.daq_move_TimeTaggerInputDelay import DAQ_Move_TimeTaggerInputDelay
from pymodaq_plugins_timetagger.daq_viewer_plugins.plugins_0D.daq_0Dviewer_TimeTaggerCoincidences import \
    DAQ_0DViewer_TimeTaggerCoincidences
from pymodaq_plugins_timetagger.hardware.access import open_tagger
from pymodaq_plugins_timetagger.hardware.simulator.photon_pairs import hom_source


def _statuses(plugin):
    seen = []
    plugin.emit_status = seen.append
    return seen


def test_the_delay_stage_moves_the_hom_set_up_of_the_viewers_tagger():
    det = make_detector(DAQ_0DViewer_TimeTaggerCoincidences, address="sim:hom", integration_s=0.05)
    stage = make_actuator(DAQ_Move_TimeTaggerDelayStage, controller=det.controller)
    try:
        assert det.initialized and stage.initialized, stage.init_info
        src = hom_source(det.controller.tagger)
        assert move_abs_and_wait(stage, 2.5).value() == pytest.approx(2.5)
        assert src.delay_ps == 2.5
        seen = _statuses(stage)
        assert move_abs_and_wait(stage, 5000.0).value() == pytest.approx(2.5)   # refused: beyond the travel
        assert src.delay_ps == 2.5 and any("travel" in str(c.attribute) for c in seen)
        assert move_home_and_wait(stage).value() == 0.0
    finally:
        stage.close()
        det.close()


def test_the_delay_stage_refuses_a_tagger_without_hom_set_up():
    with open_tagger("sim", sim_clock="virtual", sim_seed=1) as h:
        stage = make_actuator(DAQ_Move_TimeTaggerDelayStage, controller=h)
        assert not stage.initialized and "sim:hom" in stage.init_info


def test_the_input_delay_actuator_sets_and_reads_back_within_the_models_range():
    with open_tagger("sim:tt20", sim_clock="virtual", sim_seed=1) as h:
        act = make_actuator(DAQ_Move_TimeTaggerInputDelay, controller=h)
        assert act.initialized, act.init_info
        assert act.settings["range_ps"] == "-2000000 .. 2000000"
        assert move_abs_and_wait(act, 1234.4).value() == 1234
        assert h.tagger.getInputDelay(1) == 1234
        seen = _statuses(act)
        assert move_abs_and_wait(act, 2_500_000).value() == 1234            # refused, unchanged
        assert h.tagger.getInputDelay(1) == 1234 and any("outside" in str(c.attribute) for c in seen)
        act.settings.child("input_channel").setValue(3)
        act.commit_settings(act.settings.child("input_channel"))
        assert move_abs_and_wait(act, -500).value() == -500 and h.tagger.getInputDelay(3) == -500
        assert h.tagger.getInputDelay(1) == 1234


def test_the_input_delay_actuator_as_master_opens_its_tagger():
    act = make_actuator(DAQ_Move_TimeTaggerInputDelay, address="sim:x")
    try:
        assert act.initialized and act.settings["range_ps"] == "-2500000 .. 2500000"
        assert move_abs_and_wait(act, 2_500_000).value() == 2_500_000
    finally:
        act.close()


def test_scanning_an_input_delay_maps_the_coincidence_window():
    """The procedure docs/coincidences.rst gives for hardware, on the simulator: the test signal on 1 and 2, the
    actuator moving input 2's delay; the coincidences hold while the delay is within the window (its span)."""
    from pymodaq_plugins_timetagger.runs import make_run
    with open_tagger("sim", sim_clock="virtual", sim_seed=2, sim_sources=[]) as h:
        h.tagger.setTestSignal([1, 2], True)
        act = make_actuator(DAQ_Move_TimeTaggerInputDelay, controller=h)
        act.settings.child("input_channel").setValue(2)
        act.commit_settings(act.settings.child("input_channel"))
        run = make_run(h, "coincidences", groups="1,2", window_ps=1000, integration_s=0.01)
        rates = {}
        for delay in (-1500, -900, 0, 900, 1500):
            move_abs_and_wait(act, delay)
            rates[delay] = run.acquire().data[0][0]
        run.close()
    for d in (-900, 0, 900):
        assert rates[d] == pytest.approx(8e5, abs=100), rates      # one edge may straddle the window's end
    # outside the window: nothing but, at most, the first edge after the move (its tag was generated, within the
    # simulator's guard interval, before the delay changed)
    assert rates[1500] <= 100 and rates[-1500] <= 100, rates
