"""Count rate of each selected input of a Swabian Time Tagger (one 0D channel per input, Hz)."""
from pymodaq.control_modules.viewer_utility_classes import main

from pymodaq_plugins_timetagger.daq_viewer_plugins.common import (TimeTaggerViewerBase, channel_selector,
                                                                  common_params)
from pymodaq_plugins_timetagger.runs import CountrateSettings


class DAQ_0DViewer_TimeTaggerCountrate(TimeTaggerViewerBase):
    """Swabian Time Tagger count rates (Time Tagger 20, Ultra, X, Network Time Tagger, simulator).

    One 0D value per selected input: the number of tags in the capture window divided by its exact
    duration, in Hz. Per grab (DAQ_Scan) each value covers exactly ``integration_s``; in accumulate
    mode it is the mean rate since the last clear.
    """

    kind = "countrate"
    params = common_params([channel_selector(8, selected=(1, 2))])

    def on_device_opened(self):
        self.extend_channel_selector()

    def measurement_settings(self):
        return CountrateSettings(channels=self.selected_channels(),
                                 integration_s=float(self.settings["integration_s"]))


if __name__ == "__main__":
    main(__file__)
