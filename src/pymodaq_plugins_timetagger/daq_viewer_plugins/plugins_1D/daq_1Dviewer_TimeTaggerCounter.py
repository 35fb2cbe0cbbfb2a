"""Count-rate trace (Hz per time bin) of the selected inputs of a Swabian Time Tagger."""
from pymodaq.control_modules.viewer_utility_classes import main

from pymodaq_plugins_timetagger.daq_viewer_plugins.common import TimeTaggerViewerBase, kind_params


class DAQ_1DViewer_TimeTaggerCounter(TimeTaggerViewerBase):
    """Swabian Time Tagger counter trace: the rate in each bin of ``binwidth_ms``, newest bin last.

    One trace per selected input, in Hz, over the latest ``n_values`` bins (x axis ``time``, s). Bins not
    integrated yet are NaN. For a full trace per grab, set integration_s = binwidth × n_values; in
    accumulate mode the trace scrolls like a strip chart.
    """

    kind = "counter"
    params = kind_params("counter")

    def on_device_opened(self):
        self.extend_channel_selector()


if __name__ == "__main__":
    main(__file__)
