"""Count-rate trace (Hz per time bin) of the selected inputs of a Swabian Time Tagger."""
from pymodaq.control_modules.viewer_utility_classes import main

from pymodaq_plugins_timetagger.daq_viewer_plugins.common import (TimeTaggerViewerBase, channel_selector,
                                                                  common_params)
from pymodaq_plugins_timetagger.runs import CounterSettings


class DAQ_1DViewer_TimeTaggerCounter(TimeTaggerViewerBase):
    """Swabian Time Tagger counter trace: the rate in each bin of ``binwidth_ms``, newest bin last.

    One trace per selected input, in Hz, over the latest ``n_values`` bins (x axis ``time``, s). Bins not
    integrated yet are NaN. For a full trace per grab, set integration_s = binwidth × n_values; in
    accumulate mode the trace scrolls like a strip chart.
    """

    kind = "counter"
    params = common_params([
        channel_selector(8, selected=(1, 2)),
        {"title": "Bin width (ms):", "name": "binwidth_ms", "type": "float", "value": 10.0, "min": 1e-6},
        {"title": "Number of bins:", "name": "n_values", "type": "int", "value": 100, "min": 1},
    ], integration_s=1.0)

    def on_device_opened(self):
        self.extend_channel_selector()

    def measurement_settings(self):
        m = self.settings.child("measurement")
        return CounterSettings(channels=self.selected_channels(),
                               binwidth_ps=int(round(m["binwidth_ms"] * 1e9)), n_values=m["n_values"],
                               integration_s=float(self.settings["integration_s"]))


if __name__ == "__main__":
    main(__file__)
