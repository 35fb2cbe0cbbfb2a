"""The TCP bridge: PyMoDAQ's TCP/IP command protocol, Qt-free.

* :mod:`.codec` - both wire dialects (PyMoDAQ 5 typed frames, classic untyped messages);
* :mod:`.paramxml` - PyMoDAQ parameter XML (the client's ``Infos``), written and read without Qt;
* :mod:`.server` - the server core (listening socket, client connections, requests);
* :mod:`.service` - the measurement service of the remote PC (tagger, measurements, settings, status);
* :mod:`.client` - the TCP link that serves a Responder (the service) to a TCPServer: connect, backoff,
  shared secret, dialect, serve loop;
* :mod:`.leco_actor` - the LECO transport of the same service;
* :mod:`.__main__` - the command line (``pymodaq-timetagger-client`` or
  ``python -m pymodaq_plugins_timetagger.bridge``).
"""
