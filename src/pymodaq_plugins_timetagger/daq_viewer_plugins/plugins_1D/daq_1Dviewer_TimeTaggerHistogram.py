"""Start-stop (lifetime, TCSPC) histogram of a Swabian Time Tagger: clicks after each sync."""
from pymodaq.control_modules.viewer_utility_classes import main

from pymodaq_plugins_timetagger.daq_viewer_plugins.common import TimeTaggerViewerBase, common_params
from pymodaq_plugins_timetagger.runs import HistogramSettings


class DAQ_1DViewer_TimeTaggerHistogram(TimeTaggerViewerBase):
    """Swabian Time Tagger lifetime histogram (multiple start, multiple stop).

    Counts of clicks on ``click_channel`` at each delay after a tag on ``start_channel`` (the laser
    sync), in n_bins bins of binwidth_ps; x axis ``time`` (bin left edges, s). Delay the click input
    (Inputs > Input delay) so that the instrument response starts after the sync.
    """

    kind = "histogram"
    params = common_params([
        {"title": "Click channel:", "name": "click_channel", "type": "int", "value": 4},
        {"title": "Start (sync) channel:", "name": "start_channel", "type": "int", "value": 3},
        {"title": "Bin width (ps):", "name": "binwidth_ps", "type": "int", "value": 50, "min": 1},
        {"title": "Number of bins:", "name": "n_bins", "type": "int", "value": 1000, "min": 1},
    ], integration_s=1.0)

    def measurement_settings(self):
        m = self.settings.child("measurement")
        return HistogramSettings(click_channel=m["click_channel"], start_channel=m["start_channel"],
                                 binwidth_ps=m["binwidth_ps"], n_bins=m["n_bins"],
                                 integration_s=float(self.settings["integration_s"]))


if __name__ == "__main__":
    main(__file__)
