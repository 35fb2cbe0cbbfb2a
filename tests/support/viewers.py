"""Driving our DAQ_Viewer plugins headless with PyMoDAQ's own plugin-testing harness."""
from pymodaq.utils.plugin_testing import grab_and_wait


def grab(det, timeout_ms=15_000):
    """One single (not live) grab of ``det``; its DataToExport."""
    return grab_and_wait(det, 1, timeout_ms=timeout_ms, live=False)


def server_of(viewer):
    """The BridgeServer behind a DAQ_Viewer running one of our TCPServer plugins."""
    return viewer.controller_and_thread.controller


def link_to_server(plugin, port, **values):
    """Tick *Connect* in a Time Tagger plugin's "Remote server" group, towards 127.0.0.1:``port`` (``values``: other
    settings of the group, e.g. ``dialect``), as a user does; the group."""
    group = plugin.settings.child("remote")
    for name, value in (("host", "127.0.0.1"), ("port", port), *values.items(), ("connect", True)):
        group.child(name).setValue(value)
    plugin.commit_settings(group.child("connect"))
    return group
