"""Start-stop (lifetime, TCSPC) histogram of a Swabian Time Tagger: clicks after each sync."""
from pymodaq.control_modules.viewer_utility_classes import main

from pymodaq_plugins_timetagger.daq_viewer_plugins.common import TimeTaggerViewerBase, kind_params


class DAQ_1DViewer_TimeTaggerHistogram(TimeTaggerViewerBase):
    """Swabian Time Tagger lifetime histogram (multiple start, multiple stop).

    Counts of clicks on ``click_channel`` at each delay after a tag on ``start_channel`` (the laser
    sync), in n_bins bins of binwidth_ps; x axis ``time`` (bin left edges, s). Delay the click input
    (Inputs > Input delay) so that the instrument response starts after the sync.
    """

    kind = "histogram"
    params = kind_params("histogram")


if __name__ == "__main__":
    main(__file__)
