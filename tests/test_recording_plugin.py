"""Recording from a viewer plugin (PyMoDAQ's harness, wall clock) and replaying the file through another plugin."""
import numpy as np
from pymodaq.utils.plugin_testing import make_detector

from tests.support.viewers import grab

from pymodaq_plugins_timetagger.daq_viewer_plugins.plugins_1D.daq_1Dviewer_TimeTaggerCorrelation import \
    DAQ_1DViewer_TimeTaggerCorrelation
from pymodaq_plugins_timetagger.recording.photon_hdf5 import read_recording


def _set(det, *path_and_value):
    *path, value = path_and_value
    p = det.settings.child(*path)
    p.setValue(value)
    det.commit_settings(p)


def test_a_plugin_records_each_grab_and_a_replay_plugin_measures_it_again(tmp_path):
    det = make_detector(DAQ_1DViewer_TimeTaggerCorrelation, address="sim", integration_s=0.05)
    try:
        assert det.initialized, det.init_info
        _set(det, "recording", "directory", str(tmp_path))
        _set(det, "recording", "record", True)
        dte = grab(det)
        rec = dte.get_data_from_name("recording")
        index, tags, lost = (float(d[0]) for d in rec.data)
        assert rec.labels == ["window index", "tags", "tags lost"] and index == 0 and tags > 0 and lost == 0
        path = det.settings["recording", "last_file"]
        assert det.settings["recording", "tags"] == tags and path.endswith(".h5")
        corr = dte.get_data_from_name("Correlation")
        assert corr.recording_file == path and corr.recording_tags == tags   # the dataset's metadata too
        live = corr.data[0]
    finally:
        det.close()
    assert read_recording(path).n_tags == tags
    replay = make_detector(DAQ_1DViewer_TimeTaggerCorrelation, address=f"file:{path}", integration_s=0.05)
    try:
        assert replay.initialized, replay.init_info
        assert replay.settings["device"].startswith("REPLAY of Time Tagger Ultra serial SIM-ULTRA-0001 recorded ")
        again = grab(replay).get_data_from_name("Correlation")
        # the wall-clock live plugin started its stream and its Correlation one after the other (not the same
        # instant): the replay measures the recorded window, the same tags give nearly the same curve
        assert np.isfinite(again.data[0]).all() and abs(np.nansum(again.data[0]) - np.nansum(live)) / np.nansum(live) < 0.05
    finally:
        replay.close()
