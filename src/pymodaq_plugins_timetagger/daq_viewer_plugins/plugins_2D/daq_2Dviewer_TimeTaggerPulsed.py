"""Pulsed sequences: a start-stop histogram per sequence step and the readout signal per step (Swabian Time Tagger)."""
from pymodaq.control_modules.viewer_utility_classes import main

from pymodaq_plugins_timetagger import imaging
from pymodaq_plugins_timetagger.daq_viewer_plugins.marker_viewer import MarkerViewerBase, marker_params


class DAQ_2DViewer_TimeTaggerPulsed(MarkerViewerBase):
    """Histograms stepped by a pulse sequencer's markers (vendor ``TimeDifferences``): step × time.

    Clicks on the photon channel are histogrammed after each laser start marker, into the histogram of the current
    step (a next marker per step, a sync marker per sequence; the sequence's last next marker is the rollover that
    counts a sweep). Each grab integrates exactly ``sweeps`` whole sequences, so every step has the same number of
    readouts, and gives the 2D histograms, the readout (counts per sweep in the readout window of each step, with
    its Poisson sigma: the Rabi curve for DAQ_Scan) and the sweeps and elapsed time as 0D data. The address
    ``sim:pulsed`` simulates a sequencer reading out a spin driven through a Rabi oscillation.
    """

    kind = "pulsed"
    run_class = imaging.PulsedRun
    channel_groups = ()
    params = marker_params("pulsed", "sim:pulsed", [
        {"title": "Sweeps:", "name": "sweeps_done", "type": "int", "value": 0},
        {"title": "Elapsed (s):", "name": "capture_s", "type": "float", "value": 0.0},
    ])

    def read_backs(self, p):
        return {"sweeps_done": p.sweeps, "capture_s": p.capture_s}


if __name__ == "__main__":
    main(__file__)
