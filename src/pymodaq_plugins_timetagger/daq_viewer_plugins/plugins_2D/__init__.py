"""2D viewer plugins of the Time Tagger package (modules ``daq_2Dviewer_<Name>.py``)."""
from pathlib import Path

# PyMoDAQ's plugin discovery (pymodaq.utils.daq_utils.get_instrument_plugins) lists this folder through
# a module attribute named ``path``; without it the whole package is skipped without a word.
path = Path(__file__)
