"""The Time Tagger's remote side of the bridge: serve the Time Tagger to PyMoDAQ from the PC it is plugged into.

The generic protocol it speaks (data model, dialects, framing, the server, parameter XML) is the package
:mod:`..protocol`; this package is what knows the Time Tagger:

* :mod:`.service` - the measurement service of the remote PC (tagger, measurements, settings, status);
* :mod:`.link` - the TCP link that serves a Responder (the service) to a TCPServer: connect, backoff,
  shared secret, dialect, serve loop;
* :mod:`.leco_actor` - the LECO transport of the same service;
* :mod:`.__main__` - the command line (``pymodaq-timetagger-client`` or
  ``python -m pymodaq_plugins_timetagger.bridge``).
"""

#: the LECO Coordinator's default port (pyleco: ``pyleco.core.COORDINATOR_PORT``)
COORDINATOR_PORT = 12300
