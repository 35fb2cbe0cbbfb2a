"""0D TCP server: data from a remote client (the Time Tagger client, or any PyMoDAQ TCP/IP client)."""
from pymodaq.control_modules.viewer_utility_classes import main

from pymodaq_plugins_timetagger.daq_viewer_plugins.tcpserver import TCPServerViewerBase, tcpserver_params


class DAQ_0DViewer_TimeTaggerTCPServer(TCPServerViewerBase):
    """PyMoDAQ TCP/IP server asking its client for 0D data (``Send Data 0D``).

    Listens on socket_ip:port_id for clients of PyMoDAQ's TCP/IP protocol, PyMoDAQ 5 or classic
    dialect (detected per connection): the pymodaq_plugins_timetagger client on the Time Tagger's PC,
    PyMoDAQ 5.0/5.1's remote DAQ_Viewer, or a custom (LabVIEW...) client.
    """

    dim = "0D"
    params = tcpserver_params()


if __name__ == "__main__":
    main(__file__)
