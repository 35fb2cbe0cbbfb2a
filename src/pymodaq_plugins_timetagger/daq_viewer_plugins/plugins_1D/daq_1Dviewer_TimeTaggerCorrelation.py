"""g2(τ) / coincidence histogram between two inputs of a Swabian Time Tagger, with g2(0) as 0D."""
from pymodaq.control_modules.viewer_utility_classes import main

from pymodaq_plugins_timetagger.daq_viewer_plugins.common import TimeTaggerViewerBase, kind_params


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
    params = kind_params("correlation")


if __name__ == "__main__":
    main(__file__)
