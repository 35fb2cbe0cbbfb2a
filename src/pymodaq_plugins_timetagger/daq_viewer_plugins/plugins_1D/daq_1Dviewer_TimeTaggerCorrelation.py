"""g2(τ) / coincidence histogram between two inputs of a Swabian Time Tagger, with g2(0) as 0D."""
from pymodaq.control_modules.viewer_utility_classes import main

from pymodaq_plugins_timetagger.daq_viewer_plugins.common import TimeTaggerViewerBase, common_params
from pymodaq_plugins_timetagger.runs import CorrelationSettings

OUTPUT_G2 = "g2 (normalized)"
OUTPUT_COUNTS = "coincidences (counts)"


class DAQ_1DViewer_TimeTaggerCorrelation(TimeTaggerViewerBase):
    """Swabian Time Tagger correlation (Hanbury Brown-Twiss, antibunching, g2).

    Histogram of τ = t(channel_1) − t(channel_2) over n_bins bins of binwidth_ps centred on zero
    (odd n_bins: one bin centred on τ = 0), as normalized g2 (Δt / (binwidth·N1·N2) · counts) or raw
    coincidence counts; x axis ``delay`` in s: the bin CENTRES computed from binwidth and n_bins (the
    vendor's ``getIndex`` gives left edges; see ``hardware.conventions``). A 0D companion ``g2(0)``
    (mean g2 of the bins whose centre lies within ±zero_window_ps/2) lets DAQ_Scan map g2(0) against a
    stage position. Same channel twice: the auto-correlation, with each click's pair with itself
    removed from the zero bin (metadata ``self_pairs_removed``).
    """

    kind = "correlation"
    params = common_params([
        {"title": "Channel 1 (stop):", "name": "channel_1", "type": "int", "value": 1},
        {"title": "Channel 2 (start):", "name": "channel_2", "type": "int", "value": 2},
        {"title": "Bin width (ps):", "name": "binwidth_ps", "type": "int", "value": 500, "min": 1},
        {"title": "Number of bins:", "name": "n_bins", "type": "int", "value": 201, "min": 1},
        {"title": "Output:", "name": "output", "type": "list", "value": OUTPUT_G2,
         "limits": [OUTPUT_G2, OUTPUT_COUNTS]},
        {"title": "g2(0) window (ps):", "name": "zero_window_ps", "type": "int", "value": 500, "min": 0},
    ], integration_s=1.0)

    def measurement_settings(self):
        m = self.settings.child("measurement")
        return CorrelationSettings(channel_1=m["channel_1"], channel_2=m["channel_2"],
                                   binwidth_ps=m["binwidth_ps"], n_bins=m["n_bins"],
                                   normalize=m["output"] == OUTPUT_G2, zero_window_ps=m["zero_window_ps"],
                                   integration_s=float(self.settings["integration_s"]))


if __name__ == "__main__":
    main(__file__)
