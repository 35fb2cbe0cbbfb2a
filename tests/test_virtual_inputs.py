"""The viewers' "Virtual channels" group: built on the shared tagger, offered as channels, shared by the Slaves."""
import pytest
from pymodaq.utils.plugin_testing import grab_and_wait, make_detector

from pymodaq_plugins_timetagger.daq_viewer_plugins.plugins_0D.daq_0Dviewer_TimeTaggerCountrate import \
    DAQ_0DViewer_TimeTaggerCountrate
from pymodaq_plugins_timetagger.daq_viewer_plugins.plugins_0D.daq_0Dviewer_TimeTaggerCoincidences import \
    DAQ_0DViewer_TimeTaggerCoincidences
from pymodaq_plugins_timetagger.hardware.access import open_tagger
from pymodaq_plugins_timetagger.hardware.errors import SettingsError
from pymodaq_plugins_timetagger.runs import make_run
from pymodaq_plugins_timetagger.virtual_inputs import VirtualDefinition, of


def _set(det, value, *path):
    p = det.settings.child(*path)
    p.setValue(value)
    det.commit_settings(p)


def test_virtual_channels_are_built_offered_and_shared_by_the_slaves():
    master = make_detector(DAQ_0DViewer_TimeTaggerCountrate, address="sim", integration_s=0.05)
    slave = None
    try:
        _set(master, True, "inputs", "ch6", "test_signal")
        _set(master, True, "inputs", "ch7", "test_signal")
        _set(master, "6,7", "virtual", "combine_channels")
        defined = master.settings["virtual", "virtual_defined"]
        assert defined == "combined 6,7 = 33"
        _set(master, True, "measurement", "channels", "ch33")   # first: the last channel cannot be unticked
        for c in ("ch1", "ch2"):
            _set(master, False, "measurement", "channels", c)
        rate = grab_and_wait(master, 1, timeout_ms=20_000).data[0]
        assert rate.labels == ["ch33"] and rate.data[0][0] == pytest.approx(1.6e6, abs=40)   # 2 x 800 kHz
        # a Slave on the same tagger shows the Master's virtual channels and measures on them
        slave = make_detector(DAQ_0DViewer_TimeTaggerCoincidences, controller=master.controller, integration_s=0.05)
        assert slave.initialized
        assert slave.settings["virtual", "combine_channels"] == "6,7"
        assert slave.settings["virtual", "virtual_defined"] == defined
        _set(slave, "33,6", "measurement", "groups")
        dte = grab_and_wait(slave, 1, timeout_ms=20_000)
        singles = dte.get_data_from_name("Singles")
        assert singles.data[singles.labels.index("ch33")][0] == pytest.approx(1.6e6, abs=40)
        coinc = dte.get_data_from_name("Coincidences")       # every edge of 6 meets its own copy in 33
        assert coinc.data[coinc.labels.index("33+6 rate")][0] >= 8e5 - 40
    finally:
        if slave is not None:
            slave.close()
        master.close()


def test_a_virtual_definition_is_checked_and_refusals_name_the_setting():
    with open_tagger("sim", sim_clock="virtual", sim_seed=1, sim_sources=[]) as h:
        v = of(h)
        with pytest.raises(SettingsError, match="filter_filtered"):
            v.apply(h, VirtualDefinition(filter_trigger=(1,)))
        with pytest.raises(SettingsError, match="gate_stop"):
            v.apply(h, VirtualDefinition(gate_input=1, gate_start=2, gate_stop=2))
        with pytest.raises(SettingsError, match="combine at least two"):
            v.apply(h, VirtualDefinition(combine_channels=(1,)))
        with pytest.raises(SettingsError, match="delay_input"):
            VirtualDefinition.from_values(lambda n: {"delay_input": -1}.get(n, 0 if "chan" not in n else ""))
        out = v.apply(h, VirtualDefinition(delay_input=1, delay_ps=100, filter_trigger=(2,), filter_filtered=(3,)))
        assert list(out.values()) == [33]
        assert h.tagger.getConditionalFilterTrigger() == [2]
        # a new definition builds a new channel; the old one stays valid for whoever measures on it
        out2 = v.apply(h, VirtualDefinition(delay_input=1, delay_ps=200))
        assert list(out2.values()) == [34] and v.numbers() == {33, 34}
        assert h.tagger.getConditionalFilterTrigger() == []
        run = make_run(h, "countrate", channels=(33, 34))     # virtual numbers are channels
        assert run.settings.channels == (33, 34)
        with pytest.raises(SettingsError, match="35"):
            make_run(h, "countrate", channels=(35,))
