"""Count rate of each selected input of a Swabian Time Tagger (one 0D channel per input, Hz)."""
from pymodaq.control_modules.viewer_utility_classes import main

from pymodaq_plugins_timetagger.daq_viewer_plugins.common import TimeTaggerViewerBase, kind_params


class DAQ_0DViewer_TimeTaggerCountrate(TimeTaggerViewerBase):
    """Swabian Time Tagger count rates (Time Tagger 20, Ultra, X, Network Time Tagger, simulator).

    One 0D value per selected input: the number of tags in the capture window divided by its exact
    duration, in Hz. Per grab (DAQ_Scan) each value covers exactly ``integration_s``; in accumulate
    mode it is the mean rate since the last clear.
    """

    kind = "countrate"
    params = kind_params("countrate")

    def on_device_opened(self):
        self.extend_channel_selector()


if __name__ == "__main__":
    main(__file__)
