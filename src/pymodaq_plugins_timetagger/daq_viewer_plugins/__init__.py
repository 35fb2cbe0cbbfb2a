"""Viewer plugins of the Time Tagger package."""
# PyMoDAQ lists the installed plugins once, while its package is first imported, by importing each plugin
# module; a plugin module it cannot import is left out of every list for the rest of the process. Were
# PyMoDAQ first imported from inside common.py (a script or a test importing it before anything of PyMoDAQ),
# our plugin modules would meet a half-initialised common.py and be left out. Importing PyMoDAQ here, before
# any module of this package that needs it, lets its listing import them whole.
import pymodaq  # noqa: F401
