"""Actuator plugins of the Time Tagger package (modules ``daq_move_<Name>.py``)."""
from pathlib import Path

# PyMoDAQ's plugin discovery lists this folder through a module attribute named ``path`` (as for the viewers)
path = Path(__file__)
