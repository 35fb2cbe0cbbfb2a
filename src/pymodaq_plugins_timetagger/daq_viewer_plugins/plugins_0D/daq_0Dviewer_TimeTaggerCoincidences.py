"""n-fold coincidences of channel groups on a Swabian Time Tagger, with accidentals, CAR and singles (0D, Hz)."""
from pymodaq.control_modules.viewer_utility_classes import main

from pymodaq_plugins_timetagger.daq_viewer_plugins.common import TimeTaggerViewerBase, kind_params


class DAQ_0DViewer_TimeTaggerCoincidences(TimeTaggerViewerBase):
    """Swabian Time Tagger coincidences (the vendor's ``Coincidences`` virtual channels) of 2- to 8-fold groups.

    Channel groups are typed as ``1,2; 1,2,3,4``; the window in ps. Per group and grab: the coincidence rate,
    the accidentals expected from the singles of the same capture window (n·W^(n−1)·ΠS), the
    accidental-subtracted rate, each with its one-sigma uncertainty; datasets ``CAR``, ``Singles`` and, for
    2-fold groups, ``Heralding efficiency``. The counts and their exact (Garwood) 68 % intervals are in the
    metadata. Coincidences and singles come from one Countrate over one window.
    """

    kind = "coincidences"
    params = kind_params("coincidences")


if __name__ == "__main__":
    main(__file__)
